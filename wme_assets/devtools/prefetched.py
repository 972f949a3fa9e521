"""Real dump pages as the realtime applier sees them: revisions "fetched" before any clock starts.

For the benchmarks of the realtime path and the tests that need many real changes without a wiki: each page of a
real dump becomes the :class:`~wme_assets.sources.action_api.FetchedRevision` the Action API client would return
for its latest revision, and :class:`PrefetchedRevisions` answers the applier's fetches from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from wme_assets.ingestion.dump_xml import DumpReader
from wme_assets.ingestion.run import siteinfo_record
from wme_assets.realtime.events import EXPORTED_NAMESPACES
from wme_assets.schema.page import Page
from wme_assets.sources.action_api import FetchedRevision, RevisionBatch


class PrefetchedRevisions:
    """The revision source of the benchmark: revisions fetched before the clock started."""

    def __init__(self, revisions: dict[int, FetchedRevision]) -> None:
        self._revisions = revisions

    def revisions(self, revision_ids: Iterable[int]) -> RevisionBatch:
        batch = RevisionBatch()
        for rev_id in revision_ids:
            if rev_id in self._revisions:
                batch.revisions[rev_id] = self._revisions[rev_id]
            else:
                batch.missing.add(rev_id)
        return batch


def fetched_from_dump(page: Page) -> FetchedRevision:
    """A dump page's latest revision as the Action API client returns one."""
    rev = page.latest
    title = page.title.split(":", 1)[1] if page.ns and ":" in page.title else page.title
    return FetchedRevision(
        page_id=page.id, namespace=page.ns, title=title.replace(" ", "_"), is_redirect=False,
        latest_revision_id=rev.id, revision_id=rev.id, parent_revision_id=rev.parent_id, timestamp=rev.timestamp,
        user=rev.contributor_ip or rev.contributor_name, user_id=rev.contributor_id,
        is_anonymous=bool(rev.contributor_ip), comment=rev.comment, text=rev.text, content_model=rev.model,
        size=rev.size, sha1=rev.sha1, is_minor=rev.minor, tags=(), text_hidden=rev.text_deleted,
        user_hidden=rev.contributor_deleted, comment_hidden=rev.comment_deleted,
    )


def load(path: Path) -> tuple[dict, list[FetchedRevision]]:
    reader = DumpReader(path, keep_partial=True)  # the fixtures are cut mid-page: keep the complete ones
    revisions = [
        fetched_from_dump(page) for page in reader
        if page.ns in EXPORTED_NAMESPACES and not page.is_redirect and page.redirect_target is None and page.latest
    ]
    return siteinfo_record(reader.siteinfo), revisions
