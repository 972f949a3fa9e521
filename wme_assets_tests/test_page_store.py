"""Tests of the page store (Parquet per project and dump date) on real dumps and the real SeaweedFS.

Every file is written under ``tmp_path``; the S3 round trips use the session's SeaweedFS through the
``object_store`` fixture (a prefix of its own per test).
"""

from __future__ import annotations

import collections
import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from wme_assets.devtools.mirror import (
    XZTEXTFILTER_WIKIS,
    build_dumps_mirror,
    enterprise_dump_date,
    export_xml_from_enterprise_records,
    page_props_from_enterprise_records,
    read_enterprise_records,
)
from wme_assets.ingestion.dump_xml import iter_pages
from wme_assets.ingestion.multistream import parse_multistream
from wme_assets.ingestion.page_props import wikibase_items
from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY, ConfigurationError
from wme_assets.storage.page_store import (
    MANIFEST_NAME,
    PAGE_SCHEMA,
    SCHEMA_FINGERPRINT,
    DuckDBHttpfsUnavailable,
    PageStoreWriter,
    duckdb_connect_s3,
    duckdb_s3_settings,
    page_rows,
    page_store_prefix,
    publish_page_store,
    query_page_store,
    read_manifest,
    schema_fingerprint,
)
from wme_assets_tests.paths import FIXTURES

XZ_DIR = FIXTURES / "xztextfilter-truncated-dumps"
BNWIKI = XZ_DIR / "bnwiki-truncated-100k.xml.xz"
ENWIKI_QIDS = {736: "Q937", 72671: "Q567", 255083: "Q151972", 3434750: "Q30"}

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"fixtures not found at {FIXTURES}")


def read_pages(path: Path, name: str | None = None) -> list:
    """The complete pages of a (truncated) dump fixture, as the XML parser gives them."""
    return list(iter_pages(path, name=name or path.name, keep_partial=True))


@pytest.fixture(scope="module")
def bnwiki_pages():
    return read_pages(BNWIKI)


@pytest.fixture(scope="module")
def bnwiki_store(tmp_path_factory, bnwiki_pages):
    """bnwiki in small files, so the store has several parts and row groups."""
    out = tmp_path_factory.mktemp("bnwiki-pages")
    with PageStoreWriter(
        out, project="bnwiki", dump_date="20230501", rows_per_batch=100, max_file_bytes=1024 * 1024
    ) as writer:
        writer.write_pages(bnwiki_pages, source_file=BNWIKI.name)
    return writer.close()


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


def test_bnwiki_counts_match_the_parser(bnwiki_store, bnwiki_pages):
    summary = bnwiki_store
    assert len(bnwiki_pages) == 722  # the fixture's complete pages
    assert summary.rows == 722
    assert summary.redirects == 76 == sum(p.is_redirect for p in bnwiki_pages)
    assert summary.pages_per_namespace == dict(collections.Counter(p.ns for p in bnwiki_pages))
    assert summary.pages_per_namespace == {0: 449, 4: 21, 8: 232, 10: 14, 12: 2, 14: 3, 100: 1}
    assert summary.duplicates == [] and summary.duplicate_count == 0
    assert summary.ascending
    assert summary.text_bytes == sum(len(p.latest.text.encode()) for p in bnwiki_pages)
    assert len(summary.files) > 1
    assert sum(f.rows for f in summary.files) == 722
    assert [f.name for f in summary.files] == [f"part-{i:05d}.parquet" for i in range(len(summary.files))]
    assert sorted(p.name for p in summary.out_dir.iterdir()) == [f.name for f in summary.files]


def test_bnwiki_schema_and_values(bnwiki_store, bnwiki_pages):
    for f in bnwiki_store.files:
        schema = pq.read_schema(f.path)
        assert schema.equals(PAGE_SCHEMA, check_metadata=False)
        assert schema_fingerprint(schema) == SCHEMA_FINGERPRINT == bnwiki_store.schema_fingerprint
        assert schema.metadata[b"wme.project"] == b"bnwiki"
        meta = pq.read_metadata(f.path)
        assert meta.num_rows == f.rows and meta.num_row_groups == f.row_groups
        page_id_stats = [meta.row_group(i).column(0).statistics for i in range(meta.num_row_groups)]
        assert all(s.has_min_max for s in page_id_stats)
        assert min(s.min for s in page_id_stats) == f.min_page_id
        assert max(s.max for s in page_id_stats) == f.max_page_id
        assert meta.row_group(0).column(0).compression == "ZSTD"

    table = pq.read_table([f.path for f in bnwiki_store.files])
    rows = table.to_pylist()
    assert [r["page_id"] for r in rows] == [p.id for p in bnwiki_pages]  # dump order kept
    for row, page in zip(rows, bnwiki_pages, strict=True):
        rev = page.latest
        assert row["title"] == page.title and row["namespace"] == page.ns
        assert row["is_redirect"] == page.is_redirect and row["redirect_target"] == page.redirect_target
        assert row["revision_id"] == rev.id and row["parent_revision_id"] == rev.parent_id
        assert row["timestamp"] == datetime.fromisoformat(rev.timestamp).astimezone(UTC)
        assert row["contributor_name"] == rev.contributor_name and row["contributor_id"] == rev.contributor_id
        assert row["contributor_ip"] == rev.contributor_ip
        assert row["is_minor"] == rev.minor and row["comment"] == rev.comment
        assert (row["content_model"], row["content_format"]) == (rev.model, rev.format)
        assert row["sha1"] == rev.sha1 and row["size_bytes"] == rev.size
        assert row["text"] == rev.text and row["text_deleted"] is False
        assert row["wikibase_item"] is None  # the xztextfilter fixtures carry no page_props
        assert (row["project"], row["dump_date"], row["source_file"]) == ("bnwiki", "20230501", BNWIKI.name)
    redirect = next(r for r in rows if r["is_redirect"])
    assert redirect["redirect_target"]


def test_rows_per_file_is_exact(tmp_path, bnwiki_pages):
    with PageStoreWriter(
        tmp_path, project="bnwiki", dump_date="20230501", rows_per_file=250, rows_per_batch=64
    ) as w:
        w.write_pages(bnwiki_pages, source_file=BNWIKI.name)
    summary = w.close()
    assert [f.rows for f in summary.files] == [250, 250, 222]
    # Files follow each other in page id order without overlap (the dump is in id order).
    for before, after in zip(summary.files, summary.files[1:], strict=False):
        assert before.max_page_id < after.min_page_id
    assert summary.max_buffered_rows <= 64


def test_duplicate_page_ids_are_reported_not_written(tmp_path, bnwiki_pages):
    first = bnwiki_pages[:40]
    again = dataclasses.replace(bnwiki_pages[10], title="Same id, other title")
    with PageStoreWriter(tmp_path, project="bnwiki", dump_date="20230501") as w:
        w.write_pages(first, source_file="part1.xml.bz2")
        assert w.add(again, source_file="part2.xml.bz2") is False
        assert w.add(bnwiki_pages[10], source_file="part2.xml.bz2") is False
        assert w.add(bnwiki_pages[40], source_file="part2.xml.bz2") is True
    summary = w.close()
    assert summary.rows == 41
    assert summary.duplicate_count == 2
    assert [(d.page_id, d.title, d.source_file) for d in summary.duplicates] == [
        (again.id, "Same id, other title", "part2.xml.bz2"),
        (again.id, bnwiki_pages[10].title, "part2.xml.bz2"),
    ]
    table = pq.read_table(summary.files[0].path, columns=["page_id", "title", "source_file"]).to_pylist()
    kept = [r for r in table if r["page_id"] == again.id]
    assert kept == [{"page_id": again.id, "title": bnwiki_pages[10].title, "source_file": "part1.xml.bz2"}]
    assert len({r["page_id"] for r in table}) == len(table) == 41


def test_out_of_order_and_huge_page_ids(tmp_path, bnwiki_pages):
    pages = [dataclasses.replace(bnwiki_pages[0], id=5_000_000_000), bnwiki_pages[1], bnwiki_pages[0]]
    with PageStoreWriter(tmp_path, project="bnwiki", dump_date="20230501") as w:
        w.write_pages(pages + [pages[0]], source_file="x.xml")
    summary = w.close()
    assert summary.rows == 3 and not summary.ascending
    assert [d.page_id for d in summary.duplicates] == [5_000_000_000]
    assert (summary.files[0].min_page_id, summary.files[0].max_page_id) == (bnwiki_pages[0].id, 5_000_000_000)


def test_memory_stays_bounded_over_the_seven_wikis(tmp_path):
    """Small limits over all the fixture wikis: the buffer and the row groups never pass them."""
    rows_per_batch, batch_text = 25, 128 * 1024
    for wiki in XZTEXTFILTER_WIKIS:
        source = XZ_DIR / f"{wiki}-truncated-100k.xml.xz"
        parsed = collections.Counter()
        out = tmp_path / wiki

        def pages(source=source, parsed=parsed):
            # Streamed straight from the parser: the test holds no list of pages either.
            for page in iter_pages(source, name=source.name, keep_partial=True):
                parsed[page.ns] += 1
                yield page

        with PageStoreWriter(
            out,
            project=wiki,
            dump_date="20230501",
            rows_per_batch=rows_per_batch,
            batch_text_bytes=batch_text,
            max_file_bytes=512 * 1024,
        ) as writer:
            writer.write_pages(pages(), source_file=source.name)
        summary = writer.close()

        assert summary.rows == sum(parsed.values()) and summary.pages_per_namespace == dict(parsed), wiki
        assert summary.max_buffered_rows <= rows_per_batch, wiki
        # Text budget: exceeded only by a page that is larger than the budget on its own.
        assert summary.max_buffered_text_bytes <= max(batch_text, summary.largest_page_text_bytes), wiki
        assert len(summary.files) > 1, wiki
        for f in summary.files:
            meta = pq.read_metadata(f.path)
            for i in range(meta.num_row_groups):
                assert meta.row_group(i).num_rows <= rows_per_batch
        assert sum(pq.read_metadata(f.path).num_rows for f in summary.files) == summary.rows


@pytest.mark.parametrize(
    ("wiki", "limits"),
    [
        ("bnwiki", {"rows_per_batch": 64, "batch_text_bytes": 8 * 1024 * 1024, "rows_per_file": 250}),
        ("jawiki", {"rows_per_batch": 25, "batch_text_bytes": 128 * 1024, "max_file_bytes": 512 * 1024}),
        ("mrwiki", {"rows_per_batch": 1, "batch_text_bytes": 1, "rows_per_file": 3}),
    ],
)
def test_row_batches_write_the_files_that_pages_write(tmp_path, wiki, limits):
    """add_rows (the parse workers' Arrow batches) and add (one page at a time): the same bytes in the same
    files, the same duplicates and summary, whatever the budgets and however the batches fall."""
    source = XZ_DIR / f"{wiki}-truncated-100k.xml.xz"
    pages = read_pages(source)
    pages = pages[:30] + pages[10:13] + pages[30:]  # three duplicates, inside a batch and across two
    items = {page.id: f"Q{page.id}" for page in pages[::3]}
    summaries, contents = [], []
    for way in ("pages", "rows"):
        with PageStoreWriter(tmp_path / way, project=wiki, dump_date="20230501", **limits) as writer:
            if way == "pages":
                for page in pages:
                    writer.add(page, source_file=source.name, wikibase_item=items.get(page.id))
            else:
                kept = 0
                for start in range(0, len(pages), 17):
                    chunk = pages[start : start + 17]
                    kept += writer.add_rows(
                        page_rows(chunk), source_file=source.name, wikibase_items=[items.get(p.id) for p in chunk]
                    )
                assert kept == len(pages) - 3
        summary = writer.close().to_dict()
        contents.append([Path(f["path"]).read_bytes() for f in summary["files"]])
        for record in summary["files"]:
            record.pop("path")
        summary.pop("out_dir")
        summaries.append(summary)
    assert summaries[0] == summaries[1]
    assert contents[0] == contents[1]
    assert summaries[0]["duplicate_count"] == 3 and summaries[0]["wikibase_items"] > 0


def test_a_writer_takes_pages_or_rows_not_both(tmp_path, bnwiki_pages):
    with PageStoreWriter(tmp_path, project="bnwiki", dump_date="20230501") as w:
        w.add_rows(page_rows(bnwiki_pages[:5]), source_file="x")
        with pytest.raises(RuntimeError, match="not both"):
            w.add(bnwiki_pages[5], source_file="x")
        with pytest.raises(ValueError, match="3 Wikidata items for 5 rows"):
            w.add_rows(page_rows(bnwiki_pages[5:10]), source_file="x", wikibase_items=["Q1", None, "Q2"])
    assert w.close().rows == 5


def test_failed_run_leaves_no_partial_file_and_refuses_stale_dirs(tmp_path, bnwiki_pages):
    with (
        pytest.raises(RuntimeError, match="boom"),
        PageStoreWriter(tmp_path, project="bnwiki", dump_date="20230501", rows_per_batch=10) as w,
    ):
        w.write_pages(bnwiki_pages[:35], source_file="x")
        raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # one file in progress, removed
    (tmp_path / "part-00000.parquet").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        PageStoreWriter(tmp_path, project="bnwiki", dump_date="20230501")


def test_page_store_prefix():
    assert page_store_prefix("bnwiki", "20230501") == "pages/bnwiki/20230501/"
    with pytest.raises(ConfigurationError):
        page_store_prefix("../etc", "20230501")
    with pytest.raises(ValueError):
        page_store_prefix("bnwiki", "2023-05-01")


# --------------------------------------------------------------------------------------------------
# Wikidata items from page_props
# --------------------------------------------------------------------------------------------------


def test_enwiki_mirror_joined_with_its_page_props(tmp_path):
    records = read_enterprise_records(FIXTURES / "wme-articles" / "enwiki")
    date = enterprise_dump_date(records)
    run = build_dumps_mirror(
        tmp_path / "mirror",
        "enwiki",
        date,
        export_xml_from_enterprise_records(records, dbname="enwiki"),
        page_props=page_props_from_enterprise_records(records),
    )
    qids = wikibase_items(run.page_props_file.path)
    dump, index = run.multistream_files[0], run.index_files[0]
    with PageStoreWriter(tmp_path / "pages", project="enwiki", dump_date=date) as writer:
        writer.write_pages(
            parse_multistream(dump.path, index.path, workers=2), source_file=dump.name, wikibase_items=qids
        )
    summary = writer.close()
    assert summary.rows == 4 and summary.wikibase_items == 4
    table = pq.read_table(summary.files[0].path, columns=["page_id", "title", "wikibase_item", "source_file"])
    assert {r["page_id"]: r["wikibase_item"] for r in table.to_pylist()} == ENWIKI_QIDS
    assert set(table.column("source_file").to_pylist()) == {
        "enwiki-20250201-pages-articles-multistream.xml.bz2"
    }
    assert set(table.column("title").to_pylist()) == {r["name"] for r in records}


# --------------------------------------------------------------------------------------------------
# S3 and DuckDB, against the real SeaweedFS
# --------------------------------------------------------------------------------------------------


def test_publish_and_query_round_trip(object_store, bnwiki_store, tmp_path):
    prefix = page_store_prefix("bnwiki", "20230501")
    published = publish_page_store(object_store, bnwiki_store.out_dir, prefix, summary=bnwiki_store)

    assert [p.key for p in published] == [object_store.key(prefix, f.name) for f in bnwiki_store.files] + [
        object_store.key(prefix, MANIFEST_NAME)
    ]
    manifest = read_manifest(object_store, prefix)
    assert manifest["schema_fingerprint"] == SCHEMA_FINGERPRINT
    assert manifest["rows"] == 722 and manifest["project"] == "bnwiki" and manifest["dump_date"] == "20230501"
    assert manifest["summary"]["redirects"] == 76
    for entry, f, obj in zip(manifest["files"], bnwiki_store.files, published, strict=False):
        assert (entry["name"], entry["rows"], entry["sha256"]) == (f.name, f.rows, obj.sha256)
        assert (entry["min_page_id"], entry["max_page_id"]) == (f.min_page_id, f.max_page_id)
        assert object_store.head(entry["key"]).sha256 == entry["sha256"]

    query = query_page_store(object_store, prefix, cache_dir=tmp_path / "cache")
    assert query.mode in ("httpfs", "local-cache")
    per_namespace = dict(query.sql("SELECT namespace, count(*) FROM pages GROUP BY namespace").fetchall())
    assert per_namespace == bnwiki_store.pages_per_namespace
    assert query.sql("SELECT count(*) FROM pages WHERE is_redirect").fetchone()[0] == bnwiki_store.redirects
    assert query.sql("SELECT title FROM pages WHERE page_id = ?", 4).fetchone()[0] == "মিডিয়াউইকি:Category"

    if query.mode == "local-cache":
        # Content-addressed cache: a second open reuses the verified copies.
        cached = sorted((tmp_path / "cache").glob("*.parquet"))
        assert [p.stem for p in cached] == sorted(e["sha256"] for e in manifest["files"])
        again = query_page_store(object_store, prefix, cache_dir=tmp_path / "cache", use_httpfs=False)
        assert again.sources == query.sources
        assert again.sql("SELECT count(*) FROM pages").fetchone()[0] == 722


def test_republish_with_fewer_parts_removes_stale_parts(object_store, bnwiki_store, bnwiki_pages, tmp_path):
    prefix = page_store_prefix("bnwiki", "20230501")
    publish_page_store(object_store, bnwiki_store.out_dir, prefix)
    with PageStoreWriter(tmp_path / "one", project="bnwiki", dump_date="20230501") as w:
        w.write_pages(bnwiki_pages, source_file=BNWIKI.name)
    publish_page_store(object_store, tmp_path / "one", prefix)
    names = sorted(info.key.rsplit("/", 1)[-1] for info in object_store.list(object_store.key(prefix) + "/"))
    assert names == [MANIFEST_NAME, "part-00000.parquet"]
    assert json.loads(object_store.read_bytes(object_store.key(prefix, MANIFEST_NAME)))["rows"] == 722


def test_duckdb_s3_settings_and_httpfs(object_store, seaweedfs, bnwiki_store):
    settings = duckdb_s3_settings(object_store)
    assert settings["ENDPOINT"] == seaweedfs.endpoint_url.split("://", 1)[1]
    assert "://" not in settings["ENDPOINT"]
    assert settings["USE_SSL"] is False and settings["URL_STYLE"] == "path"
    assert (settings["KEY_ID"], settings["SECRET"]) == (EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY)
    assert settings["REGION"] == "us-east-1"

    prefix = page_store_prefix("bnwiki", "20230501")
    publish_page_store(object_store, bnwiki_store.out_dir, prefix)
    try:
        con = duckdb_connect_s3(object_store)
    except DuckDBHttpfsUnavailable as exc:
        # Offline machines: DuckDB's httpfs is a download, not part of the wheel.
        assert "httpfs" in str(exc) and "query_page_store" in str(exc)
        with pytest.raises(DuckDBHttpfsUnavailable):
            query_page_store(object_store, prefix, use_httpfs=True)
        with pytest.raises(DuckDBHttpfsUnavailable, match="cache_dir"):
            query_page_store(object_store, prefix)
        return
    glob = f"s3://{object_store.bucket}/{object_store.key(prefix)}/*.parquet"
    assert con.execute(f"SELECT count(*) FROM read_parquet('{glob}')").fetchone()[0] == 722
