"""A project whose real changes go through the realtime path into the article-change feed, for the feed's tests.

The real mrwiki fixture dump's pages are the wiki (their latest revisions "fetched" before the test, as the
apply benchmark does: :mod:`wme_assets.devtools.prefetched`); its changes are logged in the project's event
log as a change source stores them and applied by :func:`~wme_assets.realtime.update.update_project`, which
appends each application to the feed, on the real SeaweedFS.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from itertools import count
from pathlib import Path

import orjson

from wme_assets.devtools.prefetched import PrefetchedRevisions, load
from wme_assets.realtime.event_log import EventLog, LoggedEvent, now_rfc3339
from wme_assets.realtime.events import ChangeEvent
from wme_assets.realtime.feed import load_head
from wme_assets.realtime.feed_read import FeedReader
from wme_assets.realtime.update import UpdateResult, update_project
from wme_assets.settings import Settings
from wme_assets.sources.action_api import FetchedRevision
from wme_assets.storage.article_store import ArticleStoreWriter, publish_base
from wme_assets.storage.object_store import ObjectStore
from wme_assets_tests.paths import FIXTURES

WIKI = "mrwiki"
DUMP = FIXTURES / "xztextfilter-truncated-dumps" / f"{WIKI}-truncated-100k.xml.xz"
_revisions = count(900_000_000)  # the ids of edits made by the tests: above every fixture revision


def feed_settings(store: ObjectStore, home: Path, **extra) -> Settings:
    return Settings(
        home=str(home), s3_endpoint_url=store.endpoint_url, s3_bucket=store.bucket, s3_prefix=store.prefix,
        change_source="recentchanges", **extra,
    )  # fmt: skip


class FeedWorld:
    """The project, its store (an empty base: every first change is a create) and its event log."""

    def __init__(self, store: ObjectStore, settings: Settings, work: Path, pages: int = 60) -> None:
        self.store, self.settings, self.work = store, settings, work
        self.siteinfo, revisions = load(DUMP)
        self.revisions = revisions[:pages]
        self.project = self.siteinfo["dbname"]
        self.source = PrefetchedRevisions({r.revision_id: r for r in revisions})
        self._known = {r.revision_id: r for r in revisions}
        ArticleStoreWriter(work / "base", project=self.project, source="test", run_id="t").close()
        publish_base(store, work / "base", self.project, "20260101")

    def event(self, kind: str, rev: FetchedRevision) -> ChangeEvent:
        n = next(_revisions)
        return ChangeEvent(
            "recentchanges", f"rc:{n}", f"rc:{n}", self.project, kind, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            rev.page_id, rev.namespace, rev.title, rev.revision_id if kind != "delete" else None,
        )  # fmt: skip

    def edited(self, rev: FetchedRevision, sentence: str) -> FetchedRevision:
        """A new revision of ``rev``'s page: its text and a sentence more (what the wiki's API would return)."""
        n = next(_revisions)
        text = (rev.text or "") + f"\n\n{sentence}"
        new = dataclasses.replace(
            rev, revision_id=n, latest_revision_id=n, parent_revision_id=rev.revision_id, text=text
        )
        self._known[new.revision_id] = new
        self.source = PrefetchedRevisions(self._known)
        return new

    def log(self, events: list[ChangeEvent]) -> None:
        log = EventLog(self.store, self.settings.change_source)
        logged = [LoggedEvent(change=e, raw="{}", received=now_rfc3339()) for e in events]
        log.append(logged, [], log.load_cursor(), {self.project: events[-1].position})

    def update(self, batch_events: int = 500) -> UpdateResult:
        return update_project(
            self.store, self.settings, self.project, revisions=self.source, siteinfo=self.siteinfo,
            batch_events=batch_events, log=lambda _: None,
        )  # fmt: skip


def feed_records(store: ObjectStore) -> list[dict]:
    """Every committed record of the feed, in append order, read as a new reader would."""
    reader = FeedReader(store)
    head = reader.head()
    return [
        orjson.loads(line)
        for append in range(head.retained_from, head.last_append + 1)
        for _, _, line in reader.segment(head, append).records
    ]


def committed_appends(store: ObjectStore) -> int:
    return load_head(store).last_append + 1
