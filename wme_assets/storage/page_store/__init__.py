"""The page store: the parsed pages of one (project, dump date) as Parquet, one row per page.

It is what the ingestion stage leaves for every later stage: each page of the dump with its latest
revision, the Wikidata item from ``page_props`` joined in, and where the row came from. Layout in the
object store (keys relative to the store's prefix, see :func:`page_store_prefix`)::

    pages/{project}/{date}/part-00000.parquet
    pages/{project}/{date}/part-00001.parquet
    ...
    pages/{project}/{date}/_manifest.json     written last: files, rows, sha256, schema fingerprint

Writing (:class:`PageStoreWriter`) keeps memory bounded by design: pages are buffered into one record
batch of at most ``rows_per_batch`` rows or ``batch_text_bytes`` of wikitext (a single larger page is a
batch of its own), every batch becomes one Parquet row group, and a file is closed once it reaches
``rows_per_file`` rows or ``max_file_bytes`` on disk. Page ids are tracked in a bitmap (one bit per
possible id: enwiki's ~80 million ids take 10 MB), so a page seen twice is detected, reported and not
written again.

Reading with DuckDB: :func:`duckdb_connect_s3` configures DuckDB's ``httpfs`` extension for the store,
after which ``read_parquet('s3://bucket/prefix/pages/bnwiki/20230501/*.parquet')`` works. ``httpfs``
is not built into DuckDB: it is downloaded by ``INSTALL httpfs`` (needs internet, or an extension
directory baked into the image). Where it cannot be loaded, :func:`query_page_store` downloads the files
named by the manifest into a local, content-addressed cache and queries those instead — same SQL, same
result.

What is not specific to pages (part files, publishing with the manifest last, manifests, DuckDB, the
cache) lives in :mod:`wme_assets.storage.parquet_dataset` and :mod:`wme_assets.storage.parquet_writer`;
this package adds the page schema, the writer and thin wrappers that keep the page store's names:

- :mod:`.layout`: the row schema, file encoding, manifest format and key layout;
- :mod:`.writer`: :class:`PageStoreWriter`, pages to local part files, duplicates reported;
- :mod:`.publish`: :func:`publish_page_store`, the manifest and files read back, :func:`query_page_store`.
"""

from __future__ import annotations

from wme_assets.storage.page_store.layout import (
    MANIFEST_FORMAT,
    PAGE_SCHEMA,
    PAGE_STORE_SCHEMA_VERSION,
    SCHEMA_FINGERPRINT,
    page_store_prefix,
)
from wme_assets.storage.page_store.publish import (
    PageStoreQuery,
    cached_page_files,
    page_store_fields,
    publish_page_store,
    publish_page_store_parts,
    query_page_store,
    read_manifest,
    read_page_store_manifest,
)
from wme_assets.storage.page_store.writer import (
    MAX_REPORTED_DUPLICATES,
    PAGE_ROW_SCHEMA,
    DuplicatePage,
    PageStoreFile,
    PageStoreSummary,
    PageStoreWriter,
    page_rows,
)
from wme_assets.storage.parquet_dataset import (
    MANIFEST_NAME,
    DuckDBHttpfsUnavailable,
    duckdb_connect_s3,
    duckdb_s3_settings,
    schema_fingerprint,
)

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "MAX_REPORTED_DUPLICATES",
    "PAGE_ROW_SCHEMA",
    "PAGE_SCHEMA",
    "SCHEMA_FINGERPRINT",
    "PAGE_STORE_SCHEMA_VERSION",
    "DuckDBHttpfsUnavailable",
    "DuplicatePage",
    "PageStoreFile",
    "PageStoreQuery",
    "PageStoreSummary",
    "PageStoreWriter",
    "cached_page_files",
    "duckdb_connect_s3",
    "duckdb_s3_settings",
    "page_rows",
    "page_store_prefix",
    "page_store_fields",
    "publish_page_store",
    "publish_page_store_parts",
    "query_page_store",
    "read_manifest",
    "read_page_store_manifest",
    "schema_fingerprint",
]
