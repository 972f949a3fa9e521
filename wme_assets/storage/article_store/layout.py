"""The article store's rows and keys: the Arrow schema, the manifest formats, the key layout and the date checks.

Everything the other modules of the store agree on, in one place (see the package docstring for the layout).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from wme_assets.settings import validate_project
from wme_assets.storage.parquet_dataset import schema_fingerprint
from wme_assets.util.dates import check_yyyymmdd, check_yyyymmddhh

ARTICLE_STORE_SCHEMA_VERSION = "1"
UPSERT, DELETE = "upsert", "delete"

ARTICLE_SCHEMA = pa.schema(
    [
        pa.field("page_id", pa.int64(), nullable=False),
        pa.field("namespace", pa.int32(), nullable=False),
        pa.field("name", pa.string()),  # null on deletes that do not know it
        pa.field("revision_id", pa.int64()),  # null on deletes that do not know it
        pa.field("date_modified", pa.timestamp("us", tz="UTC")),
        pa.field("content_hash", pa.string()),  # "sha256:<hex>" of `article`; null on deletes
        pa.field("op", pa.string(), nullable=False),
        pa.field("is_disambiguation", pa.bool_(), nullable=False),
        # The Enterprise Article JSON line as the export writes it. Bytes, not text: it is copied to the
        # archives untouched, never decoded. large_*: a row group of long articles can pass the 2 GiB
        # offset limit of the plain types once readers concatenate batches.
        pa.field("article", pa.large_binary()),
        pa.field("structured", pa.large_string()),  # Structured Contents JSON, when produced
        pa.field("project", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
    ],
    metadata={b"wme.article_store.schema_version": ARTICLE_STORE_SCHEMA_VERSION.encode()},
)
SCHEMA_FINGERPRINT = schema_fingerprint(ARTICLE_SCHEMA)

BASE_FORMAT = "wme.article_store.base"
DELTA_FORMAT = "wme.article_store.delta"
CURRENT_FORMAT = "wme.article_store.current"
CURRENT_NAME = "current.json"

# Statistics where readers filter or check (page id ranges and order, namespaces, revisions, time).
_STATISTICS_COLUMNS = ["page_id", "namespace", "revision_id", "date_modified", "op"]
_DICTIONARY_COLUMNS = ["namespace", "op", "project", "source", "run_id"]
# The columns every read needs to merge, whatever the caller asked for.
_MERGE_COLUMNS = ("page_id", "namespace", "op")
_INT64_MAX = 2**63 - 1


def _check_date(date: str) -> str:
    return check_yyyymmdd(date, "date")


def _check_hour(hour: str) -> str:
    return check_yyyymmddhh(hour, "hour")


def _hour_before(date: str) -> str:
    return (datetime.strptime(date, "%Y%m%d") - timedelta(hours=1)).strftime("%Y%m%d%H")


def _missing_hours(hours: list[str]) -> list[str]:
    """Hours between the first and the last of ``hours`` (sorted) that are not in it."""
    have = set(hours)
    moment, end = datetime.strptime(hours[0], "%Y%m%d%H"), datetime.strptime(hours[-1], "%Y%m%d%H")
    missing = []
    while moment < end:
        moment += timedelta(hours=1)
        if moment.strftime("%Y%m%d%H") not in have:
            missing.append(moment.strftime("%Y%m%d%H"))
    return missing


def store_prefix(project: str) -> str:
    """``articles/{project}/``: everything of one project's article store."""
    return f"articles/{validate_project(project)}/"


def base_prefix(project: str, date: str) -> str:
    """``articles/{project}/base/{YYYYMMDD}/``."""
    return f"{store_prefix(project)}base/{_check_date(date)}/"


def delta_prefix(project: str, hour: str) -> str:
    """``articles/{project}/deltas/{YYYYMMDDHH}/``."""
    return f"{store_prefix(project)}deltas/{_check_hour(hour)}/"


def current_key(project: str) -> str:
    """``articles/{project}/current.json``, relative to the store's prefix."""
    return f"{store_prefix(project)}{CURRENT_NAME}"


def article_hash(article_json: bytes) -> str:
    """``sha256:<hex>`` of an article line: what the store records to tell changed articles apart."""
    return "sha256:" + hashlib.sha256(article_json).hexdigest()


def _strictly_ascending(ids: pa.Array, *, after: int | None) -> bool:
    """Whether a non-empty array of page ids rises strictly, and starts above ``after``."""
    if after is not None and ids[0].as_py() <= after:
        return False
    return len(ids) < 2 or pc.all(pc.greater(ids.slice(1), ids.slice(0, len(ids) - 1))).as_py()
