"""The realtime path fills, from the Action API, what the dump path takes from the dumps' tables, and what only the
API has: against a real MediaWiki 1.39 and the real SeaweedFS.

The wiki is the one of the table tests (:func:`~wme_assets_tests.mediawiki_tables.start_tables_wiki`: real
viwiki pages with their templates and categories, imported with link updates; a template adding a hidden
category, ``__NOINDEX__``, protections, page props; its admin in the ``bot`` group). Here its admin edits a page
with a change tag, adding the template that adds a hidden category, after protecting it until a date (the
store does not hold it), edits a page the store holds and creates one; the changes are applied to an article
store. Each field is compared with what the wiki itself answers, then every changed page with the article the
dump path makes of the wiki's own export and tables (the tables' fields must be the same on both paths).
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count

import orjson
import pytest

from wme_assets.devtools.mirror import build_dumps_mirror
from wme_assets.enrichment.run import enrich_pages
from wme_assets.realtime.apply import apply_changes
from wme_assets.realtime.events import ChangeEvent
from wme_assets.sources.action_api import ActionApiClient
from wme_assets.storage.article_store import iter_current_articles
from wme_assets_tests.chain import ingest_from_mirror
from wme_assets_tests.mediawiki_tables import HIDDEN_CATEGORY, export_pages, export_tables, running_tables_wiki
from wme_assets_tests.paths import FIXTURES
from wme_assets_tests.servers import new_test_store
from wme_assets_tests.wiki_admin import WikiAdmin, publish_wiki_base

pytestmark = pytest.mark.integration

PROJECT = "viwiki"
TAG = "wme-test-tag"
EXPIRY = "2099-12-31T00:00:00Z"
_ids = count(1)


@pytest.fixture(scope="module")
def tables_wiki(request):
    with running_tables_wiki(request, FIXTURES, "wme-mediawiki-api-fields-") as wiki:
        yield wiki


class RecordingClient(ActionApiClient):
    """The real client, keeping the parameters of each call it makes."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[dict] = []

    def call(self, params):
        self.calls.append(dict(params))
        return super().call(params)


def _event(admin: WikiAdmin, kind: str, title: str) -> ChangeEvent:
    info = admin.page(title)
    ns = info["ns"]
    bare = title.split(":", 1)[1] if ns else title
    return ChangeEvent(
        source="recentchanges",
        event_id=f"rc:{next(_ids)}",
        position="rc:0",
        project=PROJECT,
        kind=kind,
        dt=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        page_id=info["pageid"],
        namespace=ns,
        title=bare.replace(" ", "_"),
        revision_id=info["lastrevid"],
    )


def _wait_for_category(admin: WikiAdmin, title: str, category: str) -> None:
    """The page's links update runs after the edit's response: wait until the wiki lists the category."""
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page = admin._get(prop="categories", titles=title, cllimit="max")["query"]["pages"][0]
        if category in {c["title"] for c in page.get("categories", ())}:
            return
        time.sleep(0.2)
    raise AssertionError(f"{title}: the wiki never listed {category}")


@pytest.fixture(scope="module")
def changed(tables_wiki, seaweedfs, tmp_path_factory):
    """The changes made and applied: ``(wiki facts, admin, titles by role, edits by role, articles by title)``."""
    server, facts = tables_wiki
    tmp = tmp_path_factory.mktemp("realtime-api-fields")
    admin = WikiAdmin(server.base_url)
    client = RecordingClient(f"{server.base_url}/api.php", concurrency=2)
    store = new_test_store(seaweedfs)
    titles = list(server.wikitext)
    roles = {
        "tagged": titles[10],
        "edited": titles[11],
        "noindex": facts["noindex"],
        "props": next(iter(facts["props"])),
        "protected": facts["protected"],
        "new": "Trang thử wme",
    }
    in_store = [t for role, t in roles.items() if role not in ("new", "tagged")]
    publish_wiki_base(store, client, in_store, PROJECT, tmp / "base")

    admin._post(action="managetags", operation="create", tag=TAG, reason="test")
    # protecting saves a null revision: the tagged edit comes after it, so that it is the page's latest
    admin.protect(roles["tagged"], "edit=autoconfirmed|move=sysop", expiry=EXPIRY)
    edits = {
        "tagged": admin._post(
            action="edit",
            title=roles["tagged"],
            nocreate="1",
            tags=TAG,
            summary="tagged",
            text=server.wikitext[roles["tagged"]] + "\n{{Wme bảo trì}}",
        )["edit"]
    }
    edits["edited"] = admin.edit(roles["edited"], server.wikitext[roles["edited"]] + "\n\nThêm.", "second")
    edits["new"] = admin.edit(
        roles["new"], "'''Trang thử''' là một trang.\n{{Wme bảo trì}}\n[[Thể loại:Wme mới]]", "new", create=True
    )
    _wait_for_category(admin, roles["tagged"], HIDDEN_CATEGORY)
    _wait_for_category(admin, roles["new"], HIDDEN_CATEGORY)

    events = [_event(admin, "create" if role == "new" else "edit", title) for role, title in roles.items()]
    result = apply_changes(
        store, PROJECT, events, revisions=client, siteinfo=client.siteinfo(), run_id="api-fields", log=lambda _: None
    )
    # the pages not changed since the base (built through the same fetch) are as stored: only the edit counts of
    # their editor (the admin, who edited since) differ
    assert (result.upserts, result.unchanged) == (3, 3) and not result.quarantined, result.metadata()
    # the parent the store holds (the edited page's) is not fetched again; the tagged page's is
    asked = [set(params["revids"].split("|")) for params in client.calls if "revids" in params]
    assert not any(str(edits["edited"]["oldrevid"]) in ids for ids in asked)
    assert sum(str(edits["tagged"]["oldrevid"]) in ids for ids in asked) == 1
    articles = {
        a["name"]: a
        for a in (orjson.loads(line) for _, line in iter_current_articles(store, PROJECT, cache_dir=tmp / "cache"))
    }
    yield facts, admin, client, roles, edits, articles, store, events
    client.close()


def test_an_edit_by_a_user_in_groups_with_a_tag(changed):
    _, admin, _, roles, edits, articles, *_ = changed
    article = articles[roles["tagged"]]
    assert article["version"]["identifier"] == edits["tagged"]["newrevid"]
    assert article["version"]["tags"] == [TAG]
    user = admin._get(list="users", ususers="Admin", usprop="groups|editcount|registration")["query"]["users"][0]
    editor = article["version"]["editor"]
    assert editor["groups"] == user["groups"] and {"bot", "sysop", "*", "user", "autoconfirmed"} <= set(user["groups"])
    assert editor["is_bot"] is True and editor["is_admin"] is True and "is_patroller" not in editor
    assert editor["edit_count"] == user["editcount"] > 0
    assert editor["date_started"] == user["registration"]
    assert "tags" not in articles[roles["noindex"]]["version"]  # a revision without tags has none


def test_protection_and_categories_templates_add(changed):
    _, admin, _, roles, _, articles, *_ = changed
    article = articles[roles["tagged"]]
    assert article["protection"] == [
        {"type": "edit", "level": "autoconfirmed", "expiry": EXPIRY},
        {"type": "move", "level": "sysop", "expiry": EXPIRY},
    ]
    page = admin._get(prop="categories|templates", titles=roles["tagged"], cllimit="max", tllimit="max")["query"][
        "pages"
    ][0]
    categories = {c["name"] for c in article["categories"]}
    assert HIDDEN_CATEGORY in categories and {c["title"] for c in page["categories"]} <= categories
    assert {t["name"] for t in article["templates"]} == {t["title"] for t in page["templates"]}
    assert "Bản mẫu:Wme bảo trì" in {t["name"] for t in article["templates"]}
    new = articles[roles["new"]]
    assert {c["name"] for c in new["categories"]} == {HIDDEN_CATEGORY, "Thể loại:Wme mới"}


def test_previous_version_and_dates(changed):
    _, admin, _, roles, edits, articles, *_ = changed
    for role in ("edited", "tagged"):  # the parent from the store, and from the API
        parent = admin._get(
            prop="revisions", revids=edits[role]["oldrevid"], rvprop="ids|timestamp|content", rvslots="main"
        )["query"]["pages"][0]["revisions"][0]
        article = articles[roles[role]]
        assert article["previous_version"] == {
            "identifier": edits[role]["oldrevid"],
            "number_of_characters": len(parent["slots"]["main"]["content"]),
        }
        assert article["date_previously_modified"] == parent["timestamp"]
    # an older page's creation is not fetched (as on the dump path), whatever its stored article says
    assert all("date_created" not in articles[roles[role]] for role in ("edited", "tagged"))
    new = articles[roles["new"]]
    assert new["date_created"] == new["date_modified"] == edits["new"]["newtimestamp"]
    assert "previous_version" not in new and "date_previously_modified" not in new


def test_fields_of_missing_extensions_stay_absent(changed):
    _, _, client, _, _, articles, *_ = changed
    assert "flagged" not in client.query_props() and "wbentityusage" not in client.query_props()
    assert all("is_flagged_stable" not in a["version"] and "additional_entities" not in a for a in articles.values())


def test_the_tables_fields_are_those_of_the_dump_path(changed, tables_wiki, seaweedfs, tmp_path):
    """The wiki's own export and tables as a dumps run, after the changes: the same categories, templates,
    protection, noindex, image, Wikidata item and editor as the realtime path gave each changed page."""
    server, _ = tables_wiki
    _, _, _, roles, _, realtime, *_ = changed
    build_dumps_mirror(
        tmp_path,
        PROJECT,
        "20990101",
        export_pages(server),
        tables=export_tables(server, PROJECT, "2099-01-01  0:00:00"),
    )
    store = new_test_store(seaweedfs)
    ingest_from_mirror(store, tmp_path, PROJECT, "20990101")
    enrich_pages(store, PROJECT, "20990101", run_id="dump", workers=1, log=lambda _: None)
    dump = {
        a["name"]: a
        for a in (orjson.loads(line) for _, line in iter_current_articles(store, PROJECT, cache_dir=tmp_path / "cache"))
    }
    assert realtime[roles["noindex"]]["version"]["noindex"] is True
    assert realtime[roles["props"]]["image"]["content_url"].endswith("/V%C3%AD_d%E1%BB%A5.jpg")
    for title in roles.values():
        ours, theirs = realtime[title], dump[title]
        assert ours["version"]["identifier"] == theirs["version"]["identifier"], title
        for key in ("categories", "templates", "protection", "image", "main_entity"):
            assert ours.get(key) == theirs.get(key), (title, key)
        assert ours["version"].get("noindex") == theirs["version"].get("noindex"), title
        mine, dumped = ours["version"]["editor"], theirs["version"]["editor"]
        assert set(mine["groups"]) - {"autoconfirmed"} == set(dumped["groups"]), title  # autoconfirmed: `user` table
        assert mine["is_bot"] == dumped["is_bot"], title


def test_a_change_applied_again_is_unchanged_though_its_editors_edit_count_grew(changed, tables_wiki):
    """The editor edits elsewhere; the same changes applied again rewrite nothing: a stored revision is not
    rewritten for its editor's edit count alone. Last in the module: it edits the wiki."""
    server, _ = tables_wiki
    _, admin, client, roles, _, articles, store, events = changed
    before = articles[roles["tagged"]]["version"]["editor"]["edit_count"]
    other = next(t for t in server.wikitext if t not in roles.values())
    admin.edit(other, server.wikitext[other] + "\n\nMột câu nữa.", "elsewhere")
    user = admin._get(list="users", ususers="Admin", usprop="editcount")["query"]["users"][0]
    assert user["editcount"] > before
    again = apply_changes(
        store, PROJECT, events, revisions=client, siteinfo=client.siteinfo(), run_id="again", log=lambda _: None
    )
    assert (again.upserts, again.unchanged, again.published) == (0, len(events), None)
