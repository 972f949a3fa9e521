"""One schema package at the bottom: every record we read or write, its JSON Schema files, the validators.

Like Enterprise's own ``general/schema``, it imports no other package of ours; the others import it. A table of
contents, one module per record family, each public name re-exported here (``wme_assets.schema.Article``):

- :mod:`~wme_assets.schema.base` — the serialization rules, scalar types (``Timestamp``, ``Float64``) and the
  building blocks every record shares (project, namespace, language, size, event, licence, image, ...)
- :mod:`~wme_assets.schema.article` — Enterprise's Article, with our ``wme`` extension object
- :mod:`~wme_assets.schema.structured` — Enterprise's Structured Contents record
- :mod:`~wme_assets.schema.metadata` — Enterprise's metadata of snapshots, chunks and batches (also what we
  publish beside our files), project families
- :mod:`~wme_assets.schema.manifest` — our own records: the snapshot manifest and the ``latest`` pointer
- :mod:`~wme_assets.schema.parquet_manifest` — our manifest of the Parquet shards converted from a snapshot
- :mod:`~wme_assets.schema.serialize` — writing records as Enterprise does (``omitempty``, Go's escaping)
- :mod:`~wme_assets.schema.json_schema` — the published JSON Schema files (``jsonschema/``): generate, load,
  check; ``python -m wme_assets.schema --write|--check``
- :mod:`~wme_assets.schema.validate` — validating records against those files (not imported here: it loads
  the compiled validator)

Three versions, each of one thing: :data:`RECORD_SCHEMA_VERSION` (our serialization of Enterprise's records,
the JSON Schema files), :data:`MANIFEST_SCHEMA_VERSION` and :data:`POINTER_SCHEMA_VERSION` (the layouts of our
manifest and pointer).
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

# The names are loaded on first use (PEP 562): a worker that needs only the page records (``schema.page``)
# does not pay for importing pydantic and every model (~150 ms and ~15 MB a process).
if TYPE_CHECKING:
    from .article import (
        Article,
        Delta,
        Diff,
        Editor,
        MaintenanceTags,
        Probability,
        ProbabilityScore,
        Provenance,
        ReferenceNeed,
        ReferenceRisk,
        Scores,
        Version,
        WmeExtensions,
    )
    from .base import (
        EXTENSION_FIELD,
        RECORD_SCHEMA_VERSION,
        RFC3339_UTC_PATTERN,
        ArticleBody,
        EnterpriseModel,
        Entity,
        Event,
        Float64,
        Image,
        Language,
        License,
        Namespace,
        PreviousVersion,
        Project,
        Protection,
        Relation,
        Size,
        Timestamp,
        Visibility,
        go_float,
        rfc3339,
    )
    from .json_schema import (
        SCHEMA_MODELS,
        SCHEMAS_DIR,
        generate_json_schema,
        load_json_schema,
        main,
        schema_id,
        schema_path,
    )
    from .manifest import (
        MANIFEST_SCHEMA_VERSION,
        POINTER_SCHEMA_VERSION,
        ArchiveRef,
        ChunkEntry,
        Content,
        FileEntry,
        Generator,
        Inputs,
        LatestPointer,
        MemberEntry,
        Publication,
        PublishedFile,
        SnapshotKind,
        SnapshotManifest,
        Tier,
    )
    from .metadata import Batch, Chunk, Code, FileMetadata, Snapshot
    from .parquet_manifest import (
        PARQUET_FORMAT,
        ParquetGenerator,
        ParquetKind,
        ParquetManifest,
        ParquetSource,
        ShardInfo,
        TruncationCounts,
    )
    from .serialize import content_hash, to_dict, to_json_bytes
    from .structured import (
        Attribution,
        Citation,
        EditorsCount,
        Link,
        Part,
        Reference,
        ReferenceText,
        StructuredContent,
        Table,
        TableCell,
        TableReference,
    )

_SUBMODULE_OF = {
    "PARQUET_FORMAT": "parquet_manifest",
    "ParquetGenerator": "parquet_manifest",
    "ParquetKind": "parquet_manifest",
    "ParquetManifest": "parquet_manifest",
    "ParquetSource": "parquet_manifest",
    "ShardInfo": "parquet_manifest",
    "TruncationCounts": "parquet_manifest",
    "Article": "article",
    "Delta": "article",
    "Diff": "article",
    "Editor": "article",
    "MaintenanceTags": "article",
    "Probability": "article",
    "ProbabilityScore": "article",
    "Provenance": "article",
    "ReferenceNeed": "article",
    "ReferenceRisk": "article",
    "Scores": "article",
    "Version": "article",
    "WmeExtensions": "article",
    "ArticleBody": "base",
    "EXTENSION_FIELD": "base",
    "EnterpriseModel": "base",
    "Entity": "base",
    "Event": "base",
    "Float64": "base",
    "Image": "base",
    "Language": "base",
    "License": "base",
    "Namespace": "base",
    "PreviousVersion": "base",
    "Project": "base",
    "Protection": "base",
    "RECORD_SCHEMA_VERSION": "base",
    "RFC3339_UTC_PATTERN": "base",
    "Relation": "base",
    "Size": "base",
    "Timestamp": "base",
    "Visibility": "base",
    "go_float": "base",
    "rfc3339": "base",
    "SCHEMAS_DIR": "json_schema",
    "SCHEMA_MODELS": "json_schema",
    "generate_json_schema": "json_schema",
    "load_json_schema": "json_schema",
    "main": "json_schema",
    "schema_id": "json_schema",
    "schema_path": "json_schema",
    "ArchiveRef": "manifest",
    "ChunkEntry": "manifest",
    "Content": "manifest",
    "FileEntry": "manifest",
    "Generator": "manifest",
    "Inputs": "manifest",
    "LatestPointer": "manifest",
    "MANIFEST_SCHEMA_VERSION": "manifest",
    "MemberEntry": "manifest",
    "POINTER_SCHEMA_VERSION": "manifest",
    "Publication": "manifest",
    "PublishedFile": "manifest",
    "SnapshotKind": "manifest",
    "SnapshotManifest": "manifest",
    "Tier": "manifest",
    "Batch": "metadata",
    "Chunk": "metadata",
    "Code": "metadata",
    "FileMetadata": "metadata",
    "Snapshot": "metadata",
    "content_hash": "serialize",
    "to_dict": "serialize",
    "to_json_bytes": "serialize",
    "Attribution": "structured",
    "Citation": "structured",
    "EditorsCount": "structured",
    "Link": "structured",
    "Part": "structured",
    "Reference": "structured",
    "ReferenceText": "structured",
    "StructuredContent": "structured",
    "Table": "structured",
    "TableCell": "structured",
    "TableReference": "structured",
}


def __getattr__(name: str) -> Any:
    module = _SUBMODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

__all__ = [
    "PARQUET_FORMAT",
    "ParquetGenerator",
    "ParquetKind",
    "ParquetManifest",
    "ParquetSource",
    "ShardInfo",
    "TruncationCounts",
    "EXTENSION_FIELD",
    "MANIFEST_SCHEMA_VERSION",
    "POINTER_SCHEMA_VERSION",
    "RECORD_SCHEMA_VERSION",
    "RFC3339_UTC_PATTERN",
    "SCHEMAS_DIR",
    "SCHEMA_MODELS",
    "ArchiveRef",
    "Article",
    "ArticleBody",
    "Attribution",
    "Batch",
    "Chunk",
    "ChunkEntry",
    "Citation",
    "Code",
    "Content",
    "Delta",
    "Diff",
    "Editor",
    "EditorsCount",
    "EnterpriseModel",
    "Entity",
    "Event",
    "FileEntry",
    "FileMetadata",
    "Float64",
    "Generator",
    "Image",
    "Inputs",
    "Language",
    "LatestPointer",
    "License",
    "Link",
    "MaintenanceTags",
    "MemberEntry",
    "Namespace",
    "Part",
    "PreviousVersion",
    "Probability",
    "ProbabilityScore",
    "Project",
    "Protection",
    "Provenance",
    "Publication",
    "PublishedFile",
    "Reference",
    "ReferenceNeed",
    "ReferenceRisk",
    "ReferenceText",
    "Relation",
    "Scores",
    "Size",
    "Snapshot",
    "SnapshotKind",
    "SnapshotManifest",
    "StructuredContent",
    "Table",
    "TableCell",
    "TableReference",
    "Tier",
    "Timestamp",
    "Version",
    "Visibility",
    "WmeExtensions",
    "content_hash",
    "generate_json_schema",
    "go_float",
    "load_json_schema",
    "main",
    "rfc3339",
    "schema_id",
    "schema_path",
    "to_dict",
    "to_json_bytes",
]
