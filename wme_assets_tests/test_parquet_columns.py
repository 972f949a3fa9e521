"""Some columns of a published page store read from SeaweedFS by ranged GETs: the same values and joins as
the whole files, for a fraction of their bytes (the bnwiki dump fixture, parsed into a real page store)."""

from __future__ import annotations

import hashlib

import pyarrow.parquet as pq
import pytest

DATE = "20230501"


@pytest.fixture
def bnwiki_page_store(object_store, dumps_mirror):
    from wme_assets.ingestion.download import download_run
    from wme_assets.ingestion.run import ingest_pages
    from wme_assets.sources.dumps_client import DumpsClient
    from wme_assets.storage.page_store import read_page_store_manifest

    client = DumpsClient(dumps_mirror.as_uri())
    store = object_store
    store.put_bytes(store.key(f"raw/bnwiki/{DATE}/dumpstatus.json"), client.fetch_status_bytes("bnwiki", DATE))
    download_run(client, store, "bnwiki", DATE)
    ingest_pages(store, "bnwiki", DATE, workers=2, step_bytes=1_000_000, log=lambda _: None)
    return store, read_page_store_manifest(store, "bnwiki", DATE)


def test_columns_of_a_page_store_read_alone_give_the_same_values_and_joins(bnwiki_page_store, tmp_path):
    from wme_assets.enrichment.run import REDIRECT_JOIN_COLUMNS, join_redirects
    from wme_assets.enrichment.tables_join import PAGE_COLUMNS, join_tables
    from wme_assets.storage.page_store import cached_page_files
    from wme_assets.storage.parquet_columns import RangeFile, column_copies
    from wme_assets.storage.parquet_dataset import cached_copy

    store, manifest = bnwiki_page_store
    assert len(manifest["files"]) >= 2
    columns = sorted({*REDIRECT_JOIN_COLUMNS, *PAGE_COLUMNS})
    whole = cached_page_files(store, manifest, tmp_path / "whole")
    copies = column_copies(store, manifest, columns, tmp_path / "columns")
    for full, copy in zip(whole, copies, strict=True):
        assert pq.read_table(copy).equals(pq.read_table(full, columns=columns))
        assert pq.ParquetFile(copy).num_row_groups == pq.ParquetFile(full).num_row_groups

    # The joins over the copies are the joins over the whole files, byte for byte.
    joined = [join_redirects(files, (0, 14), tmp_path / name) for name, files in (("a", whole), ("b", copies))]
    digests = [hashlib.sha256(j.path.read_bytes()).hexdigest() for j in joined]
    assert digests[0] == digests[1] and joined[0].redirects == joined[1].redirects > 0
    assert manifest.get("tables"), "the fixture's run has SQL tables"
    tables = {n: cached_copy(store, r, tmp_path / "tables") for n, r in manifest["tables"].items()}
    names = {int(ns): i.get("name") or "" for ns, i in manifest["siteinfo"]["namespaces"].items()}
    joins = [
        join_tables(files, tables, names, (0, 14), tmp_path / f"tables-{n}", date=DATE)
        for n, files in enumerate((whole, copies))
    ]
    assert joins[0].counts == joins[1].counts and joins[0].paths.keys() == joins[1].paths.keys()
    for group, path in joins[0].paths.items():
        assert pq.read_table(path).equals(pq.read_table(joins[1].paths[group])), group

    # Only the footer and those columns' chunks are fetched: a small part of each object.
    entry = max(manifest["files"], key=lambda e: e["size"])
    source = RangeFile(store, entry["key"], entry["size"])
    pq.ParquetFile(source, pre_buffer=True).read(columns=columns)
    assert source.bytes_read < entry["size"] / 4, (source.bytes_read, entry["size"])
    print(f"{entry['name']}: {source.bytes_read} of {entry['size']} bytes in {source.requests} requests")


def test_a_column_copy_refuses_an_object_that_is_not_the_manifests(bnwiki_page_store, tmp_path):
    from wme_assets.storage.parquet_columns import column_copy

    store, manifest = bnwiki_page_store
    entry = manifest["files"][0]
    with pytest.raises(ValueError, match="bytes, the manifest says"):
        column_copy(store, {**entry, "size": entry["size"] + 1}, ["title"], tmp_path / "a.parquet")
    with pytest.raises(ValueError, match="rows, the manifest says"):
        column_copy(store, {**entry, "rows": entry["rows"] + 1}, ["title"], tmp_path / "b.parquet")
    assert not list(tmp_path.iterdir())
