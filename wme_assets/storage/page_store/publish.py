"""Publishing a page store and reading it back: upload with the manifest last, read the manifest, query with DuckDB."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from wme_assets.storage.object_store import ObjectStore, PublishedObject
from wme_assets.storage.page_store.layout import (
    MANIFEST_FORMAT,
    PAGE_SCHEMA,
    PAGE_STORE_SCHEMA_VERSION,
    SCHEMA_FINGERPRINT,
    page_store_prefix,
)
from wme_assets.storage.page_store.writer import PageStoreSummary
from wme_assets.storage.parquet_dataset import (
    DatasetQuery,
    cached_files,
    part_paths,
    publish_dataset,
    publish_manifest,
    query_dataset,
)
from wme_assets.storage.parquet_dataset import read_manifest as read_dataset_manifest


def publish_page_store(
    store: ObjectStore,
    local_dir: str | os.PathLike[str],
    key_prefix: str,
    *,
    summary: PageStoreSummary | None = None,
    siteinfo: Mapping[str, Any] | None = None,
    tables: Mapping[str, Mapping[str, Any]] | None = None,
    tables_skipped: Mapping[str, str] | None = None,
) -> list[PublishedObject]:
    """Upload the ``part-*.parquet`` files of ``local_dir`` under ``key_prefix``, then ``_manifest.json``.

    ``siteinfo`` (the dump's header: dbname, base URL, language, namespace names) is kept in the manifest
    for the stages that need the wiki's names, e.g. ``Category`` in its local spelling. ``tables`` names the
    run's SQL tables already published beside the parts (table -> ``key``, ``sha256``, ``rows``, ``shape``,
    ``source``), ``tables_skipped`` those the run lacks (table -> why); both are left out when empty.

    ``key_prefix`` is relative to the store's prefix (:func:`page_store_prefix`). Every file is
    published atomically (staged, verified, copied); the manifest comes last, so a reader that starts
    from the manifest only ever sees complete page stores. Part files of an earlier publish under the
    same prefix that are not in the new manifest are deleted after it. Returns the published objects,
    the manifest last.
    """
    if summary is not None:
        project, dump_date = summary.project, summary.dump_date
    else:
        # Without a summary, the provenance every file carries in its metadata names the page store.
        project = dump_date = None
        for path in part_paths(local_dir):
            meta = pq.read_schema(path).metadata or {}
            project = project or meta.get(b"wme.project", b"").decode() or None
            dump_date = dump_date or meta.get(b"wme.dump_date", b"").decode() or None
    fields = page_store_fields(
        project, dump_date, summary=summary, siteinfo=siteinfo, tables=tables, tables_skipped=tables_skipped
    )
    published = publish_dataset(
        store,
        local_dir,
        key_prefix,
        schema=PAGE_SCHEMA,
        format=MANIFEST_FORMAT,
        schema_version=PAGE_STORE_SCHEMA_VERSION,
        fields=fields,
        what="page store",
    )
    return published.objects


def page_store_fields(
    project: str | None,
    dump_date: str | None,
    *,
    summary: PageStoreSummary | Mapping[str, Any] | None = None,
    siteinfo: Mapping[str, Any] | None = None,
    tables: Mapping[str, Mapping[str, Any]] | None = None,
    tables_skipped: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The page store's own fields of its manifest (see :func:`publish_page_store`); ``summary`` is the
    writer's, or already the manifest's ``summary`` record (the steps of a split run add theirs up)."""
    fields: dict[str, Any] = {"project": project, "dump_date": dump_date}
    if siteinfo is not None:
        fields["siteinfo"] = dict(siteinfo)
    if tables:
        fields["tables"] = {name: dict(record) for name, record in tables.items()}
    if tables_skipped:
        fields["tables_skipped"] = dict(tables_skipped)
    if isinstance(summary, PageStoreSummary):
        fields["summary"] = {
            "pages_per_namespace": {str(ns): n for ns, n in sorted(summary.pages_per_namespace.items())},
            "redirects": summary.redirects,
            "text_bytes": summary.text_bytes,
            "wikibase_items": summary.wikibase_items,
            "duplicate_count": summary.duplicate_count,
            "duplicate_page_ids": [d.page_id for d in summary.duplicates],
            "ascending": summary.ascending,
        }
    elif summary is not None:
        fields["summary"] = dict(summary)
    return fields


def publish_page_store_parts(
    store: ObjectStore, key_prefix: str, entries: list[dict[str, Any]], fields: Mapping[str, Any]
) -> list[PublishedObject]:
    """The manifest of a page store whose parts are already published (:func:`publish_part`, one step each):
    ``entries`` in part order, ``fields`` from :func:`page_store_fields`. Returns the manifest's object."""
    return publish_manifest(
        store,
        key_prefix,
        entries,
        schema=PAGE_SCHEMA,
        format=MANIFEST_FORMAT,
        schema_version=PAGE_STORE_SCHEMA_VERSION,
        fields=fields,
    ).objects


def read_manifest(store: ObjectStore, key_prefix: str) -> dict[str, Any]:
    """The ``_manifest.json`` of a published page store, checked against this code's schema."""
    return read_dataset_manifest(
        store, key_prefix, format=MANIFEST_FORMAT, fingerprint=SCHEMA_FINGERPRINT, what="page store"
    )


def read_page_store_manifest(store: ObjectStore, project: str, date: str) -> dict[str, Any]:
    """The checked manifest of the page store of ``project``'s dump of ``date``: where a reading stage starts."""
    return read_manifest(store, page_store_prefix(project, date))


def cached_page_files(
    store: ObjectStore, manifest: Mapping[str, Any], cache_dir: str | os.PathLike[str]
) -> list[Path]:
    """The manifest's part files in its order, downloaded into ``cache_dir`` (by SHA-256, verified, reused)."""
    return cached_files(store, manifest, cache_dir)


# --------------------------------------------------------------------------------------------------
# DuckDB
# --------------------------------------------------------------------------------------------------

# A page store query is a dataset query; the old name stays for callers.
PageStoreQuery = DatasetQuery


def query_page_store(
    store: ObjectStore,
    key_prefix: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    connection=None,
    view: str = "pages",
    use_httpfs: bool | None = None,
) -> PageStoreQuery:
    """Open a published page store for SQL: ``SELECT … FROM pages`` over the files in its manifest.

    With ``use_httpfs`` None (the default) DuckDB reads S3 directly when its httpfs extension loads,
    and otherwise downloads the files into ``cache_dir`` (content-addressed by SHA-256, verified against
    the manifest; reused across calls). True insists on httpfs, False always downloads.
    """
    return query_dataset(
        store,
        key_prefix,
        manifest=read_manifest(store, key_prefix),
        cache_dir=cache_dir,
        connection=connection,
        view=view,
        use_httpfs=use_httpfs,
    )
