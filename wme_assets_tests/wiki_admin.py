"""Changing pages of a test wiki through its own Action API, logged in as the admin ``install.php`` created.

Each call returns what the wiki answered, so tests can turn the change into a
:class:`~wme_assets.realtime.events.ChangeEvent` from the wiki's own ids (page id, revision id, log id).
"""

from __future__ import annotations

from typing import Any

import requests

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
        return self._post(action="revisiondelete", type="revision", target=title, ids=str(revision_id),
                          hide=parts, reason="test")

    def page(self, title: str) -> dict[str, Any]:
        """``{pageid, ns, title, lastrevid, ...}`` of a page (``missing`` when there is none)."""
        return self._get(prop="info", titles=title)["query"]["pages"][0]
