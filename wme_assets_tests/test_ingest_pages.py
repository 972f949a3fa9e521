"""The raw zone to the page store, on real dumps in real SeaweedFS: duplicates, corrupt files, parts."""

from __future__ import annotations

import hashlib
import json
import lzma
import re

import pytest

from wme_assets.devtools.mirror import build_dumps_mirror
from wme_assets.ingestion.download import download_run
from wme_assets.ingestion.dump_xml import DumpParseError
from wme_assets.ingestion.run import ingest_pages
from wme_assets.sources.dumps_client import DumpsClient
from wme_assets.storage.page_store import query_page_store

DATE = "20230501"
BNWIKI = "xztextfilter-truncated-dumps/bnwiki-truncated-100k.xml.xz"


def _ingest_raw(store, mirror_root, project="bnwiki"):
    client = DumpsClient(mirror_root.as_uri())
    store.put_bytes(store.key(f"raw/{project}/{DATE}/dumpstatus.json"), client.fetch_status_bytes(project, DATE))
    download_run(client, store, project, DATE)


def _complete_export(fixtures_dir) -> bytes:
    text = lzma.open(fixtures_dir / BNWIKI).read()
    return text[: text.rindex(b"</page>") + len(b"</page>")] + b"\n</mediawiki>\n"


def test_parts_are_parsed_in_order_into_one_page_store(object_store, fixtures_dir, tmp_path):
    run = build_dumps_mirror(tmp_path, "bnwiki", DATE, fixtures_dir / BNWIKI, parts=3)
    _ingest_raw(object_store, tmp_path)
    result = ingest_pages(object_store, "bnwiki", DATE, workers=2, log=lambda _: None)
    assert [p.dump_name for p in result.parts] == [f.name for f in run.multistream_files]
    assert result.pages_read == result.summary.rows == 722
    query = query_page_store(object_store, f"pages/bnwiki/{DATE}/", cache_dir=tmp_path / "cache")
    assert [r[0] for r in query.sql("SELECT page_id FROM pages").fetchall()] == run.page_ids


def test_duplicate_page_is_quarantined_and_counted(object_store, fixtures_dir, tmp_path):
    export = _complete_export(fixtures_dir)
    pages = re.findall(rb"  <page>.*?</page>\n", export, flags=re.S)
    duplicated = export.replace(pages[5], pages[5] + pages[5], 1)  # the same page id twice (bad input)
    build_dumps_mirror(tmp_path, "bnwiki", DATE, duplicated)
    _ingest_raw(object_store, tmp_path)
    result = ingest_pages(object_store, "bnwiki", DATE, workers=1, log=lambda _: None)
    assert result.pages_read == 723
    assert result.summary.rows == 722 and result.summary.duplicate_count == 1
    page_id = int(re.search(rb"<id>(\d+)</id>", pages[5]).group(1))
    quarantined = [json.loads(line) for line in object_store.read_bytes(result.quarantined.key).splitlines()]
    assert [d["page_id"] for d in quarantined] == [page_id]


def test_corrupt_dump_with_matching_checksums_fails_naming_file_and_offset(object_store, fixtures_dir, tmp_path):
    """A broken file the dumps run itself published (checksums match it): parsing fails, nothing stored."""
    run = build_dumps_mirror(tmp_path, "bnwiki", DATE, fixtures_dir / BNWIKI)
    dump = run.multistream_files[0]
    data = dump.path.read_bytes()
    dump.path.write_bytes(data[: len(data) // 2])  # cut inside a bz2 stream
    status_path = run.dumpstatus_path
    status = json.loads(status_path.read_text())
    cut = dump.path.read_bytes()
    status["jobs"]["articlesmultistreamdump"]["files"][dump.name].update(
        size=len(cut), md5=hashlib.md5(cut).hexdigest(), sha1=hashlib.sha1(cut).hexdigest()
    )
    status_path.write_text(json.dumps(status))
    _ingest_raw(object_store, tmp_path)
    with pytest.raises(DumpParseError, match=rf"{re.escape(dump.name)}.*offset"):
        ingest_pages(object_store, "bnwiki", DATE, workers=2, log=lambda _: None)
    assert not list(object_store.list(object_store.key(f"pages/bnwiki/{DATE}") + "/"))
