"""recentchanges + logevents of a real MediaWiki (this module's own instance: it edits, deletes and moves)."""

from __future__ import annotations

import time

import pytest
import requests

from wme_assets.realtime.event_log import EventLog
from wme_assets.realtime.listener import run_listener
from wme_assets.settings import Settings
from wme_assets_tests.mediawiki_server import own_mediawiki

ADMIN, ADMIN_PASSWORD = "Admin", "wme-test-Admin-pass-1"  # what start_mediawiki's install.php creates


@pytest.fixture(scope="module")
def own_wiki(request, seaweedfs):
    with own_mediawiki(request, "rc") as server:
        yield server


class Admin:
    def __init__(self, base_url: str):
        self.api = f"{base_url}/api.php"
        self.session = requests.Session()
        token = self.get(meta="tokens", type="login")["query"]["tokens"]["logintoken"]
        reply = self.post(action="login", lgname=ADMIN, lgpassword=ADMIN_PASSWORD, lgtoken=token)
        assert reply["login"]["result"] == "Success", reply
        self.csrf = self.get(meta="tokens")["query"]["tokens"]["csrftoken"]
        # PHP's opcache may serve the LocalSettings of before the grant for a couple of seconds: wait for it.
        deadline = time.monotonic() + 20
        while "deleterevision" not in self.get(meta="userinfo", uiprop="rights")["query"]["userinfo"]["rights"]:
            assert time.monotonic() < deadline, "the admin never got the deleterevision right"
            time.sleep(0.2)

    def get(self, **params):
        return self.session.get(self.api, params={"action": "query", "format": "json", **params}, timeout=60).json()

    def post(self, **params):
        reply = self.session.post(self.api, data={"format": "json", **params}, timeout=120).json()
        assert "error" not in reply, reply
        return reply

    def do(self, action, **params):
        return self.post(action=action, token=self.csrf, **params)


def test_changes_through_the_api_are_normalised(own_wiki, object_store):
    admin = Admin(own_wiki.base_url)
    created = admin.do("edit", title="Realtime probe", text="First text.", createonly=1)["edit"]
    edited = admin.do("edit", title="Realtime probe", text="Second text.")["edit"]
    admin.do("edit", title="Talk:Realtime probe", text="Not exported.")
    settings = Settings(projects="enwiki", change_source="recentchanges",
                        mediawiki_endpoints=f"enwiki={own_wiki.base_url}", realtime_cold_start_seconds=3600)
    # Polled before the delete: deleting a page removes its edits from recentchanges (the delete stands for them).
    first = run_listener(settings, object_store, once=True)
    admin.do("move", **{"from": "Realtime probe", "to": "Realtime probe moved", "reason": "test"})
    admin.do("protect", title="Realtime probe moved", protections="edit=sysop", expiry="infinite")
    admin.do("revisiondelete", type="revision", target="Realtime probe moved", ids=created["newrevid"],
             hide="content")
    admin.do("delete", title="Realtime probe moved")
    admin.do("undelete", title="Realtime probe moved")
    admin.do("block", user="192.0.2.1", expiry="1 day")  # a log entry that changes no article
    second = run_listener(settings, object_store, once=True)
    assert first.filtered == {"namespace": 1, "log create/create": 3}, first.as_dict()  # creations: RC has them
    assert second.filtered == {"log block/block": 1}, second.as_dict()
    assert not first.bad and not second.bad
    stored = [e.change for e in EventLog(object_store, "recentchanges").read("enwiki")]
    assert [e.title for e in stored[:1]] == ["Main_Page"]  # install.php's page, within the cold-start hour
    events = stored[1:]
    page_id = created["pageid"]
    summary = [(e.kind, e.namespace, e.title, e.page_id) for e in events]
    assert summary == [
        ("create", 0, "Realtime_probe", page_id),
        ("edit", 0, "Realtime_probe", page_id),
        ("move", 0, "Realtime_probe_moved", page_id),
        ("edit", 0, "Realtime_probe_moved", page_id),  # protection: a refresh of the page
        ("visibility_change", 0, "Realtime_probe_moved", page_id),
        ("delete", 0, "Realtime_probe_moved", page_id),
        ("undelete", 0, "Realtime_probe_moved", events[-1].page_id),
    ], summary
    create, edit, move, protect, hidden, delete, undelete = events
    assert create.revision_id == created["newrevid"] and edit.revision_id == edited["newrevid"]
    assert create.position == create.event_id and create.event_id.startswith("rc:")
    assert all(e.event_id.startswith("log:") for e in (move, protect, hidden, delete, undelete))
    assert (move.prior_namespace, move.prior_title) == (0, "Realtime_probe")
    assert hidden.revision_id == created["newrevid"] and hidden.visibility.text is False
    assert hidden.visibility.editor and hidden.visibility.comment
    assert delete.revision_id is None and undelete.revision_id is not None

    # Resuming: nothing again, then only what is new.
    assert run_listener(settings, object_store, once=True).kept == 0
    later = admin.do("edit", title="Realtime probe moved", text="Third text.")["edit"]
    again = run_listener(settings, object_store, once=True)
    assert again.kept == 1
    last = list(EventLog(object_store, "recentchanges").read("enwiki"))[-1].change
    assert (last.kind, last.revision_id) == ("edit", later["newrevid"])


def test_a_login_reads_the_private_suppression_log(own_wiki, seaweedfs):
    """A suppression (revision deletion by an oversighter) is logged in the suppression log, which MediaWiki lists
    only to users with `suppressionlog`: anonymous polls do not see it, a logged-in source does; a wrong password
    is a clear error that names the wiki and the user, never the password."""
    from wme_assets.realtime.recentchanges import LoginFailed
    from wme_assets_tests.servers import new_test_store

    admin = Admin(own_wiki.base_url)
    page = admin.do("edit", title="Suppression probe", text="Text.", summary="a comment to suppress")["edit"]
    base = dict(projects="enwiki", change_source="recentchanges", mediawiki_endpoints=f"enwiki={own_wiki.base_url}",
                realtime_cold_start_seconds=3600)  # fmt: skip
    anonymous, logged_in = new_test_store(seaweedfs), new_test_store(seaweedfs)
    # Both listeners start before the suppression: they then resume from the same log position.
    run_listener(Settings(**base), anonymous, once=True)
    settings = Settings(**base, mediawiki_bot_user=ADMIN, mediawiki_bot_password=ADMIN_PASSWORD)
    run_listener(settings, logged_in, once=True)
    admin.do("revisiondelete", type="revision", target="Suppression probe", ids=page["newrevid"], hide="comment",
             suppress="yes")  # fmt: skip

    assert run_listener(Settings(**base), anonymous, once=True).kept == 0
    assert run_listener(settings, logged_in, once=True).kept == 1
    suppressed = list(EventLog(logged_in, "recentchanges").read("enwiki"))[-1].change
    assert (suppressed.kind, suppressed.revision_id) == ("visibility_change", page["newrevid"])
    assert suppressed.visibility.comment is False and suppressed.visibility.text

    wrong = Settings(**base, mediawiki_bot_user=ADMIN, mediawiki_bot_password="not-the-password")
    with pytest.raises(LoginFailed, match="login to .* as 'Admin' failed") as refused:
        run_listener(wrong, new_test_store(seaweedfs), once=True)
    assert "not-the-password" not in str(refused.value)
