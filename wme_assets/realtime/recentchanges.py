"""A MediaWiki's own API as a change source: ``list=recentchanges`` for edits, ``list=logevents`` for the rest.

For a wiki EventStreams does not carry (a private or self-hosted MediaWiki), or when the public stream is out
of reach. Two lists, each continued from its last id, merged by timestamp (edits first within a second):

- ``list=recentchanges``, ``rctype=edit|new``: ``new`` → create, ``edit`` → edit; position ``rc:{rcid}``;
- ``list=logevents``: delete → delete, restore → undelete, move → move, revision deletion (``delete/revision``,
  ``suppress/revision``) → visibility_change (one event per revision), protection → **edit**: protection is
  article metadata (Enterprise's ``protection``), so a protection change is a refresh of the page at its current
  revision. Position ``log:{logid}``.

Log actions come from ``logevents`` rather than recentchanges' own log rows because MediaWiki never puts the
suppression log in recentchanges, and logevents keeps entries past ``$wgRCMaxAge``.

The suppression log is private: MediaWiki lists its entries (``suppress/revision``, ``suppress/delete``) only to a
user with the ``suppressionlog`` right. With a login (``WME_MEDIAWIKI_BOT_USER`` and ``WME_MEDIAWIKI_BOT_PASSWORD``,
a bot password of an account that has the right) the source logs in before its first poll and sends
``assert=user`` with every query, so an expired session is an error and a new login (never a poll that quietly
misses the suppressions); anonymous, it sees every other change.

The log does not say which revision a page is at after a restore, move or protection; it is read with one
``prop=info`` query per poll (the page's latest revision when polled, which is what a refresh needs).
Titles arrive in display form (``File:Foo bar.jpg``) and are stored in database form (``Foo_bar.jpg``).
The state (the cursor's position for the project) is a small JSON object: last rcid and logid and their
timestamps, since both lists continue from a timestamp and skip the ids already seen at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from wme_assets.realtime.events import ChangeEvent, ChangeKind, Visibility
from wme_assets.realtime.eventstreams import strip_namespace
from wme_assets.util.http import retrying_session

LIMIT = 500
REVISION_DELETED_TEXT, REVISION_DELETED_COMMENT, REVISION_DELETED_USER = 1, 2, 4
LOG_KINDS: dict[tuple[str, str], ChangeKind] = {
    ("delete", "delete"): "delete",
    ("delete", "delete_redir"): "delete",
    ("suppress", "delete"): "delete",
    ("delete", "restore"): "undelete",
    ("move", "move"): "move",
    ("move", "move_redir"): "move",
    ("protect", "protect"): "edit",
    ("protect", "modify"): "edit",
    ("protect", "unprotect"): "edit",
    ("protect", "move_prot"): "edit",
    ("delete", "revision"): "visibility_change",
    ("suppress", "revision"): "visibility_change",
}


class LoginFailed(RuntimeError):
    """The wiki refused the configured login (the message names the wiki and the user, never the password)."""


class SessionExpired(RuntimeError):
    """A query with ``assert=user`` found the session gone."""


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One row read from the API: normalised (``change``), skipped (``skip`` says why) or bad (``reason``)."""

    event_id: str
    position: str
    raw: str
    change: ChangeEvent | None = None
    skip: str | None = None
    reason: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PollResult:
    items: list[SourceItem]
    state: str


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RecentChangesSource:
    """recentchanges + logevents of one project's MediaWiki (``endpoint``: the directory of api.php)."""

    name = "recentchanges"

    def __init__(
        self, project: str, endpoint: str, *, retries: int = 4, backoff: float = 1.0, timeout: float = 60,
        login: tuple[str, str] | None = None,
    ):  # fmt: skip
        self.project = project
        self.api = endpoint.rstrip("/") + "/api.php"
        self.session = retrying_session(retries, backoff)
        self.timeout = timeout
        self.login_as = login  # (user, password): read the private suppression log too
        self.logged_in = False

    def _login(self) -> None:
        user, password = self.login_as  # type: ignore[misc]
        token = self._query({"meta": "tokens", "type": "login"})["query"]["tokens"]["logintoken"]
        reply = self.session.post(
            self.api, timeout=self.timeout,
            data={"action": "login", "lgname": user, "lgpassword": password, "lgtoken": token, "format": "json"},
        ).json()  # fmt: skip
        result = reply.get("login", {}).get("result")
        if result != "Success":
            reason = reply.get("login", {}).get("reason") or result or reply.get("error", {}).get("info")
            raise LoginFailed(f"{self.project}: login to {self.api} as {user!r} failed: {reason} "
                              "(WME_MEDIAWIKI_BOT_USER, WME_MEDIAWIKI_BOT_PASSWORD)")  # fmt: skip
        self.logged_in = True

    def poll(self, state: str | None, *, since: datetime) -> PollResult:
        """Everything after ``state`` (or, with none, since ``since``), oldest first, and the state after it."""
        cursor = (
            orjson.loads(state)
            if state
            else {"rcid": 0, "rc_ts": _timestamp(since), "logid": 0, "log_ts": _timestamp(since)}
        )
        rc_rows = [
            r
            for r in self._list(
                "recentchanges",
                "rc",
                {
                    "rctype": "edit|new",
                    "rcprop": "ids|title|timestamp|redirect|sizes|flags|user|comment",
                    "rcstart": cursor["rc_ts"],
                },
            )
            if r.get("rcid", 0) > cursor["rcid"]
        ]
        log_rows = [
            r
            for r in self._list(
                "logevents",
                "le",
                {"leprop": "ids|title|type|timestamp|details|user|comment", "lestart": cursor["log_ts"]},
            )
            if r.get("logid", 0) > cursor["logid"]
        ]
        info = self._page_info({r.get("logpage") or r.get("pageid") for r in log_rows} - {None, 0})
        merged = sorted(
            [(r.get("timestamp", ""), 0, r.get("rcid", 0), r) for r in rc_rows]
            + [(r.get("timestamp", ""), 1, r.get("logid", 0), r) for r in log_rows],
            key=lambda t: t[:3],
        )
        items = []
        for _, is_log, _, row in merged:
            items.extend(self._log_items(row, info) if is_log else [self._rc_item(row)])
            if is_log:
                cursor["logid"], cursor["log_ts"] = (
                    row.get("logid", cursor["logid"]),
                    row.get("timestamp", cursor["log_ts"]),
                )
            else:
                cursor["rcid"], cursor["rc_ts"] = row.get("rcid", cursor["rcid"]), row.get("timestamp", cursor["rc_ts"])
        return PollResult(items=items, state=orjson.dumps(cursor, option=orjson.OPT_SORT_KEYS).decode())

    # ----- reading the API ------------------------------------------------------------------------

    def _get(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.login_as is None:
            return self._query(params)
        if not self.logged_in:
            self._login()
        try:
            return self._query({**params, "assert": "user"})
        except SessionExpired:  # the wiki dropped the session: log in again, once
            self.logged_in = False
            self._login()
            return self._query({**params, "assert": "user"})

    def _query(self, params: dict[str, Any]) -> dict[str, Any]:
        params = {"action": "query", "format": "json", "formatversion": "2", **params}
        response = self.session.get(self.api, params=params, timeout=self.timeout)
        if response.status_code != 200:
            raise RuntimeError(f"{self.api}: HTTP {response.status_code} for {params}: {response.text[:300]}")
        reply = response.json()
        if reply.get("error", {}).get("code") == "assertuserfailed":
            raise SessionExpired(f"{self.api}: the login session has ended")
        if "error" in reply:
            raise RuntimeError(f"{self.api}: API error {reply['error'].get('code')}: {reply['error'].get('info')}")
        return reply

    def _list(self, name: str, prefix: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        request = {"list": name, f"{prefix}dir": "newer", f"{prefix}limit": LIMIT, **params}
        while True:
            reply = self._get(request)
            rows.extend(reply.get("query", {}).get(name, []))
            if "continue" not in reply:
                return rows
            request = {**request, **reply["continue"]}

    def _page_info(self, page_ids: set[int]) -> dict[int, dict[str, Any]]:
        info: dict[int, dict[str, Any]] = {}
        ids = sorted(page_ids)
        for start in range(0, len(ids), 50):
            reply = self._get({"prop": "info", "pageids": "|".join(map(str, ids[start : start + 50]))})
            for page in reply.get("query", {}).get("pages", []):
                if not page.get("missing") and "pageid" in page:
                    info[page["pageid"]] = page
        return info

    # ----- normalising ------------------------------------------------------------------------

    def _rc_item(self, row: dict[str, Any]) -> SourceItem:
        event_id = f"rc:{row.get('rcid')}"
        raw = orjson.dumps(row).decode()
        try:
            kind: ChangeKind = "create" if row["type"] == "new" else "edit"
            change = ChangeEvent(
                source="recentchanges",
                event_id=event_id,
                position=event_id,
                project=self.project,
                kind=kind,
                dt=row["timestamp"],
                page_id=int(row["pageid"]),
                namespace=int(row["ns"]),
                title=strip_namespace(row["title"], int(row["ns"])),
                revision_id=int(row["revid"]),
                is_redirect=bool(row.get("redirect", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            return SourceItem(event_id, event_id, raw, reason="invalid_event", error=f"recentchanges row: {exc!r}")
        return SourceItem(event_id, event_id, raw, change=change)

    def _log_items(self, row: dict[str, Any], info: dict[int, dict[str, Any]]) -> list[SourceItem]:
        position = f"log:{row.get('logid')}"
        raw = orjson.dumps(row).decode()
        kind = LOG_KINDS.get((row.get("type", ""), row.get("action", "")))
        if kind is None:
            return [SourceItem(position, position, raw, skip=f"log {row.get('type')}/{row.get('action')}")]
        try:
            return self._log_changes(row, kind, position, info)
        except (KeyError, TypeError, ValueError) as exc:
            return [SourceItem(position, position, raw, reason="invalid_event", error=f"logevents row: {exc!r}")]

    def _log_changes(
        self, row: dict[str, Any], kind: ChangeKind, position: str, info: dict[int, dict[str, Any]]
    ) -> list[SourceItem]:
        # A revision deletion of several revisions is one log entry and becomes one event per revision.
        raw = orjson.dumps(row).decode()
        namespace = int(row["ns"])
        # logpage is the page the action was on; pageid is whatever page has that title now (after a move,
        # the redirect left behind).
        page_id = int(row.get("logpage") or row.get("pageid") or 0)
        page = info.get(page_id, {})
        common = {
            "source": "recentchanges",
            "position": position,
            "project": self.project,
            "dt": row["timestamp"],
            "page_id": page_id,
        }
        if kind == "delete":
            change = ChangeEvent(
                event_id=position,
                kind=kind,
                namespace=namespace,
                title=strip_namespace(row["title"], namespace),
                **common,
            )
            return [SourceItem(position, position, raw, change=change)]
        if kind == "move":
            params = row["params"]
            target_ns = int(params["target_ns"])
            change = ChangeEvent(
                event_id=position,
                kind=kind,
                namespace=target_ns,
                title=strip_namespace(params["target_title"], target_ns),
                revision_id=page.get("lastrevid"),
                is_redirect=bool(page.get("redirect", False)),
                prior_namespace=namespace,
                prior_title=strip_namespace(row["title"], namespace),
                **common,
            )
            return [SourceItem(position, position, raw, change=change)]
        title = strip_namespace(row["title"], namespace)
        if kind == "visibility_change":
            params = row["params"]
            bits = int(params["new"]["bitmask"])
            visibility = Visibility(
                text=not bits & REVISION_DELETED_TEXT,
                editor=not bits & REVISION_DELETED_USER,
                comment=not bits & REVISION_DELETED_COMMENT,
            )
            rev_ids = [int(r) for r in params["ids"]]
            return [
                SourceItem(
                    eid,
                    position,
                    raw,
                    change=ChangeEvent(
                        event_id=eid,
                        kind=kind,
                        namespace=namespace,
                        title=title,
                        revision_id=rev_id,
                        visibility=visibility,
                        **common,
                    ),
                )
                for rev_id, eid in ((r, position if len(rev_ids) == 1 else f"{position}/{r}") for r in rev_ids)
            ]
        # undelete, and protection changes as an edit-like refresh of the page at its current revision
        change = ChangeEvent(
            event_id=position,
            kind=kind,
            namespace=namespace,
            title=title,
            revision_id=page.get("lastrevid"),
            is_redirect=bool(page.get("redirect", False)),
            **common,
        )
        return [SourceItem(position, position, raw, change=change)]
