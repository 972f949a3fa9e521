"""Tests of the MediaWiki XML dump parser and the multistream reader/writer, on real dump fixtures.

Fixtures live in ``../shared/fixtures`` next to the repository (read-only; every file these tests
write goes to ``tmp_path``). Each fixture folder has a SOURCE.md describing provenance and content.
"""

from __future__ import annotations

import bz2
import collections
import functools
import gzip
import io
import itertools
import json
import lzma
import pickle
import re
import time
from pathlib import Path

import pytest

from wme_assets.devtools.mirror import write_multistream
from wme_assets.ingestion.dump_xml import (
    DumpParseError,
    DumpReader,
    detect_compression,
    iter_pages,
    open_decompressed,
)
from wme_assets.ingestion.multistream import (
    _decompress_streams,
    _decompress_streams_libbz2,
    parse_multistream,
    read_index,
    stream_offsets,
)
from wme_assets_tests.paths import FIXTURES

XZ_DIR = FIXTURES / "xztextfilter-truncated-dumps"
REFINERY = FIXTURES / "refinery-mediawikidumper"
PYWIKIBOT = FIXTURES / "pywikibot-xml"
SIMPLEWIKI = REFINERY / "MediawikiDumperOutputTest.Simplewiki.Sample.xml"
COMMONSWIKI = REFINERY / "MediawikiDumperOutputTest.Commonswiki.Sample.xml"

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"fixtures not found at {FIXTURES}")


# SOURCE.md of xztextfilter-truncated-dumps: pages, redirects, per-namespace counts per file.
# What we observe: SOURCE.md counts the ``<page>`` *opening* tags, so its numbers include the last,
# cut-off page (``grep -c '<page>'`` gives the SOURCE.md number, ``grep -c '</page>'`` one less).
# The complete pages are therefore SOURCE.md minus that one page, in the namespace given in
# CUT_PAGE_NS (read from the cut page's ``<ns>``). The cut page is never a redirect, so the
# redirect counts match SOURCE.md exactly.
SOURCE_COUNTS = {
    "bnwiki": (723, 76, {0: 449, 4: 21, 8: 233, 10: 14, 12: 2, 14: 3, 100: 1}),
    "elwiki": (934, 26, {0: 546, 4: 12, 8: 375, 12: 1}),
    "hywiki": (409, 29, {0: 308, 4: 11, 6: 2, 8: 80, 10: 4, 12: 3, 14: 1}),
    "jawiki": (239, 27, {0: 204, 4: 32, 12: 2, 102: 1}),
    "mrwiki": (1821, 167, {0: 1087, 4: 48, 6: 4, 8: 146, 10: 62, 12: 3, 14: 471}),
    "ukwiki": (533, 16, {0: 526, 4: 6, 12: 1}),
    "viwiki": (971, 154, {0: 361, 4: 79, 6: 4, 8: 409, 10: 75, 12: 5, 14: 37, 100: 1}),
}
CUT_PAGE_NS = {"bnwiki": 8, "elwiki": 0, "hywiki": 0, "jawiki": 102, "mrwiki": 0, "ukwiki": 0, "viwiki": 0}
# Id of the last complete page of each file (the "last good page id" of the truncation error).
LAST_COMPLETE_ID = {
    "bnwiki": 2387,
    "elwiki": 1488,
    "hywiki": 2431,
    "jawiki": 452,
    "mrwiki": 3183,
    "ukwiki": 1218,
    "viwiki": 2092,
}


def xz_fixture(wiki: str) -> Path:
    return XZ_DIR / f"{wiki}-truncated-100k.xml.xz"


@functools.lru_cache(maxsize=4)
def raw_xml(wiki: str) -> bytes:
    return lzma.decompress(xz_fixture(wiki).read_bytes())


@functools.lru_cache(maxsize=4)
def complete_xml(wiki: str) -> bytes:
    """The fixture cut after its last complete page and closed, i.e. a well-formed export."""
    data = raw_xml(wiki)
    end = data.rindex(b"</page>") + len(b"</page>\n")
    return data[:end] + b"</mediawiki>\n"


def page_key(page):
    """Everything of a page, for comparing the results of two parsers."""
    return (
        page.id,
        page.title,
        page.ns,
        page.redirect_target,
        page.is_redirect,
        [
            (
                r.id,
                r.parent_id,
                r.timestamp,
                r.sha1,
                r.size,
                r.text,
                r.comment,
                r.contributor_name,
                r.contributor_deleted,
                r.text_deleted,
            )
            for r in page.revisions
        ],
    )


# --------------------------------------------------------------------------------------------------
# Real truncated dumps (export 0.10)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("wiki", sorted(SOURCE_COUNTS))
def test_truncated_dump_counts_with_keep_partial(wiki):
    source_pages, source_redirects, source_ns = SOURCE_COUNTS[wiki]
    raw = raw_xml(wiki)
    # How SOURCE.md counts: opening tags, including the cut page.
    assert raw.count(b"<page>") == source_pages
    assert raw.count(b"</page>") == source_pages - 1

    reader = DumpReader(xz_fixture(wiki), keep_partial=True)
    assert reader.compression == "xz"
    ns_counts = collections.Counter()
    redirects = 0
    pages = 0
    for page in reader:
        pages += 1
        ns_counts[page.ns] += 1
        redirects += page.is_redirect
        assert page.is_redirect == (page.redirect_target is not None)  # 0.10 always names the target
        assert len(page.revisions) == 1  # pages-articles: one revision per page

    expected_ns = collections.Counter(source_ns)
    expected_ns[CUT_PAGE_NS[wiki]] -= 1
    assert pages == source_pages - 1 == reader.pages_read
    assert redirects == source_redirects
    assert +ns_counts == +expected_ns
    assert reader.truncated is True
    assert isinstance(reader.error, DumpParseError)
    assert reader.error.last_page_id == LAST_COMPLETE_ID[wiki] == reader.last_page_id
    assert reader.bytes_read == len(raw)
    assert reader.siteinfo.dbname == wiki
    assert reader.siteinfo.language == wiki[:2]
    assert reader.siteinfo.base_url.startswith(f"https://{wiki[:2]}.wikipedia.org/wiki/")
    assert reader.siteinfo.schema_version == "0.10"


def test_truncated_dump_raises_by_default():
    path = xz_fixture("bnwiki")
    seen = []
    with pytest.raises(DumpParseError) as info:
        for page in iter_pages(path, name=path.name):
            seen.append(page.id)
    err = info.value
    assert isinstance(err, ValueError)
    msg = str(err)
    assert path.name in msg
    assert "last good page id: 2387" in msg
    assert "truncated XML" in msg
    assert f"decompressed byte offset {len(raw_xml('bnwiki'))}" in msg
    assert (err.offset_kind, err.offset, err.last_page_id) == ("decompressed", len(raw_xml("bnwiki")), 2387)
    # The pages before the fault were streamed out before the error surfaced.
    assert len(seen) == 722 and seen[-1] == 2387


def test_real_page_content_bnwiki():
    reader = DumpReader(xz_fixture("bnwiki"), keep_partial=True)
    first = next(reader)
    assert (first.id, first.title, first.ns) == (4, "মিডিয়াউইকি:Category", 8)
    rev = first.revisions[0]
    assert (rev.id, rev.parent_id, rev.timestamp) == (4851, 3597, "2005-03-19T21:01:11Z")
    assert (rev.contributor_name, rev.contributor_id, rev.contributor_ip) == ("Zaheen", 40, None)
    assert (rev.model, rev.format, rev.size) == ("wikitext", "text/x-wiki", 33)
    assert rev.text == "বিষয়শ্রেণী" and len(rev.text.encode()) == rev.size
    assert rev.sha1 == "qhuxta0e9dxpyoj9hu8dibo3jct5a0c"
    second = next(reader)
    assert second.revisions[0].minor is True
    assert second.revisions[0].text.startswith('"$1"')  # &quot; decoded
    redirect = next(p for p in reader if p.is_redirect)
    assert redirect.redirect_target and redirect.revisions[0].text.lower().lstrip().startswith(
        ("#redirect", "#পুনর্নির্দেশ")
    )


# --------------------------------------------------------------------------------------------------
# Siteinfo
# --------------------------------------------------------------------------------------------------


def test_siteinfo_bnwiki():
    reader = DumpReader(xz_fixture("bnwiki"), keep_partial=True)
    si = reader.siteinfo
    assert reader.pages_read == 0  # reading the header parses no page
    assert si.dbname == "bnwiki"
    assert si.sitename == "উইকিপিডিয়া"
    assert si.generator == "MediaWiki 1.41.0-wmf.6"
    assert si.case == "first-letter"
    assert si.language == "bn"
    assert si.xml_namespace == "http://www.mediawiki.org/xml/export-0.10/"
    assert len(si.namespaces) == 28
    assert si.namespaces[0].name == ""
    assert si.namespaces[14].name == "বিষয়শ্রেণী"
    assert si.namespaces[-1].name == "বিশেষ"
    assert si.namespaces[2300].case == "case-sensitive"
    assert si.namespace_name(828) == "মডিউল"
    reader.close()


def test_siteinfo_export_011_and_03():
    simple = DumpReader(SIMPLEWIKI)
    si = simple.siteinfo
    assert (si.dbname, si.sitename, si.language, si.schema_version) == (
        "simplewiki",
        "Wikipedia",
        "en",
        "0.11",
    )
    assert si.base_url == "https://simple.wikipedia.org/wiki/Main_Page"
    assert si.namespaces[1].name == "Talk" and si.namespaces[1].case == "first-letter"

    old = DumpReader(PYWIKIBOT / "article-pear.xml")  # export 0.3: no <dbname>, no case attributes
    si = old.siteinfo
    assert si.schema_version == "0.3"
    assert si.dbname is None
    assert si.language == "en"
    assert si.namespaces[100].name == "Portal" and si.namespaces[100].case is None


def test_language_derived_without_xml_lang(tmp_path):
    data = (PYWIKIBOT / "pair-0.10.xml").read_bytes().replace(b' xml:lang="en"', b"", 1)
    data = data.replace(b"<base>http://en.wikipedia.org/", b"<base>https://bn.wikipedia.org/")
    assert DumpReader(io.BytesIO(data)).siteinfo.language == "bn"  # from the <base> host
    data = data.replace(b"<base>https://bn.wikipedia.org/wiki/Main_Page</base>", b"")
    assert DumpReader(io.BytesIO(data)).siteinfo.language == "en"  # from dbname "enwiki"


# --------------------------------------------------------------------------------------------------
# Export 0.11 with deleted/suppressed fields, histories
# --------------------------------------------------------------------------------------------------


def test_suppressed_revision_fields():
    pages = {p.id: p for p in DumpReader(SIMPLEWIKI, latest_only=False)}
    revs = {r.id: r for r in pages[45046].revisions}
    rev = revs[1714215]  # contributor, comment and text all suppressed
    assert rev.contributor_deleted and rev.comment_deleted and rev.text_deleted
    assert (rev.contributor_name, rev.contributor_id, rev.contributor_ip) == (None, None, None)
    assert rev.comment is None and rev.text is None
    assert rev.size is None  # <text bytes="-1" deleted="deleted" />
    assert rev.sha1 is None  # <sha1 />
    assert rev.format == "error-no-format"
    assert (rev.parent_id, rev.timestamp, rev.origin) == (1643771, "2009-08-31T10:30:39Z", 1714215)

    ip_rev = revs[4997170]  # IP editor whose text (only) was deleted
    assert ip_rev.contributor_ip == "72.160.28.62" and ip_rev.contributor_name is None
    assert not ip_rev.contributor_deleted
    assert ip_rev.comment == "way to let us down asshole" and not ip_rev.comment_deleted
    assert ip_rev.text_deleted and ip_rev.text is None

    normal = revs[266092]
    assert not (normal.contributor_deleted or normal.comment_deleted or normal.text_deleted)
    assert normal.text == "{{babel|en}}" and normal.size == 12
    assert normal.text_sha1 == normal.sha1 == "61o9wqbehiqpmke7163b1675fic2cri"  # 0.11 <text sha1=…>
    assert normal.parent_id is None
    assert revs[1714216].minor and not normal.minor

    all_revs = [r for p in pages.values() for r in p.revisions]
    # Matches the deleted="deleted" attributes in the file (grep): 4 users, 3 comments, 4 texts.
    assert sum(r.contributor_deleted for r in all_revs) == 4
    assert sum(r.comment_deleted for r in all_revs) == 3
    assert sum(r.text_deleted for r in all_revs) == 4


def test_histories_latest_only():
    full = list(DumpReader(SIMPLEWIKI, latest_only=False))
    latest = list(DumpReader(SIMPLEWIKI))  # latest_only=True is the default
    assert [(p.id, p.title, p.ns) for p in full] == [
        (45046, "User:Ryulong", 2),
        (279900, "Talk:Cristiano Ronaldo", 1),
    ]
    assert [len(p.revisions) for p in full] == [18, 15]
    assert sum(len(p.revisions) for p in full) == 33
    for page_full, page_latest in zip(full, latest, strict=True):
        stamps = [r.timestamp for r in page_full.revisions]
        assert stamps == sorted(stamps)  # oldest → newest
        for older, newer in zip(page_full.revisions, page_full.revisions[1:], strict=False):
            assert newer.parent_id == older.id
        assert len(page_latest.revisions) == 1
        assert page_latest.revisions[0] == page_full.revisions[-1] == page_full.latest


def test_commons_history_matches_content_history_json():
    """The Commons XML was generated from the JSON rows next to it: compare revision by revision."""
    (page,) = list(DumpReader(COMMONSWIKI, latest_only=False))
    assert (page.id, page.ns) == (13327093, 6)
    assert len(page.revisions) == 59
    with gzip.open(REFINERY / "wmf_content_mediawiki_content_history_v1.json.gz", "rt") as f:
        rows = {r["revision_id"]: r for r in map(json.loads, f) if r["page_id"] == page.id}
    assert set(rows) == {r.id for r in page.revisions}
    for rev in page.revisions:
        row = rows[rev.id]
        assert rev.timestamp == row["revision_dt"].replace(".000Z", "Z")
        assert rev.minor == row["revision_is_minor_edit"]
        # 21 rows carry no user at all although user_is_visible is true; the dumper writes those
        # as <contributor deleted="deleted" /> too.
        assert rev.contributor_deleted == (not row["user_is_visible"] or "user_text" not in row)
        if not rev.contributor_deleted:
            assert rev.contributor_name == row["user_text"]
            assert rev.contributor_id == row["user_id"]
        assert rev.sha1 == row["revision_sha1"]
        slots = row["revision_content_slots"]
        assert rev.text == slots["main"]["content_body"]
        # <text bytes> is the main slot's size; the revision size counts all slots.
        assert rev.size == int(slots["main"]["content_size"]) == len(rev.text.encode())
        assert rev.size + sum(s.size for s in rev.slots) == row["revision_size"]
        # Extra (non-main) slots: export 0.11 <content> elements.
        assert {s.role for s in rev.slots} == set(slots) - {"main"}
        for slot in rev.slots:
            expected = slots[slot.role]
            assert (slot.text, slot.model, slot.format) == (
                expected["content_body"],
                expected["content_model"],
                expected["content_format"],
            )
            assert (slot.size, slot.text_sha1, slot.origin) == (
                int(expected["content_size"]),
                expected["content_sha1"],
                int(expected["origin_rev_id"]),
            )
    assert sum(r.contributor_deleted for r in page.revisions) == 21
    assert sum(bool(r.slots) for r in page.revisions) == 27


def test_pywikibot_old_and_new_schema():
    (pear,) = list(DumpReader(PYWIKIBOT / "article-pear.xml", latest_only=False))  # 0.3
    assert (pear.id, pear.title, pear.ns, len(pear.revisions)) == (24278, "Pear", 0, 4)
    assert any(r.contributor_ip == "Conversion script" for r in pear.revisions)
    (pyrus,) = list(DumpReader(PYWIKIBOT / "article-pyrus.xml", latest_only=False))
    assert len(pyrus.revisions) == 6
    # 0.3 writes a bare <redirect />: a redirect without a named target.
    assert pyrus.is_redirect and pyrus.redirect_target is None
    pair = list(DumpReader(PYWIKIBOT / "pair-0.10.xml", latest_only=False))
    assert [(p.title, p.ns, len(p.revisions)) for p in pair] == [
        ("Çullu, Agdam", 0, 2),
        ("Talk:Çullu, Agdam", 1, 2),
    ]
    (pear10,) = list(DumpReader(PYWIKIBOT / "article-pear-0.10.xml"))
    assert pear10.latest.size == len(pear10.latest.text.encode()) > 20_000


def test_ns_from_title_in_schema_03():
    data = (
        (PYWIKIBOT / "article-pyrus.xml")
        .read_bytes()
        .replace(b"<title>Pyrus</title>", b"<title>Talk:Pyrus</title>")
    )
    (page,) = list(DumpReader(io.BytesIO(data)))
    assert page.ns == 1


# --------------------------------------------------------------------------------------------------
# Encodings and compression
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be-bom"])
def test_utf16_with_bom(tmp_path, codec):
    text = (PYWIKIBOT / "pair-0.10.xml").read_text("utf-8")
    data = ("\ufeff" + text).encode("utf-16-be") if codec == "utf-16-be-bom" else text.encode("utf-16")
    assert data[:2] in (b"\xff\xfe", b"\xfe\xff")
    path = tmp_path / "pair-utf16.xml"
    path.write_bytes(data)
    expected = [page_key(p) for p in DumpReader(PYWIKIBOT / "pair-0.10.xml", latest_only=False)]
    # An odd chunk size splits UTF-16 code units across feeds.
    reader = DumpReader(path, latest_only=False, chunk_size=1001)
    assert [page_key(p) for p in reader] == expected
    assert reader.siteinfo.dbname == "enwiki"
    assert expected[0][1] == "Çullu, Agdam"


def _compressed_variants(data: bytes) -> dict[str, bytes]:
    half = len(data) // 2
    return {  # fast presets: the point is the container format, not the ratio
        "none": data,
        "gzip": gzip.compress(data, compresslevel=1),
        "bz2": bz2.compress(data, compresslevel=1),
        # Concatenated bz2 streams, as in multistream dumps.
        "bz2-multi": bz2.compress(data[:half], 1) + bz2.compress(data[half:], 1),
        "xz": lzma.compress(data, preset=0),
    }


def test_compression_detected_by_magic_not_name(tmp_path):
    # The first ~2 MB of jawiki (several parser chunks), closed after a complete page.
    full = complete_xml("jawiki")
    end = full.index(b"</page>\n", 2_000_000) + len(b"</page>\n")
    data = full[:end] + b"</mediawiki>\n"
    expected = [page_key(p) for p in DumpReader(io.BytesIO(data))]
    assert len(expected) > 20
    for kind, blob in _compressed_variants(data).items():
        # A misleading name proves that only the magic bytes count.
        path = tmp_path / f"dump-{kind}.txt.gz"
        path.write_bytes(blob)
        assert detect_compression(blob[:8]) == kind.split("-")[0]
        reader = DumpReader(path)
        assert reader.compression == kind.split("-")[0]
        assert [page_key(p) for p in reader] == expected, kind
        assert reader.bytes_read == len(data)
        assert reader.compressed_bytes_read == len(blob)
        with open_decompressed(path) as stream:
            assert stream.read() == data


class _Pipe(io.RawIOBase):
    """A non-seekable stream that returns at most 3 bytes per read, like a slow pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), 3, len(self._data))
        b[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


def test_non_seekable_stream_source():
    data = (PYWIKIBOT / "pair-0.10.xml").read_bytes()
    blob = bz2.compress(data)
    pages = list(iter_pages(_Pipe(blob), name="https://example.org/pair.xml.bz2", latest_only=False))
    assert [p.title for p in pages] == ["Çullu, Agdam", "Talk:Çullu, Agdam"]


def test_unsupported_compression(tmp_path):
    path = tmp_path / "x.xml.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 20)
    with pytest.raises(DumpParseError, match="zstd compression is not supported"):
        DumpReader(path)


# --------------------------------------------------------------------------------------------------
# Damaged input
# --------------------------------------------------------------------------------------------------


def test_truncated_bz2(tmp_path):
    blob = bz2.compress((PYWIKIBOT / "article-pear-0.10.xml").read_bytes())
    path = tmp_path / "pear.xml.bz2"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DumpParseError) as info:
        list(DumpReader(path))
    msg = str(info.value)
    assert "pear.xml.bz2" in msg and "bz2 data is truncated or corrupt" in msg
    assert f"compressed byte offset {len(blob) // 2}" in msg
    assert "last good page id: None" in msg
    assert info.value.offset_kind == "compressed"


def test_truncated_bz2_multistream_keep_partial(tmp_path):
    """A cut multistream download: the streams before the cut still decompress."""
    data = complete_xml("mrwiki")
    dump, index = tmp_path / "mr.xml.bz2", tmp_path / "mr-index.txt.bz2"
    result = write_multistream(io.BytesIO(data), dump, index)
    cut_stream = 5
    cut = result.offsets[cut_stream] + 1000  # inside the 6th page stream
    cut_path = tmp_path / "mr-cut.xml.bz2"
    cut_path.write_bytes(dump.read_bytes()[:cut])
    pages_before = [e.page_id for e in read_index(index) if e.offset < result.offsets[cut_stream]]

    with pytest.raises(DumpParseError, match="bz2 data is truncated"):
        list(DumpReader(cut_path))
    reader = DumpReader(cut_path, keep_partial=True)
    got = [p.id for p in reader]
    assert got == pages_before
    assert reader.truncated and reader.error.last_page_id == pages_before[-1]
    assert f"last good page id: {pages_before[-1]}" in str(reader.error)


def test_truncated_xml_synthetic():
    data = (PYWIKIBOT / "pair-0.10.xml").read_bytes()
    cut = data[: data.index(b"<title>Talk:")]
    with pytest.raises(DumpParseError, match=r"truncated XML.*last good page id: 19252820"):
        list(iter_pages(io.BytesIO(cut), name="pair-cut.xml"))
    reader = iter_pages(io.BytesIO(cut), name="pair-cut.xml", keep_partial=True)
    assert [p.id for p in reader] == [19252820]
    assert reader.truncated and reader.error.offset == len(cut)


def test_malformed_xml_in_the_middle():
    data = (PYWIKIBOT / "pair-0.10.xml").read_bytes()
    bad = data.replace(b"<title>Talk:\xc3\x87ullu, Agdam</title>", b"<title>Talk:\xc3\x87ullu, Agdam</titel>")
    assert bad != data
    with pytest.raises(DumpParseError) as info:
        list(iter_pages(io.BytesIO(bad), name="pair-bad.xml", latest_only=False))
    err = info.value
    assert "pair-bad.xml" in str(err) and "malformed XML" in str(err)
    assert err.last_page_id == 19252820
    assert err.offset_kind == "decompressed"
    broken_line_start = bad.rindex(b"\n", 0, bad.index(b"</titel>")) + 1
    broken_line_end = bad.index(b"\n", broken_line_start)
    assert broken_line_start <= err.offset <= broken_line_end
    # keep_partial keeps the page before the fault.
    reader = iter_pages(io.BytesIO(bad), name="pair-bad.xml", keep_partial=True)
    assert [p.id for p in reader] == [19252820] and reader.truncated


def test_not_a_mediawiki_export_and_empty_input():
    with pytest.raises(DumpParseError, match="not a MediaWiki XML export"):
        list(iter_pages(io.BytesIO(b"<html><body><page>x</page></body></html>"), name="error.html"))
    with pytest.raises(DumpParseError, match="empty.xml"):
        list(iter_pages(io.BytesIO(b""), name="empty.xml"))


def test_error_pickles_with_attributes():
    err = DumpParseError("boom", name="f.xml", offset=7, offset_kind="compressed", last_page_id=3)
    back = pickle.loads(pickle.dumps(err))
    assert (str(back), back.name, back.offset, back.offset_kind, back.last_page_id) == (
        "boom",
        "f.xml",
        7,
        "compressed",
        3,
    )


# --------------------------------------------------------------------------------------------------
# Hostile input
# --------------------------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE mediawiki [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10">
  <siteinfo><sitename>&lol9;</sitename><dbname>evilwiki</dbname></siteinfo>
  <page><title>&lol9;</title><ns>0</ns><id>1</id>
    <revision><id>1</id><timestamp>2023-01-01T00:00:00Z</timestamp><contributor><ip>&lol9;</ip></contributor>
      <text bytes="3">&lol9;</text></revision></page>
</mediawiki>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE mediawiki [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> <!ENTITY web SYSTEM "http://127.0.0.1:9/x"> ]>
<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10">
  <page><title>T</title><ns>0</ns><id>1</id>
    <revision><id>1</id><timestamp>2023-01-01T00:00:00Z</timestamp><contributor><ip>1.2.3.4</ip></contributor>
      <text bytes="3">&xxe;&web;</text></revision></page>
</mediawiki>
"""


def test_billion_laughs_rejected():
    started = time.perf_counter()
    reader = iter_pages(io.BytesIO(BILLION_LAUGHS), name="laughs.xml")
    with pytest.raises(DumpParseError, match="laughs.xml.*DOCTYPE"):
        reader.siteinfo  # noqa: B018 - the first read already refuses
    with pytest.raises(DumpParseError, match="DOCTYPE"):
        list(iter_pages(io.BytesIO(BILLION_LAUGHS), name="laughs.xml"))
    # Rejected on sight, whatever the caller asked for: keep_partial does not keep hostile files.
    with pytest.raises(DumpParseError, match="DOCTYPE"):
        list(iter_pages(io.BytesIO(BILLION_LAUGHS), name="laughs.xml", keep_partial=True))
    assert time.perf_counter() - started < 5


def test_external_entity_rejected():
    with pytest.raises(DumpParseError, match="DOCTYPE") as info:
        list(iter_pages(io.BytesIO(EXTERNAL_ENTITY), name="xxe.xml"))
    assert "root:" not in str(info.value)  # nothing of /etc/passwd leaked into the message
    # Even a harmless DOCTYPE is refused: exports never carry one.
    data = (PYWIKIBOT / "pair-0.10.xml").read_bytes()
    with pytest.raises(DumpParseError, match="DOCTYPE"):
        list(iter_pages(io.BytesIO(b"<!DOCTYPE mediawiki>\n" + data), name="doctype.xml"))


def test_doctype_after_long_prolog_rejected():
    """A DOCTYPE hidden behind a long comment escapes the quick prolog check; the document check
    at the first parser event still refuses it (and the entity stays unexpanded meanwhile)."""
    data = (PYWIKIBOT / "pair-0.10.xml").read_bytes()
    prolog = b"<!--" + b"x" * 200_000 + b'-->\n<!DOCTYPE mediawiki [ <!ENTITY e "expanded"> ]>\n'
    data = prolog + data.replace(b"<sitename>Wikipedia</sitename>", b"<sitename>&e;</sitename>")
    reader = iter_pages(io.BytesIO(data), name="late-doctype.xml")
    with pytest.raises(DumpParseError, match="late-doctype.xml.*DOCTYPE"):
        list(reader)


# --------------------------------------------------------------------------------------------------
# Multistream
# --------------------------------------------------------------------------------------------------


def test_multistream_round_trip(tmp_path):
    data = complete_xml("mrwiki")
    src = tmp_path / "mrwiki-pages-articles.xml"
    src.write_bytes(data)
    dump = tmp_path / "mrwiki-20230501-pages-articles-multistream.xml.bz2"
    index = tmp_path / "mrwiki-20230501-pages-articles-multistream-index.txt.bz2"
    result = write_multistream(src, dump, index)

    expected = list(DumpReader(src))
    assert result.pages == len(expected) == 1820
    assert result.streams == 19  # ceil(1820 / 100)

    # Layout: header stream, page streams at the indexed offsets, footer stream.
    blob = dump.read_bytes()
    offsets = stream_offsets(index)
    assert offsets == result.offsets and offsets[0] > 0
    assert bz2.decompress(blob) == data  # pages copied byte for byte
    header = bz2.BZ2Decompressor().decompress(blob[: offsets[0]])
    assert header.lstrip().startswith(b"<mediawiki") and header.rstrip().endswith(b"</siteinfo>")
    bounds = offsets + [len(blob)]
    for i, (start, end) in enumerate(itertools.pairwise(bounds)):
        assert blob[start : start + 3] == b"BZh"
        decomp = bz2.BZ2Decompressor()
        chunk = decomp.decompress(blob[start:end])
        assert decomp.eof  # each offset starts a complete, independent bz2 stream
        if i < len(offsets) - 1:
            assert decomp.unused_data == b"" and chunk.count(b"<page>") == 100
        else:
            # The last range also holds the footer stream.
            assert bz2.decompress(decomp.unused_data).strip() == b"</mediawiki>"
            assert chunk.count(b"<page>") == 20
    entries = list(read_index(index))
    assert [(e.page_id, e.title) for e in entries] == [(p.id, p.title) for p in expected]
    assert [e.offset for e in entries] == [offsets[i // 100] for i in range(len(entries))]

    # Parallel parse == single-process parse, same order.
    reader = parse_multistream(dump, index, workers=2)
    assert reader.siteinfo == DumpReader(src).siteinfo
    got = list(reader)
    assert [page_key(p) for p in got] == [page_key(p) for p in expected]
    assert reader.pages_read == 1820 and reader.streams_read == 19
    # ... and the multistream file is also a plain (concatenated) bz2 dump for the streaming reader.
    assert [page_key(p) for p in DumpReader(dump)] == [page_key(p) for p in expected]


def test_multistream_histories_one_page_per_stream(tmp_path):
    dump, index = tmp_path / "simple.xml.bz2", tmp_path / "simple-index.txt.bz2"
    result = write_multistream(SIMPLEWIKI, dump, index, pages_per_stream=1)
    assert (result.pages, result.streams) == (2, 2)
    expected = [page_key(p) for p in DumpReader(SIMPLEWIKI, latest_only=False)]
    got = list(parse_multistream(dump, index, workers=2, latest_only=False, streams_per_task=1))
    assert [page_key(p) for p in got] == expected
    assert [len(p.revisions) for p in got] == [18, 15]
    latest = list(parse_multistream(dump, index, workers=1))
    assert [len(p.revisions) for p in latest] == [1, 1]


def test_multistream_corrupt_stream_names_offset(tmp_path):
    dump, index = tmp_path / "mr.xml.bz2", tmp_path / "mr-index.txt.bz2"
    result = write_multistream(io.BytesIO(complete_xml("mrwiki")), dump, index)
    blob = bytearray(dump.read_bytes())
    bad_stream = result.offsets[7]
    blob[bad_stream + 5000 : bad_stream + 5010] = b"\x00" * 10
    dump.write_bytes(bytes(blob))
    with pytest.raises(DumpParseError) as info:
        list(parse_multistream(dump, index, workers=2))
    assert "mr.xml.bz2" in str(info.value)
    assert f"offset {bad_stream}" in str(info.value)
    assert info.value.offset == bad_stream and info.value.offset_kind == "compressed"


def test_stream_decoder_matches_libbz2_and_names_the_bad_stream_of_a_range(tmp_path):
    """The fast decoder gives libbz2's bytes for a range of several streams; a damaged range is reported by
    libbz2's stream-by-stream pass, at the offset of the stream that is damaged, not of the range."""
    dump, index = tmp_path / "mr.xml.bz2", tmp_path / "mr-index.txt.bz2"
    result = write_multistream(io.BytesIO(complete_xml("mrwiki")), dump, index)
    blob = dump.read_bytes()
    first, third, fifth = result.offsets[0], result.offsets[2], result.offsets[4]
    good = blob[first:fifth]
    assert _decompress_streams(good, name="mr", start=first) == _decompress_streams_libbz2(good, name="mr", start=first)
    assert _decompress_streams(good, name="mr", start=first).count(b"<page>") == 400

    corrupt = bytearray(good)
    corrupt[third - first + 5000 : third - first + 5010] = b"\x00" * 10
    with pytest.raises(DumpParseError, match=rf"corrupt bz2 stream at compressed byte offset {third}") as info:
        _decompress_streams(bytes(corrupt), name="mr", start=first)
    assert info.value.offset == third and info.value.offset_kind == "compressed"

    # A wrong stream checksum (the last 4 bytes before the stream's padding) is refused, not decoded.
    stream_crc = bytearray(blob[first : result.offsets[1]])
    stream_crc[-2] ^= 0x10
    with pytest.raises(DumpParseError, match=rf"offset {first}"):
        _decompress_streams(bytes(stream_crc), name="mr", start=first)

    with pytest.raises(DumpParseError, match=rf"truncated bz2 stream at compressed byte offset {third}"):
        _decompress_streams(good[: third - first + 100], name="mr", start=first)


def test_multistream_truncated_file(tmp_path):
    dump, index = tmp_path / "mr.xml.bz2", tmp_path / "mr-index.txt.bz2"
    result = write_multistream(io.BytesIO(complete_xml("mrwiki")), dump, index)
    blob = dump.read_bytes()
    # Cut inside the last page stream, and at the start of the footer stream.
    for cut in (result.offsets[-1] + 100, len(blob) - len(bz2.compress(b"</mediawiki>\n"))):
        dump.write_bytes(blob[:cut])
        with pytest.raises(DumpParseError, match=re.escape(str(dump))):
            list(parse_multistream(dump, index, workers=2))


def test_write_multistream_rejects_truncated_input(tmp_path):
    with pytest.raises(DumpParseError, match="truncated XML"):
        write_multistream(xz_fixture("jawiki"), tmp_path / "ja.xml.bz2", tmp_path / "ja-index.txt.bz2")
    # No half-written mirror is left behind.
    assert not (tmp_path / "ja.xml.bz2").exists() and not (tmp_path / "ja-index.txt.bz2").exists()


def test_invalid_content_is_a_parse_error():
    data = (PYWIKIBOT / "pair-0.10.xml").read_bytes().replace(b"<id>19252824</id>", b"<id>x19252824</id>", 1)
    with pytest.raises(DumpParseError, match=r"invalid <page>.*last good page id: 19252820"):
        list(iter_pages(io.BytesIO(data), name="pair-badid.xml"))
    reader = iter_pages(io.BytesIO(data), name="pair-badid.xml", keep_partial=True)
    assert [p.id for p in reader] == [19252820] and reader.truncated
