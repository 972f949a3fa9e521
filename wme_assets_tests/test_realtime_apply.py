"""Applying changes to the article store, against a real MediaWiki of our own and the real SeaweedFS.

The wiki holds the four real enwiki pages of the fixtures. The base is built from them through the
Action API client and the dump path's enrichment (the same functions the application uses), published
with ``publish_base``. Then the tests change pages through the wiki's API as its admin (edit, create,
delete, undelete, move, revision-delete), turn the wiki's answers into ChangeEvents and apply them.

The tests run in file order on one wiki and one store (each builds on the state the previous left),
like the hours of a real wiki; each asserts on the pages it changed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count
from pathlib import Path

import orjson
import pytest

from wme_assets.enrichment.article import Site
from wme_assets.realtime.apply import apply_changes, build_fetched
from wme_assets.realtime.events import ChangeEvent
from wme_assets.sources.action_api import ActionApiClient, ActionApiError
from wme_assets.sources.mediawiki import MediaWikiClient
from wme_assets.storage.article_store import ArticleStoreWriter, iter_current_articles, publish_base
from wme_assets_tests.mediawiki_server import own_mediawiki
from wme_assets_tests.servers import new_test_store
from wme_assets_tests.wiki_admin import WikiAdmin

pytestmark = pytest.mark.integration

_ids = count(1)


@pytest.fixture(scope="module")
def wiki(request):
    """A wiki of this module's own: these tests edit, delete and move its pages."""
    with own_mediawiki(request, "rt") as server:
        yield server


class World:
    def __init__(self, wiki, store, tmp: Path) -> None:
        self.wiki = wiki
        self.store = store
        self.tmp = tmp
        self.admin = WikiAdmin(wiki.base_url)
        self.client = ActionApiClient(f"{wiki.base_url}/api.php", concurrency=2)
        self.siteinfo = self.client.siteinfo()
        self.project = self.siteinfo["dbname"]

    def apply(self, events, **kwargs):
        return apply_changes(self.store, self.project, events, revisions=self.client, siteinfo=self.siteinfo,
                             run_id=f"test-{next(_ids)}", log=lambda _: None, **kwargs)

    def view(self) -> dict[int, dict]:
        return {pid: orjson.loads(line) for pid, line in
                iter_current_articles(self.store, self.project, cache_dir=self.tmp / "read-cache")}

    def by_name(self) -> dict[str, dict]:
        return {article["name"]: article for article in self.view().values()}

    def event(self, kind: str, title: str, **fields) -> ChangeEvent:
        """A ChangeEvent from the wiki's current state of ``title`` (what a recentchanges source reads)."""
        info = self.admin.page(title) if "page_id" not in fields else {}
        ns = fields.pop("namespace", info.get("ns", 0))
        bare = title.split(":", 1)[1] if ns else title
        values = {
            "source": "recentchanges", "event_id": f"rc:{next(_ids)}", "position": "rc:0", "project": self.project,
            "kind": kind, "dt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "page_id": info.get("pageid"),
            "namespace": ns, "title": bare.replace(" ", "_"),
            "revision_id": None if kind == "delete" else info.get("lastrevid"),
        }
        values.update(fields)
        return ChangeEvent(**values)


@pytest.fixture(scope="module")
def world(wiki, seaweedfs, tmp_path_factory) -> World:
    tmp = tmp_path_factory.mktemp("realtime-apply")
    world = World(wiki, new_test_store(seaweedfs), tmp)
    # The base: the wiki's pages through the same fetch and enrichment as the application, in page id order.
    site = Site.from_siteinfo(world.siteinfo)
    fetched = world.client.latest_revisions(wiki.revisions).revisions.values()
    writer = ArticleStoreWriter(tmp / "base", project=world.project, source="api:base", run_id="base")
    for rev in sorted(fetched, key=lambda r: r.page_id):
        built = build_fetched(rev, site, run_id="base", source="api:base")
        writer.add(built.page_id, built.namespace, built.name, built.revision_id, built.date_modified,
                   built.article_json, structured=built.structured_json.decode())
    writer.close()
    publish_base(world.store, tmp / "base", world.project, datetime.now(UTC).strftime("%Y%m%d"))
    world.base = world.by_name()
    assert set(world.base) == set(wiki.revisions)
    yield world
    world.client.close()


MARK = "Realtime edit marker 7f3a."


def test_edit_and_create_give_new_revisions_with_parsoid_html(world):
    edit = world.admin.edit("Albert Einstein", world.wiki.wikitext["Albert Einstein"] + f"\n\n{MARK}\n", "edit")
    text = "'''Realtime page''' is a page made by the tests.\n\n== Section ==\n" + MARK
    create = world.admin.edit("Realtime page", text, "new page", create=True)
    events = [world.event("edit", "Albert Einstein"), world.event("create", "Realtime page")]
    with MediaWikiClient(world.wiki.base_url, cache_dir=world.tmp / "html") as html:
        result = world.apply(events, html=html)
    assert (result.upserts, result.tombstones, result.skipped_older, result.missing) == (2, 0, 0, 0)
    assert result.published and result.published.endswith(f"/deltas/{result.hour}/")
    articles = world.by_name()
    einstein = articles["Albert Einstein"]
    base_revision = world.base["Albert Einstein"]["version"]["identifier"]
    assert einstein["version"]["identifier"] == edit["newrevid"] != base_revision
    assert einstein["article_body"]["wikitext"].rstrip().endswith(MARK)
    assert MARK in einstein["article_body"]["html"] and "mw:htmlVersion" in einstein["article_body"]["html"]
    assert einstein["version"]["editor"]["name"] == "Admin" and einstein["version"]["comment"] == "edit"
    page = articles["Realtime page"]
    assert page["identifier"] == create["pageid"] and page["version"]["identifier"] == create["newrevid"]
    assert page["abstract"].startswith("Realtime page is a page made by the tests")
    # The other pages of the base are untouched.
    assert articles["Angela Merkel"] == world.base["Angela Merkel"]


def test_an_older_event_never_overwrites_a_newer_article(world):
    before = world.by_name()["Albert Einstein"]
    old = world.base["Albert Einstein"]
    late = world.event("edit", "Albert Einstein", revision_id=old["version"]["identifier"])
    result = world.apply([late])
    assert (result.skipped_older, result.upserts, result.published) == (1, 0, None)
    assert world.by_name()["Albert Einstein"] == before


def test_applying_the_same_events_twice_changes_nothing(world):
    before = world.view()
    events = [world.event("edit", "Albert Einstein"), world.event("create", "Realtime page")]
    # The same configuration as the first application (with HTML): the same articles come out.
    with MediaWikiClient(world.wiki.base_url, cache_dir=world.tmp / "html") as html:
        result = world.apply(events, html=html)
    assert (result.upserts, result.tombstones, result.unchanged, result.published) == (0, 0, 2, None)
    assert world.view() == before


def test_delete_writes_a_tombstone_and_undelete_brings_the_page_back(world):
    merkel = world.admin.page("Angela Merkel")
    world.admin.delete("Angela Merkel")
    delete = world.event("delete", "Angela Merkel", page_id=merkel["pageid"], namespace=0)
    result = world.apply([delete])
    assert (result.tombstones, result.upserts) == (1, 0)
    assert merkel["pageid"] not in world.view()
    assert world.apply([delete]).published is None  # a tombstone twice is still one

    world.admin.undelete("Angela Merkel")
    undelete = world.event("undelete", "Angela Merkel")
    result = world.apply([undelete])
    assert result.upserts == 1
    back = world.view()[merkel["pageid"]]
    assert back["version"]["identifier"] == world.base["Angela Merkel"]["version"]["identifier"]
    assert back["article_body"]["wikitext"] == world.base["Angela Merkel"]["article_body"]["wikitext"]


def test_a_move_renames_the_article_and_a_move_out_of_the_namespaces_deletes_it(world):
    baker = world.admin.page("Josephine Baker")
    world.admin.move("Josephine Baker", "Josephine Baker (entertainer)")
    moved = world.event("move", "Josephine Baker (entertainer)", prior_namespace=0, prior_title="Josephine_Baker")
    # The redirect MediaWiki leaves behind is a new page: not an article.
    redirect = world.event("create", "Josephine Baker")
    result = world.apply([moved, redirect])
    assert (result.upserts, result.unchanged) == (1, 1)
    articles = world.by_name()
    assert "Josephine Baker" not in articles
    article = articles["Josephine Baker (entertainer)"]
    assert article["identifier"] == baker["pageid"]
    assert article["version"]["identifier"] == moved.revision_id > baker["lastrevid"]  # the move's null revision
    assert [r["name"] for r in article["redirects"]] == ["Josephine Baker"]

    usa = world.admin.page("United States")
    world.admin.move("United States", "User:United States", redirect=False)
    out = world.event("move", "User:United States", prior_namespace=0, prior_title="United_States")
    assert out.namespace == 2
    result = world.apply([out])
    assert result.tombstones == 1
    assert usa["pageid"] not in world.view()


def test_hidden_text_editor_and_comment_are_withheld(world):
    first = world.admin.edit("Hidden page", "'''Hidden page''' first text. " + MARK, "first summary", create=True)
    created = world.event("create", "Hidden page", revision_id=first["newrevid"])
    second = world.admin.edit("Hidden page", "'''Hidden page''' second text.", "second summary")
    # The current revision's text cannot be hidden; an older one's can. The batch still names the first
    # revision (it lags behind the wiki): what is fetched is what the wiki shows now.
    world.admin.hide("Hidden page", first["newrevid"], "content|user|comment")
    result = world.apply([created])
    assert result.upserts == 1
    article = world.by_name()["Hidden page"]
    assert article["version"]["identifier"] == first["newrevid"]
    assert article["visibility"] == {"text": False, "editor": False, "comment": False}
    body = article.get("article_body") or {}
    assert not body.get("wikitext") and not body.get("html")
    assert "editor" not in article["version"] and not article["version"].get("comment")
    assert MARK not in orjson.dumps(article).decode()

    world.admin.hide("Hidden page", second["newrevid"], "user|comment")
    change = world.event("visibility_change", "Hidden page", revision_id=second["newrevid"])
    result = world.apply([change])
    article = world.by_name()["Hidden page"]
    assert result.upserts == 1 and article["version"]["identifier"] == second["newrevid"]
    assert article["visibility"] == {"text": True, "editor": False, "comment": False}
    assert article["article_body"]["wikitext"] == "'''Hidden page''' second text."
    assert "editor" not in article["version"] and "second summary" not in orjson.dumps(article).decode()


def test_a_revision_deleted_before_its_fetch_is_a_tombstone_and_counted(world):
    first = world.admin.edit("Short lived", "'''Short lived''' page.", "create", create=True)
    world.apply([world.event("create", "Short lived")])
    page_id = first["pageid"]
    assert page_id in world.view()
    world.admin.edit("Short lived", "'''Short lived''' page, edited.", "edit")
    edit = world.event("edit", "Short lived")
    world.admin.delete("Short lived")
    result = world.apply([edit])
    assert (result.missing, result.tombstones, result.upserts) == (1, 1, 0)
    assert page_id not in world.view()

    # Never in the store: nothing to delete, still counted.
    gone = world.admin.edit("Never seen", "'''Never seen''' page.", "create", create=True)
    never = world.event("create", "Never seen")
    world.admin.delete("Never seen")
    result = world.apply([never])
    assert (result.missing, result.tombstones, result.published) == (1, 0, None)
    assert gone["pageid"] not in world.view()


def test_bad_events_are_quarantined_and_the_rest_applied(world):
    good_edit = world.admin.edit("Realtime page", "'''Realtime page''' rewritten.", "rewrite")
    good = world.event("edit", "Realtime page")
    wrong = world.event("edit", "Realtime page", project="otherwiki", event_id="rc:wrong")
    broken = world.event("edit", "Realtime page", revision_id=None, event_id="rc:broken")
    result = world.apply([wrong, good, broken])
    assert result.upserts == 1 and dict(result.quarantined) == {"wrong_project": 1, "bad_event": 1}
    assert world.by_name()["Realtime page"]["version"]["identifier"] == good_edit["newrevid"]
    from wme_assets.storage.quarantine import read_quarantine

    records = read_quarantine(world.store, world.project, result.hour[:8], f"realtime-{result.hour}.ndjson")
    reasons = {(r["event_id"], r["reason"]) for r in records}
    assert reasons >= {("rc:wrong", "wrong_project"), ("rc:broken", "bad_event")}
    assert all(r["page_id"] == good.page_id for r in records)


def test_the_client_batches_by_fifty_and_reports_missing_revisions(world):
    client = ActionApiClient(f"{world.wiki.base_url}/api.php", concurrency=2)
    try:
        client.siteinfo()
        before = client.requests
        batch = client.revisions(range(1, 121))
        assert client.requests - before == 3  # 120 ids, 50 per request
        assert client.max_in_flight <= 2
        assert batch.missing and max(batch.missing) == 120 and not batch.missing & batch.revisions.keys()
        assert set(batch.revisions) | batch.missing == set(range(1, 121))
    finally:
        client.close()


def test_the_client_waits_out_maxlag_then_names_it(world):
    # A wiki without replicas reports a lag of -1 s, more than maxlag=-2: it answers with a real maxlag error
    # (HTTP 200, error.code "maxlag", Retry-After: 5).
    client = ActionApiClient(f"{world.wiki.base_url}/api.php", maxlag=-2, maxlag_retries=1)
    try:
        with pytest.raises(ActionApiError, match="maxlag"):
            client.siteinfo()
        assert client.maxlag_waits == 1 and client.requests == 2
    finally:
        client.close()
    # The same wiki with a sane maxlag answers at once.
    client = ActionApiClient(f"{world.wiki.base_url}/api.php", maxlag=5)
    try:
        assert client.siteinfo()["dbname"] == world.project and client.maxlag_waits == 0
    finally:
        client.close()
