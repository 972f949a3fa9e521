"""The change event: what every change source (EventStreams, a MediaWiki's recentchanges) is normalised into.

One event is one change to one page, in MediaWiki's own terms (``page_change_kind`` of the
``mediawiki.page_change.v1`` stream, whose schema is ``/mediawiki/page/change/1.2.0``)::

    create             a page created (its first revision)
    undelete           a deleted page restored: it is back with its latest visible revision
    edit               a new revision of a page (null edits included: they refresh derived data)
    move               a page renamed (``prior_*`` say from where); MediaWiki may leave a redirect behind
    delete             a page deleted: a tombstone, whatever revision it had
    visibility_change  a revision's text, editor or comment suppressed (or restored)

Titles are in MediaWiki's database form (underscores, the namespace's local prefix stripped: ``page_title``).
``position`` is where the source stood after this event, so that a consumer resumes exactly after it: for
EventStreams the SSE ``id`` (a JSON list of per-partition topic offsets, sent back as ``Last-Event-ID``), for
recentchanges ``rc:{rcid}`` or ``log:{logid}``. ``event_id`` is unique per change (EventStreams'
``meta.id``; ``rc:{rcid}``/``log:{logid}``), which makes applying an event twice detectable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

ChangeKind = Literal["create", "undelete", "edit", "move", "delete", "visibility_change"]
CHANGE_KINDS: tuple[ChangeKind, ...] = ("create", "undelete", "edit", "move", "delete", "visibility_change")
SourceName = Literal["eventstreams", "recentchanges"]

# The namespaces Enterprise exports; a move out of one of them is a delete there, a move into one a create.
EXPORTED_NAMESPACES = frozenset({0, 6, 10, 14})


@dataclass(frozen=True, slots=True)
class Visibility:
    """Which parts of a revision the public may see (``is_*_visible`` of the event; Enterprise's ``visibility``)."""

    text: bool = True
    editor: bool = True
    comment: bool = True


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    source: SourceName
    event_id: str  # unique per change: EventStreams meta.id, or "rc:{rcid}" / "log:{logid}"
    position: str  # where the source stood after this event (see the module docstring)
    project: str  # the wiki's dbname (wiki_id), e.g. "enwiki"
    kind: ChangeKind
    dt: str  # when the change happened, RFC 3339 UTC ("2024-09-12T06:58:34Z")
    page_id: int
    namespace: int
    title: str  # database form: underscores, no namespace prefix
    revision_id: int | None = None  # the revision the page is at after the change (None for a delete)
    is_redirect: bool = False
    prior_namespace: int | None = None  # moves: where the page was
    prior_title: str | None = None
    visibility: Visibility | None = None  # visibility_change (and any event that carries it)

    def __post_init__(self) -> None:
        if self.kind not in CHANGE_KINDS:
            raise ValueError(f"{self.event_id}: unknown change kind {self.kind!r} (one of {', '.join(CHANGE_KINDS)})")
        if self.kind == "move" and (self.prior_namespace is None or self.prior_title is None):
            raise ValueError(f"{self.event_id}: a move needs the page's prior namespace and title")

    @property
    def touches_exported_namespace(self) -> bool:
        """Whether the change concerns a namespace Enterprise exports, before or after (moves out count)."""
        return self.namespace in EXPORTED_NAMESPACES or (
            self.prior_namespace is not None and self.prior_namespace in EXPORTED_NAMESPACES
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChangeEvent:
        data = dict(data)
        if data.get("visibility") is not None:
            data["visibility"] = Visibility(**data["visibility"])
        return cls(**data)
