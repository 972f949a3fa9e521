"""Our diff records: what changed between two published article snapshots of a project.

A reuser holding yesterday's snapshot wants the pages to fetch again and the pages to drop, not a second
copy of everything. ``diffs/{project}/{from}-{to}{sfx}/namespace_{ns}.ndjson.gz`` holds one
:class:`PageDiff` per added, changed or deleted page (unchanged pages are only counted), in page id order;
``summary.json`` beside it (:class:`DiffSummary`) names the two snapshots compared (manifest keys and
SHA-256s), the counts and every diff file with its digest. :mod:`wme_assets.snapshots.diff` writes and
reads them.
"""

from __future__ import annotations

from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict

DIFF_SCHEMA_VERSION = 1
"""Version of the diff records' and summary's layout."""

ChangeKind = Literal["added", "changed", "deleted"]
Aspect = Literal["revision", "title", "content"]
CHANGE_KINDS: tuple[ChangeKind, ...] = ("added", "changed", "deleted")
ASPECTS: tuple[Aspect, ...] = ("revision", "title", "content")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageState(_Model):
    """A page as one snapshot has it."""

    name: str
    revision: int


class PageDiff(_Model):
    """One line of a diff file: a page added, changed or deleted between the two snapshots.

    ``before`` is None for an added page; ``after`` is None for a deleted one (a tombstone, with the last
    title and revision the ``from`` snapshot had). ``changes`` says what differs for a changed page:
    ``revision`` (``version.identifier``), ``title`` (a move) and ``content`` (the record's Enterprise fields,
    by ``wme.provenance.content_hash``, else its bytes; a new revision or title changes it too).
    """

    namespace: int
    identifier: int
    change: ChangeKind
    changes: list[Aspect] = []
    before: PageState | None = None
    after: PageState | None = None


class SnapshotRef(_Model):
    """One of the two published snapshots compared: its manifest, as read."""

    date: str
    manifest_key: str  # relative to the store's prefix
    manifest_sha256: str
    records: int


class DiffFile(_Model):
    key: str  # relative to the store's prefix
    bytes: int
    sha256: str


def zero_counts() -> dict[str, int]:
    return {kind: 0 for kind in (*CHANGE_KINDS, "unchanged")}


class NamespaceDiff(_Model):
    """The diff of one namespace, or why there is none (``missing_on``: the dates without a snapshot)."""

    namespace: int
    identifier: str
    missing_on: list[str] = []
    before: SnapshotRef | None = None
    after: SnapshotRef | None = None
    counts: dict[str, int] = {}  # added, changed, deleted, unchanged
    changed: dict[str, int] = {}  # changed pages per aspect: revision, title, content
    diff: DiffFile | None = None

    @property
    def compared(self) -> bool:
        return self.diff is not None


class DiffSummary(_Model):
    """``summary.json``: the two snapshots compared and the diff of every namespace."""

    schema_version: int = DIFF_SCHEMA_VERSION
    project: str
    tier: Literal["paid", "free"]
    from_date: str
    to_date: str
    namespaces: list[NamespaceDiff]

    def totals(self) -> dict[str, int]:
        totals = zero_counts()
        for namespace in self.namespaces:
            for kind, count in namespace.counts.items():
                totals[kind] += count
        return totals

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"), option=orjson.OPT_INDENT_2) + b"\n"

    @classmethod
    def from_json(cls, data: bytes | str) -> DiffSummary:
        return cls.model_validate_json(data)
