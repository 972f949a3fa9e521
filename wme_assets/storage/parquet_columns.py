"""Some columns of a published Parquet file, read from object storage without the rest of it.

A Parquet file keeps each column of a row group in one contiguous chunk, and its footer says where. Read
through :class:`RangeFile`, a file-like view of the object that turns every read into a ranged GET, pyarrow
fetches the footer and then only the chunks of the columns asked for: the joins over a page store read its
titles and ids, not its wikitext, which is nearly all of its bytes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from wme_assets.storage.object_store import ObjectStore


class RangeFile(io.RawIOBase):
    """A read-only, seekable view of one object of ``size`` bytes: each read is one ranged GET."""

    def __init__(self, store: ObjectStore, key: str, size: int):
        super().__init__()
        self.store, self.key, self.size = store, key, size
        self._position = 0
        self.requests = 0
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"{self.store.uri(self.key)}: seek to {base + offset}, before the start")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), self.size - self._position)
        if wanted <= 0:
            return 0
        with self.store.open(self.key, self._position, self._position + wanted - 1) as body:
            data = body.read()
        if len(data) != wanted:
            raise OSError(
                f"{self.store.uri(self.key)}: {len(data)} bytes at offset {self._position}, asked for {wanted}"
            )
        view[:wanted] = data
        self._position += wanted
        self.requests += 1
        self.bytes_read += wanted
        return wanted


def column_copy(store: ObjectStore, entry: Mapping[str, Any], columns: Iterable[str], target: Path) -> Path:
    """The ``columns`` of the Parquet file of a manifest entry (``key``, ``size``, ``rows``), as a local Parquet
    file with the same rows in the same order, one row group per row group of the original.

    Only the footer and those columns' chunks are fetched, so the file's SHA-256 cannot be checked as
    :func:`~wme_assets.storage.parquet_dataset.cached_copy` checks a whole download; the object's size and the
    rows its footer counts are checked against the entry instead (and Parquet decoding fails on a bad chunk)."""
    columns = list(columns)
    info = store.head(entry["key"])
    if info is None:
        raise FileNotFoundError(f"{store.uri(entry['key'])} is missing")
    if info.size != entry["size"]:
        raise ValueError(f"{store.uri(entry['key'])}: {info.size} bytes, the manifest says {entry['size']}")
    source = RangeFile(store, entry["key"], info.size)
    parquet = pq.ParquetFile(source, pre_buffer=True)  # each row group's chunks fetched together
    if parquet.metadata.num_rows != entry["rows"]:
        raise ValueError(
            f"{store.uri(entry['key'])}: {parquet.metadata.num_rows} rows, the manifest says {entry['rows']}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.part")
    schema = parquet.schema_arrow
    schema = schema.remove_metadata() if schema.metadata else schema
    projected = schema.empty_table().select(columns).schema
    with pq.ParquetWriter(staging, projected, compression="zstd") as writer:
        for group in range(parquet.num_row_groups):
            writer.write_table(parquet.read_row_group(group, columns=columns).select(columns))
    os.replace(staging, target)
    return target


def column_copies(
    store: ObjectStore, manifest: Mapping[str, Any], columns: Iterable[str], directory: Path
) -> list[Path]:
    """:func:`column_copy` of every file of a manifest, in its order."""
    columns = list(columns)
    return [
        column_copy(store, entry, columns, directory / f"{number:05d}-{entry['name']}")
        for number, entry in enumerate(manifest["files"])
    ]
