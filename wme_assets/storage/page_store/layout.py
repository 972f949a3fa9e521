"""The page store's rows and keys: the Arrow schema, how its files are encoded, the manifest format, the key layout."""

from __future__ import annotations

import pyarrow as pa

from wme_assets.settings import validate_project
from wme_assets.storage.parquet_dataset import schema_fingerprint
from wme_assets.storage.parquet_writer import PartFormat
from wme_assets.util.dates import check_yyyymmdd

PAGE_STORE_SCHEMA_VERSION = "1"

# One row per page with its latest revision. Nullable wherever a dump may lack the value: a page without
# revision (stub exports), suppressed contributor/comment/text, old exports without <model>/<sha1>.
PAGE_SCHEMA = pa.schema(
    [
        pa.field("page_id", pa.int64(), nullable=False),
        pa.field("namespace", pa.int32(), nullable=False),
        pa.field("title", pa.string(), nullable=False),
        pa.field("redirect_target", pa.string()),  # null when not a redirect (or a pre-0.5 bare <redirect/>)
        pa.field("is_redirect", pa.bool_(), nullable=False),
        pa.field("revision_id", pa.int64()),
        pa.field("parent_revision_id", pa.int64()),
        pa.field("timestamp", pa.timestamp("us", tz="UTC")),
        pa.field("contributor_name", pa.string()),
        pa.field("contributor_id", pa.int64()),
        pa.field("contributor_ip", pa.string()),
        pa.field("contributor_deleted", pa.bool_(), nullable=False),
        pa.field("is_minor", pa.bool_(), nullable=False),
        pa.field("comment", pa.string()),
        pa.field("comment_deleted", pa.bool_(), nullable=False),
        pa.field("content_model", pa.string()),
        pa.field("content_format", pa.string()),
        pa.field("sha1", pa.string()),
        pa.field("size_bytes", pa.int64()),
        # large_string: a row group of long articles can pass the 2 GiB offset limit of plain strings
        # once readers concatenate batches.
        pa.field("text", pa.large_string()),
        pa.field("text_deleted", pa.bool_(), nullable=False),
        pa.field("wikibase_item", pa.string()),
        pa.field("project", pa.string(), nullable=False),
        pa.field("dump_date", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
    ],
    metadata={b"wme.page_store.schema_version": PAGE_STORE_SCHEMA_VERSION.encode()},
)


SCHEMA_FINGERPRINT = schema_fingerprint(PAGE_SCHEMA)

# Statistics only where readers filter (page id ranges, namespaces, revisions, time): min/max of the
# text column would be large and useless.
_STATISTICS_COLUMNS = ["page_id", "namespace", "revision_id", "timestamp", "is_redirect"]
# Dictionary-encode the low-cardinality columns only; trying it on text and titles wastes CPU.
_DICTIONARY_COLUMNS = [
    "namespace",
    "content_model",
    "content_format",
    "contributor_name",
    "project",
    "dump_date",
    "source_file",
]

# The files' own metadata carries the fingerprint; the writer adds each file's provenance.
_PART_FORMAT = PartFormat(
    PAGE_SCHEMA.with_metadata({**PAGE_SCHEMA.metadata, b"wme.page_store.fingerprint": SCHEMA_FINGERPRINT.encode()}),
    dictionary_columns=_DICTIONARY_COLUMNS,
    statistics_columns=_STATISTICS_COLUMNS,
    what="page store",
)

MANIFEST_FORMAT = "wme.page_store"


def page_store_prefix(project: str, date: str) -> str:
    """``pages/{project}/{date}/``: where one dump's page store lives, relative to the store's prefix."""
    validate_project(project)
    check_yyyymmdd(date, "dump date")
    return f"pages/{project}/{date}/"
