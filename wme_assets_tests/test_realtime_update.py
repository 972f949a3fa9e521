"""`wme update`: a wiki's own changes, from its recentchanges into the project's article store, end to end.

A real MediaWiki of this module's own (the enwiki fixture pages), the real SeaweedFS; the base is the wiki's
pages through the same fetch and enrichment the application uses. Then the wiki's admin edits, creates and
deletes pages, and `wme update` polls the wiki, stores the events and applies them.
"""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from wme_assets.cli import app
from wme_assets.realtime.update import load_applied
from wme_assets.settings import Settings
from wme_assets.sources.action_api import ActionApiClient
from wme_assets.storage import open_object_store
from wme_assets.storage.article_store import iter_current_articles
from wme_assets_tests.mediawiki_server import own_mediawiki
from wme_assets_tests.wiki_admin import WikiAdmin, publish_wiki_base

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def wiki(request):
    with own_mediawiki(request, "update") as server:
        yield server


def test_wme_update_applies_the_wikis_changes_once(wiki, s3_env, monkeypatch, tmp_path):
    client = ActionApiClient(f"{wiki.base_url}/api.php", concurrency=2)
    project = client.siteinfo()["dbname"]
    for name, value in {
        "WME_PROJECTS": project,
        "WME_CHANGE_SOURCE": "recentchanges",
        "WME_MEDIAWIKI_ENDPOINTS": f"{project}={wiki.base_url}",
    }.items():
        monkeypatch.setenv(name, value)
    store = open_object_store(Settings())
    publish_wiki_base(store, client, list(wiki.revisions), project, tmp_path / "base")

    admin = WikiAdmin(wiki.base_url)
    edited, deleted = sorted(wiki.revisions)[:2]
    edit = admin.edit(edited, wiki.wikitext[edited] + "\n\nA sentence added after the base was built.", "update")
    created = admin.edit("Realtime update page", "A page created after the base. It is short prose.", create=True)
    admin.delete(deleted)

    runner = CliRunner()
    done = runner.invoke(app, ["update", project], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert "new change events from its recentchanges" in done.output and "events applied" in done.output

    view = {a["name"]: a for a in (orjson.loads(line) for _, line in
                                   iter_current_articles(store, project, cache_dir=tmp_path / "read"))}  # fmt: skip
    assert view[edited]["version"]["identifier"] == edit["newrevid"]
    assert "A sentence added after the base was built." in view[edited]["article_body"]["wikitext"]
    assert view["Realtime update page"]["version"]["identifier"] == created["newrevid"]
    assert deleted not in view
    applied = load_applied(store, project)
    assert applied.seq >= 2 and applied.position

    again = runner.invoke(app, ["update", project], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert f"{project}: up to date (applied through seq {applied.seq})" in again.output


def test_wme_update_without_an_endpoint_says_which_setting(s3_env, monkeypatch):
    monkeypatch.setenv("WME_PROJECTS", "bnwiki")
    monkeypatch.setenv("WME_CHANGE_SOURCE", "eventstreams")
    monkeypatch.delenv("WME_MEDIAWIKI_ENDPOINTS", raising=False)
    # An event in the log and no MediaWiki to fetch its revision from: refused, naming the setting.
    from wme_assets.realtime.event_log import Cursor, EventLog, LoggedEvent, now_rfc3339
    from wme_assets.realtime.events import ChangeEvent

    store = open_object_store(Settings())
    change = ChangeEvent(
        source="eventstreams", event_id="e-1", position='[{"topic":"t","partition":0,"offset":1}]',
        project="bnwiki", kind="edit", dt="2026-12-02T00:00:00Z", page_id=1, namespace=0, title="X", revision_id=5,
    )  # fmt: skip
    EventLog(store, "eventstreams").append(
        [LoggedEvent(change=change, raw="{}", received=now_rfc3339())], [], Cursor(stream="eventstreams"),
        {"eventstreams": change.position},
    )  # fmt: skip
    done = CliRunner().invoke(app, ["update", "bnwiki"])
    assert done.exit_code == 2
    assert "bnwiki: changed revisions are fetched from the project's MediaWiki" in done.output
    assert "WME_MEDIAWIKI_ENDPOINTS" in done.output
