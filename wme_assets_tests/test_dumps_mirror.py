"""The dumps-site mirror built from the real fixtures (../shared/fixtures), served over loopback HTTP in CI.

Every mirror is built once per module (bnwiki: 19.5 MB of real XML) into pytest's tmp directories; the
fixtures themselves are only read.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import re
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.request import urlopen

import pytest
from lxml import etree

from wme_assets.devtools.mirror import (
    JOB_MULTISTREAM,
    JOB_MULTISTREAM_RECOMBINE,
    JOB_PAGE_PROPS,
    MirrorRun,
    build_dumps_mirror,
    build_fixture_mirror,
    complete_pages_xml,
    enterprise_dump_date,
    export_xml_from_enterprise_records,
    mediawiki_sha1,
    page_props_from_enterprise_records,
    read_enterprise_records,
)
from wme_assets.devtools.mirror import multistream as mirror_multistream
from wme_assets_tests.paths import FIXTURES

TRUNCATED = FIXTURES / "xztextfilter-truncated-dumps"
BNWIKI_XZ = TRUNCATED / "bnwiki-truncated-100k.xml.xz"
ENWIKI_RECORDS = FIXTURES / "wme-articles" / "enwiki"
DATE = "20230501"

# The four enwiki Enterprise records and their Wikidata items (main_entity.identifier), page id -> QID.
ENWIKI_QIDS = {736: "Q937", 72671: "Q567", 255083: "Q151972", 3434750: "Q30"}

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"shared fixtures not found at {FIXTURES}")


def _page_ids_in(xml: bytes) -> list[int]:
    """Page ids of the complete <page> elements, read with a regex independent of the module under test."""
    return [
        int(m)
        for m in re.findall(
            rb"<page>\s*<title>[^<]*</title>\s*<ns>-?\d+</ns>\s*<id>(\d+)</id>.*?</page>", xml, re.DOTALL
        )
    ]


def _streams(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, decompressed content) of every bz2 stream of a multistream file, in file order.

    Each stream is decompressed by a fresh decompressor started at its offset, as a reader seeking to an
    index offset does: a stream that depended on the bytes before it would fail here.
    """
    streams, offset = [], 0
    while offset < len(data):
        decompressor = bz2.BZ2Decompressor()
        content = decompressor.decompress(data[offset:])
        assert decompressor.eof, f"the bz2 stream at offset {offset} is incomplete"
        streams.append((offset, content))
        offset = len(data) - len(decompressor.unused_data)
    return streams


def _index(path: Path) -> list[tuple[int, int, str]]:
    lines = bz2.decompress(path.read_bytes()).decode("utf-8").splitlines()
    return [
        (int(offset), int(page_id), title) for offset, page_id, title in (ln.split(":", 2) for ln in lines)
    ]


def _complete(source) -> bytes:
    with complete_pages_xml(source) as f:
        return f.read()


def _dumpstatus(run: MirrorRun) -> dict:
    return json.loads(run.dumpstatus_path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def bn_raw() -> bytes:
    return lzma.decompress(BNWIKI_XZ.read_bytes())


@pytest.fixture(scope="module")
def bn_complete() -> bytes:
    return _complete(BNWIKI_XZ)


@pytest.fixture(scope="module")
def bn_run(tmp_path_factory: pytest.TempPathFactory) -> MirrorRun:
    return build_dumps_mirror(tmp_path_factory.mktemp("mirror-bn"), "bnwiki", DATE, BNWIKI_XZ)


@pytest.fixture(scope="module")
def fixture_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MirrorRun]:
    # One xztextfilter wiki (jawiki is the smallest) keeps this fast; the enwiki run is built from the
    # Enterprise records with real page_props, as an operator's offline demo mirror gets it.
    runs = build_fixture_mirror(tmp_path_factory.mktemp("mirror-fixture"), FIXTURES, wikis=["jawiki"])
    return {run.dbname: run for run in runs}


@pytest.fixture(scope="module")
def ja_parts(tmp_path_factory: pytest.TempPathFactory) -> MirrorRun:
    source = TRUNCATED / "jawiki-truncated-100k.xml.xz"
    return build_dumps_mirror(tmp_path_factory.mktemp("mirror-parts"), "jawiki", DATE, source, parts=3)


@pytest.fixture(scope="module")
def enwiki_records() -> list[dict]:
    return read_enterprise_records(ENWIKI_RECORDS)


# ------------------------------------------------------------------ complete_pages_xml


def test_truncated_dump_is_cut_at_the_last_complete_page(bn_raw: bytes, bn_complete: bytes) -> None:
    # SOURCE.md's "bnwiki 723 pages" counts <page> openings, including the one cut at line 100,000:
    # the fixture holds 722 complete pages, the 723rd (page id 2388) has no </page> and no </mediawiki>.
    assert bn_raw.count(b"<page>") == 723
    assert bn_raw.count(b"</page>") == 722
    assert b"</mediawiki>" not in bn_raw

    assert bn_complete.count(b"<page>") == bn_complete.count(b"</page>") == 722
    assert bn_complete.endswith(b"  </page>\n</mediawiki>\n")
    # Everything kept is the fixture's own bytes, up to the last complete page.
    assert bn_raw.startswith(bn_complete[: -len(b"\n</mediawiki>\n")])
    ids = [int(page.findtext("{*}id")) for _, page in etree.iterparse(io.BytesIO(bn_complete), tag="{*}page")]
    assert len(ids) == 722  # a strict XML parser reads it to the end
    assert ids[-1] == 2387 and 2388 not in ids
    assert b"<id>2388</id>" in bn_raw


def test_compression_is_detected_from_the_magic_bytes(enwiki_records: list[dict], tmp_path: Path) -> None:
    xml = export_xml_from_enterprise_records(enwiki_records, dbname="enwiki")
    # A complete export comes out byte for byte.
    assert _complete(xml) == xml

    # Cut inside the fourth page: three complete pages remain, whatever the container.
    cut = xml[: xml.rindex(b"<page>") + 4000]
    expected = _complete(cut)
    assert expected.count(b"</page>") == 3 and expected.endswith(b"</page>\n</mediawiki>\n")
    containers = {
        "plain.xml": cut,
        "dump.gz": gzip.compress(cut),
        "dump.bz2": bz2.compress(cut),
        "dump.xz": lzma.compress(cut),
        # Extensions lie; the magic bytes decide.
        "looks-plain.xml": bz2.compress(cut),
    }
    for name, payload in containers.items():
        path = tmp_path / name
        path.write_bytes(payload)
        assert _complete(path) == expected, name
        assert _complete(io.BytesIO(payload)) == expected, name


@pytest.mark.parametrize("chunk_size", [5, 4099])
def test_closing_tags_split_across_reads_are_found(
    enwiki_records: list[dict], chunk_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    xml = export_xml_from_enterprise_records(enwiki_records, dbname="enwiki")
    cut = xml[: xml.rindex(b"<page>") + 4000]
    expected = _complete(cut)
    monkeypatch.setattr(mirror_multistream, "_CHUNK", chunk_size)
    assert _complete(cut) == expected
    assert _complete(xml) == xml


def test_an_export_without_a_complete_page_keeps_its_header(enwiki_records: list[dict]) -> None:
    xml = export_xml_from_enterprise_records(enwiki_records, dbname="enwiki")
    header_only = _complete(xml[: xml.index(b"<page>") + 100])
    assert header_only.endswith(b"</siteinfo>\n</mediawiki>\n") and b"<page>" not in header_only
    etree.fromstring(header_only)
    with pytest.raises(ValueError, match="MediaWiki"):
        complete_pages_xml(b'{"not": "xml"}' * 100)


# ------------------------------------------------------------------ the multistream dump


def test_bnwiki_mirror_holds_exactly_the_complete_pages(bn_run: MirrorRun, bn_raw: bytes) -> None:
    complete_ids = _page_ids_in(bn_raw)  # the 722 pages that end with </page>
    assert len(complete_ids) == 722
    assert bn_run.page_count == 722
    assert bn_run.page_ids == complete_ids
    assert sorted(bn_run.files) == sorted(
        [
            "bnwiki-20230501-page_props.sql.gz",
            "bnwiki-20230501-pages-articles-multistream.xml.bz2",
            "bnwiki-20230501-pages-articles-multistream-index.txt.bz2",
        ]
    )
    assert bn_run.run_dir == bn_run.root / "bnwiki" / DATE
    assert {p.name for p in bn_run.run_dir.iterdir()} == set(bn_run.files) | {
        "dumpstatus.json",
        "bnwiki-20230501-md5sums.txt",
        "bnwiki-20230501-sha1sums.txt",
    }


def test_every_stream_decompresses_on_its_own_at_the_index_offsets(
    bn_run: MirrorRun, bn_complete: bytes
) -> None:
    (data_file,) = bn_run.multistream_files
    (index_file,) = bn_run.index_files
    data = data_file.path.read_bytes()
    streams = _streams(data)
    index = _index(index_file.path)

    # The streams concatenated are the complete export: header, pages, footer, nothing lost or added.
    assert b"".join(content for _, content in streams) == bn_complete
    header, footer = streams[0][1], streams[-1][1]
    assert header.lstrip().startswith(b"<mediawiki") and header.rstrip().endswith(b"</siteinfo>")
    assert b"<page>" not in header
    assert footer == b"</mediawiki>\n"

    assert [page_id for _, page_id, _ in index] == bn_run.page_ids
    offsets = sorted({offset for offset, _, _ in index})
    assert offsets == [offset for offset, _ in streams[1:-1]]
    by_offset = dict(streams)
    for offset in offsets:
        content = by_offset[offset]
        assert content.lstrip().startswith(b"<page>")
        assert content.rstrip().endswith(b"</page>")
        listed = [(page_id, title) for o, page_id, title in index if o == offset]
        assert _page_ids_in(content) == [page_id for page_id, _ in listed]
        assert re.findall(rb"<title>(.*)</title>", content) == [title.encode() for _, title in listed]
        assert len(listed) == 100 or offset == offsets[-1]  # 100 pages per stream, like the dumps
    assert len(offsets) == 8  # 722 pages = 7 x 100 + 22


def test_revision_sha1_is_mediawikis_base36_sha1(bn_complete: bytes) -> None:
    # Checked against the 722 real bnwiki revisions, whose <sha1> and bytes MediaWiki computed on the
    # stored text. Five of them store the precomposed Bengali letters U+09DC/U+09DD/U+09DF, which the dump
    # writer emits NFC-normalised as letter + nukta (U+09BC): their dumped text is not the stored text, so
    # composing the letters back must restore both the byte count and the sha1.
    def stored(text: str) -> str:
        for letter, decomposed in (
            ("\u09dc", "\u09a1\u09bc"),
            ("\u09dd", "\u09a2\u09bc"),
            ("\u09df", "\u09af\u09bc"),
        ):
            text = text.replace(decomposed, letter)
        return text

    exact = renormalised = 0
    for _, revision in etree.iterparse(io.BytesIO(bn_complete), tag="{*}revision"):
        text = revision.findtext("{*}text") or ""
        size = int(revision.find("{*}text").get("bytes"))
        sha1 = revision.findtext("{*}sha1")
        if mediawiki_sha1(text) == sha1:
            assert len(text.encode("utf-8")) == size
            exact += 1
        else:
            assert mediawiki_sha1(stored(text)) == sha1 and len(stored(text).encode("utf-8")) == size
            renormalised += 1
        revision.clear()
    assert (exact, renormalised) == (717, 5)
    assert (
        mediawiki_sha1("") == "phoiac9h4m842xq45sp7s6u21eteeq1"
    )  # the empty revision, as in the 0.11 fixture


# ------------------------------------------------------------------ dumpstatus.json and the sums files


def test_checksums_in_dumpstatus_and_sums_files_match_the_bytes(bn_run: MirrorRun) -> None:
    status = _dumpstatus(bn_run)
    assert status["version"] == "0.8"
    # A wiki dumped in one part has no recombine job (dumpitemlist.py adds it only with parts enabled).
    assert set(status["jobs"]) == {JOB_PAGE_PROPS, JOB_MULTISTREAM}
    md5_lines = bn_run.md5sums_path.read_text(encoding="utf-8").splitlines()
    sha1_lines = bn_run.sha1sums_path.read_text(encoding="utf-8").splitlines()
    assert len(md5_lines) == len(sha1_lines) == len(bn_run.files) == 3
    for job_name, job in status["jobs"].items():
        assert job["status"] == "done"
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", job["updated"])
        for name, entry in job["files"].items():
            data = (bn_run.run_dir / name).read_bytes()
            assert entry["size"] == len(data)
            assert entry["url"] == f"/bnwiki/{DATE}/{name}"
            assert entry["md5"] == hashlib.md5(data).hexdigest()
            assert entry["sha1"] == hashlib.sha1(data).hexdigest()
            assert f"{entry['md5']}  {name}" in md5_lines
            assert f"{entry['sha1']}  {name}" in sha1_lines
            assert bn_run.files[name].job == job_name
    assert status["jobs"][JOB_MULTISTREAM]["files"].keys() == {
        "bnwiki-20230501-pages-articles-multistream.xml.bz2",
        "bnwiki-20230501-pages-articles-multistream-index.txt.bz2",
    }


def test_in_progress_job_is_announced_without_checksums(enwiki_records: list[dict], tmp_path: Path) -> None:
    run = build_dumps_mirror(
        tmp_path,
        "enwiki",
        "20250201",
        export_xml_from_enterprise_records(enwiki_records, dbname="enwiki"),
        in_progress_jobs=[JOB_MULTISTREAM],
    )
    jobs = _dumpstatus(run)["jobs"]
    assert jobs[JOB_MULTISTREAM]["status"] == "in-progress"
    assert jobs[JOB_PAGE_PROPS]["status"] == "done"
    for entry in jobs[JOB_MULTISTREAM]["files"].values():
        assert set(entry) == {"size", "url"}
    sums = run.md5sums_path.read_text(encoding="utf-8") + run.sha1sums_path.read_text(encoding="utf-8")
    assert "multistream" not in sums and "page_props.sql.gz" in sums
    with pytest.raises(ValueError, match="not jobs of this run"):
        build_dumps_mirror(tmp_path, "enwiki", "20250201", b"", in_progress_jobs=[JOB_MULTISTREAM_RECOMBINE])


# ------------------------------------------------------------------ parts


def test_parts_have_page_ranges_covering_all_pages(ja_parts: MirrorRun) -> None:
    name = re.compile(r"^jawiki-20230501-pages-articles-multistream(\d+)\.xml-p(\d+)p(\d+)\.bz2$")
    index_name = re.compile(r"^jawiki-20230501-pages-articles-multistream-index(\d+)\.txt-p(\d+)p(\d+)\.bz2$")
    parts = [tuple(map(int, name.match(f.name).groups())) for f in ja_parts.multistream_files]
    index_parts = [tuple(map(int, index_name.match(f.name).groups())) for f in ja_parts.index_files]
    assert [n for n, _, _ in parts] == [1, 2, 3]
    assert index_parts == parts
    assert ja_parts.part_ranges == [(first, last) for _, first, last in parts]

    # The ranges tile the page ids from 1 to the last page, as enwiki's p1p41242, p41243p151573, ...
    assert parts[0][1] == 1
    assert all(parts[i + 1][1] == parts[i][2] + 1 for i in range(2))
    assert parts[-1][2] == ja_parts.page_ids[-1]

    seen: list[int] = []
    part_stream_count = 0
    for (number, first, last), data_file, index_file in zip(
        parts, ja_parts.multistream_files, ja_parts.index_files, strict=True
    ):
        streams = _streams(data_file.path.read_bytes())
        part_stream_count += len(streams)
        xml = b"".join(content for _, content in streams)
        etree.fromstring(xml)  # each part is a complete export of its own
        ids = _page_ids_in(xml)
        assert ids and all(first <= i <= last for i in ids), number
        index = _index(index_file.path)
        assert [page_id for _, page_id, _ in index] == ids
        by_offset = dict(streams)
        for offset in {offset for offset, _, _ in index}:
            assert _page_ids_in(by_offset[offset]) == [page_id for o, page_id, _ in index if o == offset]
        seen += ids
    assert seen == ja_parts.page_ids and ja_parts.page_count == 238  # jawiki: 239 <page>, the last one cut

    # The recombined pair holds every page once, with offsets into the single file.
    status = _dumpstatus(ja_parts)
    assert status["jobs"][JOB_MULTISTREAM_RECOMBINE]["files"].keys() == {
        "jawiki-20230501-pages-articles-multistream.xml.bz2",
        "jawiki-20230501-pages-articles-multistream-index.txt.bz2",
    }
    assert len(status["jobs"][JOB_MULTISTREAM]["files"]) == 6
    data_file, index_file = ja_parts.recombined_files
    streams = _streams(data_file.path.read_bytes())
    index = _index(index_file.path)
    assert [page_id for _, page_id, _ in index] == ja_parts.page_ids
    by_offset = dict(streams)
    for offset in {offset for offset, _, _ in index}:
        assert by_offset[offset].lstrip().startswith(b"<page>")
        assert _page_ids_in(by_offset[offset]) == [page_id for o, page_id, _ in index if o == offset]
    # Three part headers and footers collapse into one of each.
    assert len(streams) == part_stream_count - 4
    recombined = b"".join(content for _, content in streams)
    assert _page_ids_in(recombined) == ja_parts.page_ids
    etree.fromstring(recombined)


# ------------------------------------------------------------------ Enterprise records and page_props


def test_enterprise_records_become_an_export(enwiki_records: list[dict]) -> None:
    xml = export_xml_from_enterprise_records(enwiki_records, dbname="enwiki")
    root = etree.fromstring(xml)
    ns = {"mw": "http://www.mediawiki.org/xml/export-0.11/"}
    assert root.get("version") == "0.11"
    assert root.findtext("mw:siteinfo/mw:dbname", namespaces=ns) == "enwiki"
    assert root.findtext("mw:siteinfo/mw:base", namespaces=ns) == "https://en.wikipedia.org/wiki/Main_Page"
    assert root.findtext("mw:siteinfo/mw:case", namespaces=ns) == "first-letter"
    namespaces = {n.get("key"): n.text for n in root.iterfind("mw:siteinfo/mw:namespaces/mw:namespace", ns)}
    assert namespaces["0"] is None and namespaces["10"] == "Template" and namespaces["4"] == "Wikipedia"

    by_id = {int(r["identifier"]): r for r in enwiki_records}
    pages = root.findall("mw:page", ns)
    assert [int(p.findtext("mw:id", namespaces=ns)) for p in pages] == sorted(ENWIKI_QIDS)
    for page in pages:
        record = by_id[int(page.findtext("mw:id", namespaces=ns))]
        revision = page.find("mw:revision", ns)
        text = revision.find("mw:text", ns)
        assert page.findtext("mw:title", namespaces=ns) == record["name"]
        assert page.findtext("mw:ns", namespaces=ns) == "0"
        assert int(revision.findtext("mw:id", namespaces=ns)) == record["version"]["identifier"]
        assert (
            int(revision.findtext("mw:parentid", namespaces=ns)) == record["previous_version"]["identifier"]
        )
        assert revision.findtext("mw:timestamp", namespaces=ns) == record["date_modified"]
        editor = record["version"]["editor"]
        assert revision.findtext("mw:contributor/mw:username", namespaces=ns) == editor["name"]
        assert int(revision.findtext("mw:contributor/mw:id", namespaces=ns)) == editor["identifier"]
        assert text.text == record["article_body"]["wikitext"]
        # bytes = the UTF-8 length, which the record states as version.size
        assert int(text.get("bytes")) == record["version"]["size"]["value"]
        assert text.get("sha1") == revision.findtext("mw:sha1", namespaces=ns)
        assert revision.findtext("mw:sha1", namespaces=ns) == mediawiki_sha1(
            record["article_body"]["wikitext"]
        )


def test_enwiki_mirror_has_the_real_qids_in_page_props(
    fixture_runs: dict[str, MirrorRun], enwiki_records
) -> None:
    assert page_props_from_enterprise_records(enwiki_records) == ENWIKI_QIDS
    run = fixture_runs["enwiki"]
    # The first dumps run (1st or 20th) after the newest record, United States of 2025-01-30.
    assert run.date == enterprise_dump_date(enwiki_records) == "20250201"
    assert run.page_ids == sorted(ENWIKI_QIDS)

    sql = gzip.decompress(run.page_props_file.path.read_bytes()).decode("utf-8")
    assert "CREATE TABLE `page_props` (" in sql
    for column in ("`pp_page`", "`pp_propname`", "`pp_value`", "`pp_sortkey`"):
        assert f"  {column} " in sql
    rows = re.findall(r"\((\d+),'wikibase_item','(Q\d+)',NULL\)", sql)
    assert {int(page): qid for page, qid in rows} == ENWIKI_QIDS
    assert len(re.findall(r"^INSERT INTO `page_props` VALUES ", sql, re.MULTILINE)) == 1
    assert sql.rstrip().splitlines()[-1].startswith("-- Dump completed on ")

    status = _dumpstatus(run)["jobs"][JOB_PAGE_PROPS]
    assert status["status"] == "done"
    assert status["files"]["enwiki-20250201-page_props.sql.gz"]["sha1"] == run.page_props_file.sha1


def test_empty_page_props_is_a_valid_dump_without_rows(bn_run: MirrorRun) -> None:
    sql = gzip.decompress(bn_run.page_props_file.path.read_bytes()).decode("utf-8")
    assert "-- Host: localhost    Database: bnwiki" in sql
    assert "CREATE TABLE `page_props` (" in sql and ") ENGINE=InnoDB" in sql
    assert "INSERT INTO" not in sql
    assert "/*!40000 ALTER TABLE `page_props` ENABLE KEYS */;" in sql


def test_enterprise_dump_date_is_the_next_run() -> None:
    assert enterprise_dump_date([{"date_modified": "2025-01-30T06:05:40Z"}]) == "20250201"
    assert enterprise_dump_date([{"date_modified": "2024-12-24T00:00:00Z"}]) == "20250101"
    assert enterprise_dump_date([{"date_modified": "2022-07-19T23:59:59Z"}]) == "20220720"


# ------------------------------------------------------------------ served like the dumps site


def test_fixture_mirror_is_served_by_a_static_web_server(fixture_runs: dict[str, MirrorRun]) -> None:
    assert set(fixture_runs) == {"jawiki", "enwiki"}
    root = fixture_runs["jawiki"].root
    handler = partial(_QuietHandler, directory=str(root))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            base = f"http://127.0.0.1:{server.server_address[1]}"
            for run in fixture_runs.values():
                # The date listing a client reads to find runs, then the run's status and files.
                with urlopen(f"{base}/{run.dbname}/", timeout=10) as response:
                    assert f'href="{run.date}/"' in response.read().decode()
                with urlopen(f"{base}/{run.dbname}/{run.date}/dumpstatus.json", timeout=10) as response:
                    jobs = json.load(response)["jobs"]
                for job in jobs.values():
                    for entry in job["files"].values():
                        with urlopen(base + entry["url"], timeout=10) as response:
                            assert hashlib.sha1(response.read()).hexdigest() == entry["sha1"]
        finally:
            server.shutdown()
            thread.join()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass
