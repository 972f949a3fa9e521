"""What a batch of change events means for each page: the newest state wins (plain functions, no I/O).

Events of one page are ordered by their time (``dt``), then by their order in the batch (a source
delivers them in order; equal timestamps are common). The last one decides:

* a ``delete``, or a ``move`` out of the exported namespaces → the page is gone (a tombstone);
* anything else (create, undelete, edit, move, visibility change) → the page is there, at the newest
  revision any event of the page names since its last delete. A visibility change of an old revision
  therefore does not roll the article back to that revision: it only matters when it is the newest.

Then :func:`decide` compares each page with what the store holds: a revision older than the stored one
is skipped (an event that arrived late never overwrites a newer article), a delete of a page the store
does not hold changes nothing. The fetched content decides the rest (:mod:`.apply`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from wme_assets.realtime.events import EXPORTED_NAMESPACES, ChangeEvent
from wme_assets.storage.article_store import DELETE

Action = Literal["delete", "fetch"]


@dataclass(frozen=True)
class PageChange:
    """The newest state of one page in a batch."""

    page_id: int
    action: Action
    namespace: int  # where the page is now (a delete: where it was)
    title: str
    revision_id: int | None  # the revision to fetch (None for a delete)
    kind: str  # the deciding event's kind
    event_id: str


@dataclass
class Rejected:
    """An event that cannot be applied, with the reason (quarantined, never silently dropped)."""

    event_id: str
    project: str
    page_id: int | None
    title: str | None
    revision_id: int | None
    reason: str  # a short category: "wrong_project", "bad_event"
    detail: str

    def record(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Plan:
    changes: dict[int, PageChange] = field(default_factory=dict)
    outside_namespaces: int = 0  # events that concern no exported namespace
    rejected: list[Rejected] = field(default_factory=list)


def _moment(event: ChangeEvent) -> datetime:
    return datetime.fromisoformat(event.dt.replace("Z", "+00:00"))


def _check(event: ChangeEvent, project: str) -> Rejected | None:
    def reject(reason: str, detail: str) -> Rejected:
        return Rejected(event.event_id, event.project, event.page_id, event.title, event.revision_id, reason, detail)

    if event.project != project:
        return reject("wrong_project", f"an event of {event.project} in a batch of {project}")
    if not isinstance(event.page_id, int) or event.page_id < 1:
        return reject("bad_event", f"page id {event.page_id!r} is not a positive integer")
    if event.kind != "delete" and (not isinstance(event.revision_id, int) or event.revision_id < 1):
        return reject("bad_event", f"a {event.kind} without a revision id ({event.revision_id!r})")
    try:
        _moment(event)
    except (ValueError, AttributeError):
        return reject("bad_event", f"dt {event.dt!r} is not an RFC 3339 time")
    return None


def plan_changes(events: list[ChangeEvent], project: str) -> Plan:
    """Reduce ``events`` to one :class:`PageChange` per page (see the module docstring)."""
    plan = Plan()
    by_page: dict[int, list[tuple[datetime, int, ChangeEvent]]] = {}
    for index, event in enumerate(events):
        problem = _check(event, project)
        if problem is not None:
            plan.rejected.append(problem)
            continue
        if not event.touches_exported_namespace:
            plan.outside_namespaces += 1
            continue
        by_page.setdefault(event.page_id, []).append((_moment(event), index, event))
    for page_id, items in by_page.items():
        items.sort(key=lambda item: (item[0], item[1]))
        last = items[-1][2]
        if last.kind == "delete" or last.namespace not in EXPORTED_NAMESPACES:
            # A move out of the exported namespaces is a delete there: the article was under its old title.
            namespace = last.prior_namespace if last.kind == "move" else last.namespace
            title = last.prior_title if last.kind == "move" else last.title
            plan.changes[page_id] = PageChange(page_id, "delete", namespace, title, None, last.kind, last.event_id)
            continue
        since_delete = []
        for _, _, event in items:
            since_delete = [] if event.kind == "delete" else [*since_delete, event]
        revision = max(event.revision_id for event in since_delete)
        plan.changes[page_id] = PageChange(
            page_id, "fetch", last.namespace, last.title, revision, last.kind, last.event_id
        )
    return plan


@dataclass
class Decisions:
    tombstones: list[tuple[PageChange, dict[str, Any]]] = field(default_factory=list)  # with the stored row
    fetch: list[PageChange] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # "older", "already_absent"


def decide(plan: Plan, stored: dict[int, dict[str, Any]]) -> Decisions:
    """Compare each page's change with the store's current row of it (``op``, ``revision_id``)."""
    out = Decisions()
    for page_id, change in sorted(plan.changes.items()):
        row = stored.get(page_id)
        live = row is not None and row["op"] != DELETE
        if change.action == "delete":
            if live:
                out.tombstones.append((change, row))
            else:
                out.skipped["already_absent"] += 1
            continue
        held = row["revision_id"] if row is not None else None
        if held is not None and change.revision_id < held:
            out.skipped["older"] += 1
            continue
        out.fetch.append(change)
    return out
