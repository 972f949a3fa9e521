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
from wme_assets.storage import open_object_store
from wme_assets.storage.article_store import iter_current_articles
from wme_assets_tests.mediawiki_server import own_mediawiki
from wme_assets_tests.wiki_admin import WikiAdmin, publish_wiki_base, use_wiki_as_change_source

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def wiki(request):
    with own_mediawiki(request, "update") as server:
        yield server


def test_wme_update_applies_the_wikis_changes_once(wiki, s3_env, monkeypatch, tmp_path):
    client, project = use_wiki_as_change_source(monkeypatch, wiki.base_url)
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


def test_wme_listen_applies_an_edit_soon_after_the_listener_stores_it(wiki, s3_env, monkeypatch, tmp_path):
    """`wme listen` as a service (listen_and_update, not --once): the listener polls the wiki in its thread and
    the application follows as soon as new events are stored, not on a timer of its own; holding the project's
    article-store lease while a dump's enrichment would, it skips the round and applies on the next."""
    import threading
    import time

    from wme_assets.realtime.update import applier_lease, listen_and_update
    from wme_assets.storage.article_store import lookup_current

    # A poll every second; a timer-driven application would wait this long again.
    client, project = use_wiki_as_change_source(
        monkeypatch, wiki.base_url, recentchanges_poll_seconds="1", realtime_flush_seconds="0.2"
    )
    settings = Settings()
    store = open_object_store(settings)
    publish_wiki_base(store, client, [*wiki.revisions, "Main Page"], project, tmp_path / "base", html=wiki.base_url)
    page = sorted(wiki.revisions)[-1]
    said: list[str] = []
    stop = threading.Event()
    service = threading.Thread(target=listen_and_update, args=(settings, store),
                               kwargs={"once": False, "stop": stop, "echo": said.append})  # fmt: skip
    service.start()
    try:
        # Another writer holds the store: the rounds meanwhile are skipped, saying so, and nothing waits on it.
        with applier_lease(settings, store, project):
            edit = WikiAdmin(wiki.base_url).edit(page, wiki.wikitext[page] + "\n\nAdded while `wme listen` ran.")
            deadline = time.monotonic() + 30
            while not any("not applied this round" in line for line in said) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert any("not applied this round" in line for line in said), said
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            row = lookup_current(store, project, [edit["pageid"]], cache_dir=tmp_path / "watch").get(edit["pageid"])
            if row is not None and row["revision_id"] == edit["newrevid"]:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the edit never reached the article store: {said[-5:]}")
    finally:
        stop.set()
        service.join(timeout=60)
    assert not service.is_alive()
    assert load_applied(store, project).seq >= 0


def test_the_log_is_read_from_where_the_application_stopped(object_store, monkeypatch):
    """Pending events are read without the log's older segments (not downloaded) and older hours (not listed)."""
    from wme_assets.realtime.event_log import Cursor, EventLog, LoggedEvent, now_rfc3339
    from wme_assets.realtime.events import ChangeEvent

    log = EventLog(object_store, "recentchanges")
    cursor = Cursor(stream="recentchanges")
    started = now_rfc3339()  # every segment below is written in this hour or a later one
    for segment in range(3):  # three segments of two events: seqs 0-1, 2-3, 4-5
        events = [
            LoggedEvent(change=ChangeEvent("recentchanges", f"rc:{n}", f"rc:{n}", "bnwiki", "edit",
                                           "2026-12-02T00:00:00Z", 10 + n, 0, f"P{n}", 100 + n),
                        raw="{}", received=now_rfc3339())
            for n in (2 * segment, 2 * segment + 1)
        ]  # fmt: skip
        cursor = log.append(events, [], cursor, {"bnwiki": f"rc:{2 * segment + 1}"})
    downloaded: list[str] = []
    read_bytes = object_store.read_bytes
    monkeypatch.setattr(object_store, "read_bytes", lambda key: downloaded.append(key) or read_bytes(key))
    assert [e.seq for e in log.read("bnwiki", after_seq=2)] == [3, 4, 5]
    assert len(downloaded) == 2  # the segment of seqs 0-1 was skipped
    first_hour = started[:13].replace("-", "").replace("T", "")
    assert [e.seq for e in log.read("bnwiki", after_seq=3, from_hour=first_hour)] == [4, 5]
    assert log.segments("bnwiki", from_hour="2099010100") == []  # nothing written in or after that hour


def test_a_project_log_continues_its_seqs_when_the_change_source_changes(object_store):
    """The project's log is one sequence: events stored by a second change source come after the first's."""
    from wme_assets.realtime.event_log import Cursor, EventLog, LoggedEvent, now_rfc3339
    from wme_assets.realtime.events import ChangeEvent

    def events(source: str, ids: range) -> list[LoggedEvent]:
        return [LoggedEvent(change=ChangeEvent(source, f"{source}-{n}", f"p{n}", "bnwiki", "edit",
                                               "2026-12-02T00:00:00Z", 10 + n, 0, f"P{n}", 100 + n),
                            raw="{}", received=now_rfc3339()) for n in ids]  # fmt: skip

    EventLog(object_store, "recentchanges").append(events("recentchanges", range(3)), [], Cursor("recentchanges"), {})
    later = EventLog(object_store, "eventstreams")
    later.append(events("eventstreams", range(3, 5)), [], later.load_cursor(), {})
    assert [e.seq for e in later.read("bnwiki")] == [0, 1, 2, 3, 4]
