"""Wikimedia Enterprise's metadata objects: of a snapshot, a chunk, an hourly batch, a project family.

One set of models for what Enterprise's metadata endpoints return and for what we publish beside our files
(``{id}.json``, ``chunk_{n}.json``, the ``snapshots.ndjson`` listing; built by :mod:`wme_assets.snapshots.manifest`).
We publish them with :meth:`FileMetadata.to_json`: compact, Go's key order, empty fields left out.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import Field

from .base import EnterpriseModel, Language, Namespace, Project, Size, Timestamp, go_float
from .serialize import to_dict


class FileMetadata(EnterpriseModel):
    """What the metadata of a snapshot, a chunk and a batch share (``general/schema/snapshot.go``)."""

    name: str = ""
    """Name of the file set."""
    identifier: str = ""
    """Identifier, e.g. `enwiki_namespace_0` or `enwiki_namespace_0_chunk_3`."""
    version: str = ""
    """Hex MD5 of the compressed `.tar.gz` file."""
    date_modified: Timestamp | None = None
    """When the file was written."""
    is_part_of: Project | None = None
    """The wiki of the records."""
    in_language: Language | None = None
    """Language of the records."""
    namespace: Namespace | None = None
    """Namespace of the records."""
    size: Size | None = None
    """Size of the compressed file, in MB (10^6 bytes, 3 decimals)."""

    def to_dict(self) -> dict[str, Any]:
        """The object as we publish it: :func:`~wme_assets.schema.serialize.to_dict`, except ``size.value``,
        which is written even when 0 (``"size":{"value":0,"unit_text":"MB"}`` for an archive under 500 bytes),
        as our metadata objects always have."""
        data = to_dict(self)
        if self.size is not None:
            data["size"] = {"value": go_float(self.size.value), **data["size"]}
        return data

    def to_json(self) -> bytes:
        """:meth:`to_dict` as compact JSON, in Go's key order (one line of a listing)."""
        return orjson.dumps(self.to_dict())


class Snapshot(FileMetadata):
    """Metadata of a snapshot: one project-namespace as a `.tar.gz` of NDJSON records."""

    chunks: list[str] = Field(default_factory=list)
    """Identifiers of the snapshot's chunks, e.g. `enwiki_namespace_0_chunk_0`."""


class Chunk(FileMetadata):
    """Metadata of one chunk of a snapshot (a separately downloadable `.tar.gz`)."""


class Batch(FileMetadata):
    """Metadata of an hourly realtime batch of one project-namespace."""


class Code(EnterpriseModel):
    """A project family (metadata endpoint `/v2/codes`)."""

    identifier: str = ""
    """Family code, e.g. `wiki`, `wiktionary`."""
    name: str = ""
    """Family name, e.g. `Wikipedia`."""
    description: str = ""
    """What the family is."""
