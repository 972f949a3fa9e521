"""Shards in object storage: their keys, publishing them (manifest last), checking, listing and querying.

Keys are relative to the store's prefix: ``parquet/{YYYYMMDD}/{id}/…`` for articles,
``parquet/structured-contents/{YYYYMMDD}/{id}/…`` for Structured Contents, each with its manifest beside
the folder.
"""

from __future__ import annotations

import os
import re

from wme_assets.publishing.parquet.manifest import MANIFEST_SUFFIX, ParquetManifest, ParquetShards, ShardInfo
from wme_assets.publishing.parquet.schema import Kind
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.parquet_dataset import PARQUET_CONTENT_TYPE, DatasetQuery, query_dataset
from wme_assets.util.dates import check_yyyymmdd

_SHARD_NAME = re.compile(r"^(?P<id>[a-z0-9_-]+_namespace_\d+)_(?P<index>\d{5,})\.parquet$")


def checked_date(date: str) -> str:
    return check_yyyymmdd(date, "date")


def _kind_top(kind: Kind) -> str:
    return "parquet" if kind == "article" else "parquet/structured-contents"


def parquet_prefix(date: str, identifier: str, kind: Kind = "article") -> str:
    """``parquet/{date}/{id}`` (articles) or ``parquet/structured-contents/{date}/{id}``."""
    return f"{_kind_top(kind)}/{checked_date(date)}/{identifier}"


def parquet_manifest_key(date: str, identifier: str, kind: Kind = "article") -> str:
    """``parquet/{date}/{id}.parquet-manifest.json``, beside the shards' folder."""
    return parquet_prefix(date, identifier, kind) + MANIFEST_SUFFIX


class ParquetPublishError(RuntimeError):
    """What the store holds after publishing is not what the manifest lists."""


def _in_place(store: ObjectStore, key: str, shard: ShardInfo) -> bool:
    info = store.head(key)
    return info is not None and info.size == shard.bytes and info.sha256 == shard.sha256


def publish_parquet(store: ObjectStore, shards: ParquetShards, *, date: str) -> ParquetManifest:
    """Publish the shards of ``shards`` for ``date`` (YYYYMMDD), then their manifest; returns the manifest.

    Each shard is re-hashed on the way up against what :func:`write_parquet_shards` recorded and published
    atomically; a shard already in place (same size and SHA-256) is not sent again, so a re-run after a
    failure completes the publish. The manifest is written only after every shard is checked in the store.
    """
    manifest = shards.manifest
    prefix = parquet_prefix(date, manifest.identifier, manifest.kind)
    published: list[ShardInfo] = []
    for shard in manifest.files:
        relative = f"{prefix}/{shard.name}"
        key = store.key(relative)
        if not _in_place(store, key, shard):
            store.publish_file(
                shards.path(shard), key, content_type=PARQUET_CONTENT_TYPE, expected={"sha256": shard.sha256}
            )
        published.append(shard.model_copy(update={"key": relative}))
    result = manifest.model_copy(update={"date": date, "files": published})
    problems = check_published_parquet(store, result)
    if problems:
        raise ParquetPublishError(f"{manifest.identifier} {date}: {'; '.join(problems)}")
    store.put_bytes(
        store.key(parquet_manifest_key(date, manifest.identifier, manifest.kind)),
        result.to_json(),
        content_type="application/json",
    )
    # Shards of an earlier publish of this day that the manifest no longer names: gone after it, so a
    # reader that globs the folder sees exactly the manifest's files too.
    keep = {store.key(shard.key) for shard in published}
    for info in store.list(store.key(prefix) + "/"):
        if info.key not in keep and _SHARD_NAME.match(info.key.rsplit("/", 1)[-1]):
            store.delete(info.key)
    return result


def check_published_parquet(store: ObjectStore, manifest: ParquetManifest) -> list[str]:
    """Problems with the published shards (missing, other size or SHA-256); empty when all are in place."""
    problems = []
    for shard in manifest.files:
        if shard.key is None:
            problems.append(f"{shard.name} has no key (not published)")
            continue
        info = store.head(store.key(shard.key))
        if info is None:
            problems.append(f"{store.uri(store.key(shard.key))} is missing")
        elif info.size != shard.bytes or (info.sha256 or shard.sha256) != shard.sha256:
            problems.append(
                f"{store.uri(info.key)} is {info.size} bytes with sha256 {info.sha256}, "
                f"the manifest says {shard.bytes} bytes with sha256 {shard.sha256}"
            )
    return problems


def read_parquet_manifest(store: ObjectStore, date: str, identifier: str, kind: Kind = "article") -> ParquetManifest:
    """The published manifest of one project-namespace-kind on ``date``."""
    return ParquetManifest.from_json(store.read_bytes(store.key(parquet_manifest_key(date, identifier, kind))))


def list_parquet_manifests(store: ObjectStore, date: str, kind: Kind = "article") -> list[ParquetManifest]:
    """Every Parquet manifest published for ``date`` (one per project-namespace), by identifier."""
    top = store.key(_kind_top(kind), checked_date(date)) + "/"
    keys = sorted(info.key for info in store.list(top) if info.key.endswith(MANIFEST_SUFFIX))
    return [ParquetManifest.from_json(store.read_bytes(key)) for key in keys]


def query_parquet(
    store: ObjectStore,
    manifest: ParquetManifest,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    view: str = "records",
    use_httpfs: bool | None = None,
) -> DatasetQuery:
    """A DuckDB view over a published manifest's shards: ``s3://`` through httpfs where it loads, else
    verified local copies in ``cache_dir`` (see :func:`wme_assets.storage.parquet_dataset.query_dataset`)."""
    files = [{"key": store.key(shard.key), "sha256": shard.sha256} for shard in manifest.files if shard.key]
    if len(files) != len(manifest.files):
        raise ValueError(f"{manifest.identifier}: the manifest is not a published one (shards without keys)")
    listing = {"files": files}
    return query_dataset(
        store,
        parquet_prefix(manifest.date, manifest.identifier, manifest.kind),
        manifest=listing,
        cache_dir=cache_dir,
        view=view,
        use_httpfs=use_httpfs,
    )
