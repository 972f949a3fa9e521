"""Changing pages of a test wiki through its own Action API, logged in as the admin ``install.php`` created.

Each call returns what the wiki answered, so tests can turn the change into a
:class:`~wme_assets.realtime.events.ChangeEvent` from the wiki's own ids (page id, revision id, log id).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from wme_assets.enrichment.article import Site
from wme_assets.realtime.apply import build_fetched
from wme_assets.sources.action_api import ActionApiClient
from wme_assets.storage.article_store import ArticleStoreWriter, publish_base
from wme_assets.storage.object_store import ObjectStore

ADMIN, ADMIN_PASSWORD = "Admin", "wme-test-Admin-pass-1"  # what mediawiki_server.start_mediawiki installs


class WikiAdmin:
    def __init__(self, base_url: str) -> None:
        self.api = f"{base_url}/api.php"
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "wme-tests (wiki admin)"
        token = self._get(meta="tokens", type="login")["query"]["tokens"]["logintoken"]
        reply = self._post(action="login", lgname=ADMIN, lgpassword=ADMIN_PASSWORD, lgtoken=token)
        if reply["login"]["result"] != "Success":
            raise RuntimeError(f"admin login failed: {reply}")
        self.csrf = self._get(meta="tokens")["query"]["tokens"]["csrftoken"]

    def _get(self, **params: Any) -> dict[str, Any]:
        params = {"action": "query", "format": "json", "formatversion": "2", **params}
        return self._check(self.session.get(self.api, params=params, timeout=120).json())

    def _post(self, **params: Any) -> dict[str, Any]:
        data = {"format": "json", "formatversion": "2", **params}
        if params.get("action") != "login":
            data["token"] = self.csrf
        return self._check(self.session.post(self.api, data=data, timeout=120).json())

    @staticmethod
    def _check(reply: dict[str, Any]) -> dict[str, Any]:
        if "error" in reply:
            raise RuntimeError(f"the wiki refused: {reply['error']}")
        return reply

    def edit(self, title: str, text: str, summary: str = "", *, create: bool = False) -> dict[str, Any]:
        """``{pageid, newrevid, oldrevid, title, newtimestamp, ...}`` of the edit."""
        extra = {"createonly": "1"} if create else {"nocreate": "1"}
        return self._post(action="edit", title=title, text=text, summary=summary, **extra)["edit"]

    def delete(self, title: str, reason: str = "test") -> dict[str, Any]:
        return self._post(action="delete", title=title, reason=reason)["delete"]

    def undelete(self, title: str, reason: str = "test") -> dict[str, Any]:
        return self._post(action="undelete", title=title, reason=reason)["undelete"]

    def move(self, title: str, to: str, *, redirect: bool = True) -> dict[str, Any]:
        extra = {} if redirect else {"noredirect": "1"}
        return self._post(action="move", **{"from": title}, to=to, reason="test", **extra)["move"]

    def protect(self, title: str, protections: str = "edit=sysop", expiry: str = "infinite") -> dict[str, Any]:
        """Protect a page (``protections`` as the API takes them: ``edit=sysop|move=sysop``)."""
        return self._post(action="protect", title=title, protections=protections, expiry=expiry, reason="test")[
            "protect"
        ]

    def hide(self, title: str, revision_id: int, parts: str) -> dict[str, Any]:
        """Revision-delete ``parts`` (``content``, ``user``, ``comment``, joined by ``|``) of a revision."""
        return self._post(
            action="revisiondelete", type="revision", target=title, ids=str(revision_id), hide=parts, reason="test"
        )

    def page(self, title: str) -> dict[str, Any]:
        """``{pageid, ns, title, lastrevid, ...}`` of a page (``missing`` when there is none)."""
        return self._get(prop="info", titles=title)["query"]["pages"][0]


def publish_wiki_base(
    store: ObjectStore,
    client: ActionApiClient,
    titles: list[str],
    project: str,
    work: Path,
    *,
    run_id: str = "base",
    html: str | None = None,
    date: str | None = None,
) -> str:
    """An article-store base of the wiki's current pages, through the fetch and enrichment the application uses
    (with ``html``, the wiki's base URL, their Parsoid HTML too, as for a project with an endpoint); returns its
    date (default today, UTC)."""
    from wme_assets.sources.mediawiki import MediaWikiClient

    parsoid = MediaWikiClient(html) if html else None
    site = Site.from_siteinfo(client.siteinfo())
    writer = ArticleStoreWriter(work, project=project, source="api:base", run_id=run_id)
    revisions = sorted(client.latest_revisions(titles).revisions.values(), key=lambda r: r.page_id)
    metadata = client.revision_metadata(revisions)
    for rev in revisions:
        page_html = parsoid.revision_html(rev.revision_id) if parsoid else None
        built = build_fetched(rev, site, run_id=run_id, source="api:base", html=page_html,
                              metadata=metadata.get(rev.revision_id))
        writer.add(built.page_id, built.namespace, built.name, built.revision_id, built.date_modified,
                   built.article_json, structured=built.structured_json.decode())  # fmt: skip
    writer.close()
    date = date or datetime.now(UTC).strftime("%Y%m%d")
    publish_base(store, work, project, date)
    return date


def use_wiki_as_change_source(monkeypatch, base_url: str, **settings: str) -> tuple[ActionApiClient, str]:
    """Point wme at a test wiki as its one project and change source (recentchanges, its API for the revisions),
    with ``settings`` as further ``WME_*`` variables; returns the wiki's API client and dbname."""
    client = ActionApiClient(f"{base_url}/api.php", concurrency=2)
    project = client.siteinfo()["dbname"]
    variables = {
        "WME_PROJECTS": project,
        "WME_CHANGE_SOURCE": "recentchanges",
        "WME_MEDIAWIKI_ENDPOINTS": f"{project}={base_url}",
        **{f"WME_{name.upper()}": value for name, value in settings.items()},
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return client, project
