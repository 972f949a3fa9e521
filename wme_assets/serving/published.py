"""What the pipeline published, read for the API: listings, ``latest`` pointers, manifests, hourly batches.

Everything goes through the snapshot layout (:mod:`wme_assets.snapshots.layout`): the listing
``aggregations/{snapshots}/{snapshots}{sfx}.ndjson`` for the lists, the ``latest`` pointer for one
snapshot's metadata and archive, and the dated manifest it names for the chunks. Pointers are re-read on
every request (they move when a new snapshot verifies); a manifest is cached by its key and SHA-256, since a
dated manifest is immutable once a pointer names it.

Hourly batches have their own layout (:mod:`wme_assets.snapshots.batches`): the hour's listing
``aggregations/batches/{YYYY-MM-DD}/{HH}/batches.ndjson`` for the list, and for one batch its manifest
``batches/{YYYY-MM-DD}/{HH}/{id}.manifest.json`` (a batch is published when its manifest is there), which names
the archive and Enterprise's batch object beside it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson

from wme_assets.schema.manifest import LatestPointer
from wme_assets.snapshots.layout import (
    batch_key,
    batches_listing_key,
    load_manifest,
    read_latest,
    snapshots_listing_key,
)
from wme_assets.snapshots.manifest import ChunkEntry, SnapshotManifest, chunk_metadata
from wme_assets.storage.object_store import ObjectStore, ObjectStoreError

MANIFEST_CACHE = 64


PRESIGNED_SECONDS = 300


@dataclass(frozen=True)
class Download:
    """One published ``.tar.gz``: its key, size, MD5 (Enterprise's ``version``, our ETag) and file name."""

    key: str
    bytes: int
    md5: str
    filename: str


class SnapshotReader:
    def __init__(self, store: ObjectStore, *, redirect_downloads: bool = False, download_s3_url: str | None = None):
        self.store = store
        self.redirect_downloads = redirect_downloads  # GET of a download: 307 to a presigned URL (downloads.py)
        self.download_s3_url = download_s3_url
        self._manifests: OrderedDict[tuple[str, str], SnapshotManifest] = OrderedDict()
        self._lock = threading.Lock()

    def listing(self, kind: str, tier: str) -> list[dict[str, Any]]:
        """The kind's listing for the tier, one snapshot object per line (none yet: empty)."""
        key = self.store.key(snapshots_listing_key(tier, kind=kind))
        if self.store.head(key) is None:
            return []
        return [orjson.loads(line) for line in self.store.read_bytes(key).splitlines() if line.strip()]

    def batch_listing(self, hour: str) -> list[dict[str, Any]] | None:
        """The batch objects of an hour (``YYYYMMDDHH``) from its listing; None when the hour has none."""
        data = self._read_if_there(batches_listing_key(hour))
        return None if data is None else [orjson.loads(line) for line in data.splitlines() if line.strip()]

    def batch(self, hour: str, identifier: str) -> tuple[dict[str, Any], Download] | None:
        """One published batch of an hour: Enterprise's batch object and its archive; None when there is none."""
        manifest = load_manifest(self.store, batch_key(hour, identifier, "manifest"))
        archive = manifest.archive if manifest is not None and manifest.published is not None else None
        if archive is None or archive.key is None or archive.metadata is None:
            return None
        metadata = self._read_if_there(archive.metadata.key)  # None: removed by retention since the manifest was read
        if metadata is None:
            return None
        download = Download(key=archive.key, bytes=archive.bytes, md5=archive.md5, filename=f"{identifier}.tar.gz")
        return orjson.loads(metadata), download

    def _read_if_there(self, relative_key: str) -> bytes | None:
        """The object's bytes; None when there is none (a failure to read one that is there is raised)."""
        key = self.store.key(relative_key)
        try:
            return self.store.read_bytes(key)
        except ObjectStoreError:
            if self.store.head(key) is not None:
                raise
            return None

    def pointer(self, kind: str, identifier: str, tier: str) -> LatestPointer | None:
        return read_latest(self.store, identifier, tier, kind=kind)

    def manifest(self, pointer: LatestPointer) -> SnapshotManifest:
        cache_key = (pointer.manifest.key, pointer.manifest.sha256)
        with self._lock:
            if cache_key in self._manifests:
                self._manifests.move_to_end(cache_key)
                return self._manifests[cache_key]
        manifest = SnapshotManifest.from_json(self.store.read_bytes(self.store.key(pointer.manifest.key)))
        with self._lock:
            self._manifests[cache_key] = manifest
            while len(self._manifests) > MANIFEST_CACHE:
                self._manifests.popitem(last=False)
        return manifest

    def chunks(self, pointer: LatestPointer) -> list[tuple[ChunkEntry, dict[str, Any]]]:
        """Each chunk of the pointer's snapshot with its Enterprise metadata object."""
        manifest = self.manifest(pointer)
        return [(chunk, chunk_metadata(manifest, chunk).to_dict()) for chunk in manifest.chunks]

    def presigned_url(self, key: str) -> str:
        """A short-lived URL of a full key for the client (each ranged GET of the SDK asks the API anew)."""
        return self.store.presign(key, PRESIGNED_SECONDS, endpoint_url=self.download_s3_url)

    @staticmethod
    def archive(pointer: LatestPointer) -> Download:
        return Download(
            key=pointer.archive.key,
            bytes=pointer.archive.bytes,
            md5=pointer.archive.md5,
            filename=f"{pointer.identifier}.tar.gz",
        )

    @staticmethod
    def chunk_download(chunk: ChunkEntry) -> Download:
        assert chunk.key is not None, "a published manifest names every chunk's key"
        return Download(key=chunk.key, bytes=chunk.bytes, md5=chunk.md5, filename=f"{chunk.identifier}.tar.gz")
