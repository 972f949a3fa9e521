"""A Parquet dataset in object storage: ``part-*.parquet`` files under a key prefix, ``_manifest.json`` last.

The building blocks every Parquet store of wme shares (the page store, the article store's bases and
deltas), so each store only has to say what its rows are::

    {prefix}/part-00000.parquet
    {prefix}/part-00001.parquet
    ...
    {prefix}/_manifest.json    written last: format, schema fingerprint, files with rows and sha256, extras

- :class:`PartWriter` (in :mod:`wme_assets.storage.parquet_writer`, re-exported here) writes record batches
  to ``part-NNNNN.parquet`` files in a local directory, one batch per row group, rolling to a new file by
  rows or bytes. A file appears under its final name only once it is complete.
- :func:`publish_dataset` uploads such a directory: every file atomically (staged, verified, copied), the
  manifest last, so a reader that starts from the manifest only ever sees complete datasets; part files
  of an earlier publish that the new manifest does not name are deleted afterwards.
- :func:`read_manifest` reads a manifest back and checks it is the expected kind and schema.
- :func:`duckdb_connect_s3` points DuckDB's ``httpfs`` extension at the store. ``httpfs`` is not built
  into DuckDB: ``INSTALL httpfs`` downloads it (needs internet, or an extension directory baked into the
  image). Where it cannot be loaded, :func:`query_dataset` downloads the manifest's files into a local,
  content-addressed cache (:func:`cached_files`) and queries those instead — same SQL, same result.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from wme_assets.storage.object_store import ObjectStore, PublishedObject
from wme_assets.storage.parquet_writer import PartFile, PartWriter
from wme_assets.util.sizes import MiB

__all__ = [
    "MANIFEST_NAME",
    "PARQUET_CONTENT_TYPE",
    "PART_NAME",
    "DatasetQuery",
    "DuckDBHttpfsUnavailable",
    "PartFile",
    "PartWriter",
    "PublishedDataset",
    "cached_copy",
    "cached_files",
    "check_file_schema",
    "column_range",
    "duckdb_connect_s3",
    "duckdb_s3_settings",
    "part_paths",
    "publish_dataset",
    "move_published",
    "publish_manifest",
    "publish_part",
    "query_dataset",
    "read_manifest",
    "schema_fingerprint",
    "sql_literal",
    "verify_published",
]

log = logging.getLogger(__name__)

MANIFEST_NAME = "_manifest.json"
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"
PART_NAME = re.compile(r"^part-\d{5,}\.parquet$")


def schema_fingerprint(schema: pa.Schema) -> str:
    """SHA-256 of the schema's names, types and nullability (independent of pyarrow's IPC encoding)."""
    canonical = json.dumps([[f.name, str(f.type), f.nullable] for f in schema], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# --------------------------------------------------------------------------------------------------
# Publishing
# --------------------------------------------------------------------------------------------------


def part_paths(local_dir: str | os.PathLike[str], *, allow_empty: bool = False) -> list[Path]:
    """The ``part-*.parquet`` files of ``local_dir`` in part order."""
    local_dir = Path(local_dir)
    paths = sorted(p for p in local_dir.iterdir() if PART_NAME.match(p.name))
    if not paths and not allow_empty:
        raise FileNotFoundError(f"no part-*.parquet files in {local_dir}")
    return paths


def check_file_schema(path: Path, schema: pa.Schema, *, what: str = "dataset") -> pa.Schema:
    """The file's schema (with its metadata), after checking it is ``schema``."""
    found = pq.read_schema(path)
    if not found.equals(schema, check_metadata=False):
        raise ValueError(
            f"{path} does not have the {what} schema (fingerprint {schema_fingerprint(found)}, "
            f"expected {schema_fingerprint(schema)})"
        )
    return found


def column_range(metadata: pq.FileMetaData, column: str) -> tuple[Any, Any]:
    """Min and max of a column over a file's row groups, from the statistics (None without them)."""
    index = metadata.schema.to_arrow_schema().get_field_index(column)
    lows, highs = [], []
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(index).statistics
        if stats is not None and stats.has_min_max:
            lows.append(stats.min)
            highs.append(stats.max)
    return (min(lows), max(highs)) if lows else (None, None)


@dataclass
class PublishedDataset:
    key_prefix: str
    manifest: dict[str, Any]
    objects: list[PublishedObject]  # the part files, then the manifest


def publish_dataset(
    store: ObjectStore,
    local_dir: str | os.PathLike[str],
    key_prefix: str,
    *,
    schema: pa.Schema,
    format: str,
    schema_version: str,
    fields: Mapping[str, Any] | None = None,
    range_column: str | None = "page_id",
    allow_empty: bool = False,
    what: str = "dataset",
) -> PublishedDataset:
    """Upload the ``part-*.parquet`` files of ``local_dir`` under ``key_prefix``, then ``_manifest.json``.

    ``key_prefix`` is relative to the store's prefix. Every file must have ``schema`` (checked before
    anything is uploaded). The manifest records ``format`` (what kind of dataset this is), the schema and
    its fingerprint, every file with its rows, sha256 and the range of ``range_column``, plus ``fields``.
    Part files of an earlier publish under the same prefix that the new manifest does not name are deleted
    after it, so readers that glob ``*.parquet`` do not see them either. ``allow_empty`` accepts a
    directory without part files (a manifest with no files).
    """
    paths = part_paths(local_dir, allow_empty=allow_empty)
    for path in paths:
        check_file_schema(path, schema, what=what)
    entries, published = [], []
    for path in paths:
        entry, obj = publish_part(store, path, key_prefix, path.name, range_column=range_column)
        entries.append(entry)
        published.append(obj)
    dataset = publish_manifest(
        store, key_prefix, entries, schema=schema, format=format, schema_version=schema_version, fields=fields
    )
    return PublishedDataset(key_prefix=key_prefix, manifest=dataset.manifest, objects=published + dataset.objects)


def publish_part(
    store: ObjectStore, path: Path, key_prefix: str, name: str, *, range_column: str | None = "page_id"
) -> tuple[dict[str, Any], PublishedObject]:
    """Upload one part file as ``key_prefix/name``; its manifest entry (rows, sha256, key range) and the object.

    For datasets whose parts are written by several processes (the steps of a split run): each publishes its
    own parts, and one :func:`publish_manifest` names them all."""
    if not PART_NAME.match(name):
        raise ValueError(f"{name!r} is not a part file name (part-NNNNN.parquet)")
    metadata = pq.read_metadata(path)
    obj = store.publish_file(path, store.key(key_prefix, name), content_type=PARQUET_CONTENT_TYPE)
    entry: dict[str, Any] = {
        "name": name,
        "key": obj.key,
        "uri": obj.uri,
        "size": obj.size,
        "sha256": obj.sha256,
        "rows": metadata.num_rows,
        "row_groups": metadata.num_row_groups,
    }
    if range_column:
        entry[f"min_{range_column}"], entry[f"max_{range_column}"] = column_range(metadata, range_column)
    return entry, obj


def move_published(store: ObjectStore, source: str, key: str, record: Mapping[str, Any]) -> str:
    """Server-side copy of a published file (a step's, from its scratch) to ``key``, checked against its
    ``record`` (``size``, ``sha256``); returns ``key``."""
    store.copy_object(source, key)
    info = store.head(key)
    if info is None or info.size != record["size"] or (info.sha256 and info.sha256 != record["sha256"]):
        raise ValueError(f"{store.uri(key)}: the copy of {store.uri(source)} is not the file its step published")
    return key


def publish_manifest(
    store: ObjectStore,
    key_prefix: str,
    entries: list[dict[str, Any]],
    *,
    schema: pa.Schema,
    format: str,
    schema_version: str,
    fields: Mapping[str, Any] | None = None,
) -> PublishedDataset:
    """Write ``_manifest.json`` naming ``entries`` (published by :func:`publish_part`, in part order), then
    delete the part files under ``key_prefix`` it does not name (an earlier publish's)."""
    manifest: dict[str, Any] = {
        "format": format,
        "schema_version": schema_version,
        "schema_fingerprint": schema_fingerprint(schema),
        "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema],
        **(fields or {}),
        "rows": sum(e["rows"] for e in entries),
        "files": list(entries),
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    written = store.put_bytes(
        store.key(key_prefix, MANIFEST_NAME),
        json.dumps(manifest, indent=2).encode("utf-8"),
        content_type="application/json",
    )
    keep = {e["key"] for e in entries}
    for info in store.list(store.key(key_prefix) + "/"):
        name = info.key.rsplit("/", 1)[-1]
        if PART_NAME.match(name) and info.key not in keep:
            store.delete(info.key)
    return PublishedDataset(key_prefix=key_prefix, manifest=manifest, objects=[written])


def read_manifest(
    store: ObjectStore,
    key_prefix: str,
    *,
    format: str | None = None,
    fingerprint: str | None = None,
    what: str = "dataset",
) -> dict[str, Any]:
    """The ``_manifest.json`` under ``key_prefix``, checked to be ``format`` with schema ``fingerprint``."""
    key = store.key(key_prefix, MANIFEST_NAME)
    manifest = json.loads(store.read_bytes(key))
    if format is not None and manifest.get("format") != format:
        raise ValueError(f"{store.uri(key)} is not a {what} manifest")
    if fingerprint is not None and manifest.get("schema_fingerprint") != fingerprint:
        raise ValueError(
            f"{what} {key_prefix} has schema {manifest.get('schema_fingerprint')}, this code reads "
            f"{fingerprint}: rebuild it"
        )
    return manifest


def verify_published(store: ObjectStore, manifest: Mapping[str, Any]) -> None:
    """Check that every file a manifest names is in the store with the size and sha256 it records.

    One HEAD per file: cheap enough to run before a pointer is moved to the dataset.
    """
    for entry in manifest["files"]:
        info = store.head(entry["key"])
        if info is None:
            raise FileNotFoundError(f"{store.uri(entry['key'])} is named by its manifest but missing")
        if info.size != entry["size"] or (info.sha256 and info.sha256 != entry["sha256"]):
            raise ValueError(
                f"{store.uri(entry['key'])} is {info.size} bytes with sha256 {info.sha256}, its manifest says "
                f"{entry['size']} bytes with sha256 {entry['sha256']}"
            )


# --------------------------------------------------------------------------------------------------
# DuckDB and the local cache
# --------------------------------------------------------------------------------------------------


class DuckDBHttpfsUnavailable(RuntimeError):
    """DuckDB's httpfs extension cannot be loaded (not installed, and no network to install it)."""


def _store_credentials(store: ObjectStore):
    # The client's own credentials are the ones the store really uses (explicit keys, env, profile or
    # role); botocore only exposes them through this accessor.
    credentials = store.client._get_credentials()
    if credentials is None:
        import boto3

        credentials = boto3.Session().get_credentials()
    if credentials is None:
        raise DuckDBHttpfsUnavailable("no S3 credentials found for DuckDB (set AWS_ACCESS_KEY_ID/SECRET)")
    return credentials.get_frozen_credentials()


def duckdb_s3_settings(store: ObjectStore) -> dict[str, Any]:
    """The parameters of a DuckDB ``TYPE s3`` secret that reaches ``store``.

    DuckDB wants the endpoint without scheme (``127.0.0.1:8333``), TLS as a separate flag, and path-style
    URLs (what every S3-compatible server supports, like the store's own client).
    """
    frozen = _store_credentials(store)
    settings: dict[str, Any] = {
        "KEY_ID": frozen.access_key,
        "SECRET": frozen.secret_key,
        "REGION": store.client.meta.region_name or "us-east-1",
        "URL_STYLE": "path",
        "USE_SSL": True,
    }
    if frozen.token:
        settings["SESSION_TOKEN"] = frozen.token
    if store.endpoint_url:
        parts = urlsplit(store.endpoint_url)
        settings["ENDPOINT"] = parts.netloc
        settings["USE_SSL"] = parts.scheme == "https"
    return settings


def sql_literal(value: Any) -> str:
    """A SQL literal for a string or bool (for the places DuckDB takes no parameters: DDL, file lists)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "'" + str(value).replace("'", "''") + "'"


def duckdb_connect_s3(store: ObjectStore, *, connection=None, install: bool = False):
    """A DuckDB connection whose ``s3://`` URLs reach ``store`` (through the httpfs extension).

    ``install=True`` runs ``INSTALL httpfs`` first, which downloads the extension (needs internet).
    Raises :class:`DuckDBHttpfsUnavailable` when httpfs cannot be loaded; :func:`query_dataset` then
    falls back to a local copy.
    """
    import duckdb

    con = connection if connection is not None else duckdb.connect()
    try:
        if install:
            con.install_extension("httpfs")
        con.load_extension("httpfs")
    except duckdb.Error as exc:
        raise DuckDBHttpfsUnavailable(
            f"DuckDB {duckdb.__version__} cannot load its httpfs extension ({exc}). Install it where there "
            "is internet (`INSTALL httpfs`) or bake the extension directory into the image; "
            "query_dataset (query_page_store) can download the files and query them locally instead."
        ) from None
    options = ", ".join(f"{name} {sql_literal(value)}" for name, value in duckdb_s3_settings(store).items())
    con.execute(f"CREATE OR REPLACE SECRET wme_s3 (TYPE s3, {options})")
    return con


def cached_copy(store: ObjectStore, entry: Mapping[str, Any], cache_dir: Path) -> Path:
    """The file of a manifest entry in the cache, named by its SHA-256 so a stale copy cannot be used."""
    target = cache_dir / f"{entry['sha256']}.parquet"
    if target.exists():
        return target
    # A staging name of its own per download, so two processes filling one cache do not collide.
    staging = cache_dir / f".{entry['sha256']}.{os.getpid()}.download"
    store.download_file(entry["key"], staging)
    digest = hashlib.sha256()
    with open(staging, "rb") as f:
        while chunk := f.read(8 * MiB):
            digest.update(chunk)
    if digest.hexdigest() != entry["sha256"]:
        staging.unlink(missing_ok=True)
        raise ValueError(
            f"{store.uri(entry['key'])}: downloaded sha256 {digest.hexdigest()}, manifest says {entry['sha256']}"
        )
    os.replace(staging, target)
    return target


def cached_files(store: ObjectStore, manifest: Mapping[str, Any], cache_dir: str | os.PathLike[str]) -> list[Path]:
    """Local, verified copies of a manifest's files (downloaded once, reused while their sha256 holds)."""
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    return [cached_copy(store, entry, cache) for entry in manifest["files"]]


@dataclass
class DatasetQuery:
    """A DuckDB connection with a view over one published dataset."""

    connection: Any  # duckdb.DuckDBPyConnection
    view: str
    mode: str  # "httpfs" (read from S3) or "local-cache" (downloaded files)
    sources: list[str]  # the s3:// URIs or local paths behind the view
    manifest: dict[str, Any] = field(repr=False)

    def sql(self, query: str, *params: Any):
        return self.connection.execute(query, list(params) if params else None)


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def query_dataset(
    store: ObjectStore,
    key_prefix: str,
    *,
    manifest: Mapping[str, Any] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    connection=None,
    view: str = "dataset",
    use_httpfs: bool | None = None,
) -> DatasetQuery:
    """Open a published dataset for SQL: ``SELECT … FROM {view}`` over the files in its manifest.

    ``manifest`` is read from ``key_prefix`` when not given (pass one read with :func:`read_manifest` to
    have its kind and schema checked). With ``use_httpfs`` None (the default) DuckDB reads S3 directly
    when its httpfs extension loads, and otherwise downloads the files into ``cache_dir``
    (content-addressed by SHA-256, verified against the manifest; reused across calls). True insists on
    httpfs, False always downloads.
    """
    import duckdb

    if not _IDENTIFIER.match(view):
        raise ValueError(f"view name {view!r} is not a plain SQL identifier")
    if manifest is None:
        manifest = read_manifest(store, key_prefix)
    con = connection if connection is not None else duckdb.connect()
    mode = None
    if use_httpfs is not False:
        try:
            duckdb_connect_s3(store, connection=con)
            mode, sources = "httpfs", [store.uri(entry["key"]) for entry in manifest["files"]]
        except DuckDBHttpfsUnavailable:
            if use_httpfs:
                raise
            log.info("DuckDB httpfs unavailable: querying %s from a local copy", key_prefix)
    if mode is None:
        if cache_dir is None:
            raise DuckDBHttpfsUnavailable(
                "DuckDB's httpfs extension is unavailable; pass cache_dir to download the dataset instead"
            )
        mode, sources = "local-cache", [str(p) for p in cached_files(store, manifest, cache_dir)]
    files = ", ".join(sql_literal(source) for source in sources)
    con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM read_parquet([{files}])")
    return DatasetQuery(connection=con, view=view, mode=mode, sources=sources, manifest=dict(manifest))
