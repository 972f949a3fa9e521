"""Revisions' content and metadata from a MediaWiki's Action API (``api.php``), in batches of 50.

What the realtime stage needs to turn a change into an article: for each changed revision, its page (id,
namespace, title, redirect flag, latest revision, Wikidata item, the redirects that point at it) and the
revision itself (ids, timestamp, editor, comment, flags, tags, size, sha1, wikitext), with what revision
deletion hid. One ``action=query`` request per 50 revision ids (the API's limit for ``revids`` without the
``apihighlimits`` right)::

    prop=revisions|info|pageprops|redirects  rvprop=ids|timestamp|user|userid|comment|content|size|sha1|flags|tags
    rvslots=main  ppprop=wikibase_item  rdlimit=max  formatversion=2  maxlag=5

Why it is built this way
    * A revision that no longer exists (its page deleted, so its revisions archived) is not an error: the
      API lists it under ``badrevids`` and :meth:`ActionApiClient.revisions` reports it in ``missing``;
      the caller decides (a tombstone).
    * Revision deletion is recognised from the API's own flags (``texthidden``, ``userhidden``,
      ``commenthidden``, ``suppressed``): a hidden part is absent from the reply and ``None`` here, never
      an empty string that would look like a real empty text or comment.
    * ``maxlag``: Wikimedia asks bots to send it. When the replicas lag, the API answers HTTP 200 with
      ``error.code == "maxlag"`` and a ``Retry-After`` header; the client waits that long and asks again,
      at most ``maxlag_retries`` times, then raises naming the lag. 429/5xx/connection errors are retried
      by the session (exponential backoff, ``Retry-After`` honoured: :mod:`wme_assets.util.http`).
    * At most ``concurrency`` requests in flight (one thread pool shared by every call), so a burst of
      changes never floods a wiki.
    * Replies are followed through ``continue`` (a batch whose text passes the API's result size limit,
      or whose redirects pass ``rdlimit``), merging the pieces per page.

What the dump path takes from the dumps' SQL tables (categories, templates, protection, page props, editors'
groups) and what only the API has (tags, edit counts, the previous revision) come from
:meth:`ActionApiClient.revision_metadata` (:mod:`.revision_metadata`).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from wme_assets.util.http import USER_AGENT, retrying_session

__all__ = ["BATCH_SIZE", "ActionApiClient", "ActionApiError", "FetchedRevision", "RevisionBatch"]

BATCH_SIZE = 50  # revids per request: the API's limit for clients without apihighlimits
DEFAULT_TIMEOUT_S = 60.0
_RVPROP = "ids|timestamp|user|userid|comment|content|size|sha1|flags|tags"


class ActionApiError(RuntimeError):
    """An Action API request failed (after retries), or the API answered with an error."""


@dataclass(frozen=True, slots=True)
class FetchedRevision:
    """One revision with its page, as the Action API gave it; hidden parts are ``None`` with their flag set."""

    page_id: int
    namespace: int
    title: str  # database form: underscores, no namespace prefix
    is_redirect: bool
    latest_revision_id: int | None  # the page's current revision (``lastrevid``)
    revision_id: int
    parent_revision_id: int | None
    timestamp: str | None
    user: str | None
    user_id: int | None
    is_anonymous: bool
    comment: str | None
    text: str | None
    content_model: str | None
    size: int | None
    sha1: str | None
    is_minor: bool
    tags: tuple[str, ...]
    text_hidden: bool = False
    user_hidden: bool = False
    comment_hidden: bool = False
    suppressed: bool = False
    wikibase_item: str | None = None
    redirects: tuple[str, ...] = ()  # titles (with spaces, namespace prefixed) of the redirects to the page

    def page_row(self, *, source: str = "") -> dict[str, Any]:
        """The page-store row the enrichment takes (:data:`wme_assets.enrichment.run.PAGE_COLUMNS`).

        The title is the display form with the namespace prefix, as the dumps write it; ``source`` goes
        where the dump path puts the dump file's name (the article's provenance).
        """
        # The API calls every user without an account id "anon", imported editors ("imported>Name") too;
        # only an address is an IP editor, as in the dumps.
        ip = self.user if self.is_anonymous and _is_ip(self.user) else None
        return {
            "page_id": self.page_id,
            "namespace": self.namespace,
            "title": self.title.replace("_", " "),
            "is_redirect": self.is_redirect,
            "revision_id": self.revision_id,
            "parent_revision_id": self.parent_revision_id or None,
            "timestamp": self.timestamp,
            "contributor_name": None if ip else self.user,
            "contributor_id": None if ip else self.user_id,
            "contributor_ip": ip,
            "contributor_deleted": self.user_hidden,
            "is_minor": self.is_minor,
            "comment": self.comment,
            "comment_deleted": self.comment_hidden,
            "size_bytes": self.size,
            "text": self.text,
            "text_deleted": self.text_hidden,
            "wikibase_item": self.wikibase_item,
            "source_file": source,
        }


@dataclass
class RevisionBatch:
    """What :meth:`ActionApiClient.revisions` found: revisions by id, and the ids the wiki no longer has."""

    revisions: dict[int, FetchedRevision] = field(default_factory=dict)
    missing: set[int] = field(default_factory=set)


def _strip_namespace(title: str, namespace: int, prefixes: dict[int, str]) -> str:
    prefix = prefixes.get(namespace, "")
    if prefix and title.startswith(prefix + ":"):
        title = title[len(prefix) + 1:]
    return title.replace(" ", "_")


def parse_page(page: dict[str, Any], prefixes: dict[int, str]) -> Iterator[FetchedRevision]:
    """The revisions of one ``query.pages[]`` entry (formatversion 2) as :class:`FetchedRevision`."""
    namespace = page["ns"]
    title = _strip_namespace(page["title"], namespace, prefixes)
    redirects = tuple(r["title"] for r in page.get("redirects", ()))
    for rev in page.get("revisions", ()):
        main = (rev.get("slots") or {}).get("main") or {}
        text_hidden = bool(main.get("texthidden") or rev.get("texthidden"))
        user_hidden = bool(rev.get("userhidden"))
        comment_hidden = bool(rev.get("commenthidden"))
        yield FetchedRevision(
            page_id=page["pageid"],
            namespace=namespace,
            title=title,
            is_redirect=bool(page.get("redirect")),
            latest_revision_id=page.get("lastrevid"),
            revision_id=rev["revid"],
            parent_revision_id=rev.get("parentid") or None,
            timestamp=rev.get("timestamp"),
            user=None if user_hidden else rev.get("user"),
            user_id=None if user_hidden else rev.get("userid"),
            is_anonymous=bool(rev.get("anon")),
            comment=None if comment_hidden else rev.get("comment"),
            text=None if text_hidden else main.get("content"),
            content_model=main.get("contentmodel"),
            size=rev.get("size"),
            sha1=rev.get("sha1"),
            is_minor=bool(rev.get("minor")),
            tags=tuple(rev.get("tags") or ()),
            text_hidden=text_hidden,
            user_hidden=user_hidden,
            comment_hidden=comment_hidden,
            suppressed=bool(rev.get("suppressed")),
            wikibase_item=(page.get("pageprops") or {}).get("wikibase_item"),
            redirects=redirects,
        )


def _merge_pages(into: dict[int, dict[str, Any]], pages: Iterable[dict[str, Any]]) -> None:
    """Merge continued pieces of ``query.pages`` per page id (revisions and redirects arrive in parts)."""
    for page in pages:
        if "pageid" not in page:
            continue  # a missing or invalid title: nothing to merge
        seen = into.setdefault(page["pageid"], {**page, "revisions": [], "redirects": []})
        for key in ("revisions", "redirects"):
            seen[key].extend(page.get(key, ()))
        for key, value in page.items():
            if key not in ("revisions", "redirects"):
                seen.setdefault(key, value)


class ActionApiClient:
    """Revisions from one wiki's ``api.php`` (``api_url``, e.g. ``https://en.wikipedia.org/w/api.php``)."""

    def __init__(
        self,
        api_url: str,
        *,
        concurrency: int = 4,
        retries: int = 4,
        backoff: float = 1.0,
        maxlag: int | None = 5,
        maxlag_retries: int = 6,
        timeout: float = DEFAULT_TIMEOUT_S,
        user_agent: str = USER_AGENT,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not urlsplit(api_url).path.endswith("api.php"):
            raise ValueError(f"{api_url} is not an Action API endpoint (…/api.php)")
        self.api_url = api_url
        self.concurrency = concurrency
        self.maxlag = maxlag
        self.maxlag_retries = maxlag_retries
        self.timeout = timeout
        self.requests = 0  # API calls made (urllib3's own retries not counted)
        self.maxlag_waits = 0  # times the wiki said its replicas lag and we waited
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(concurrency)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="action-api")
        # GET only: every call here is a read, and only reads are safe to repeat.
        self._session = retrying_session(retries, backoff, user_agent=user_agent)
        self._prefixes: dict[int, str] | None = None
        self._query_props: frozenset[str] | None = None

    # -- public API ----------------------------------------------------------------------------

    def siteinfo(self) -> dict[str, Any]:
        """The wiki's siteinfo in the page store manifest's form (what :class:`enrichment.article.Site` reads)."""
        reply = self.call({"meta": "siteinfo", "siprop": "general|namespaces"})
        general, namespaces = reply["query"]["general"], reply["query"]["namespaces"]
        self._prefixes = {int(ns): info.get("name", "") for ns, info in namespaces.items()}
        return {
            "dbname": general["wikiid"],
            "sitename": general.get("sitename"),
            "base_url": general.get("base"),
            "language": general.get("lang"),
            "case": general.get("case"),
            "generator": general.get("generator"),
            "namespaces": {
                str(ns): {"name": info.get("name", ""), "case": info.get("case")} for ns, info in namespaces.items()
            },
        }

    def revisions(self, revision_ids: Iterable[int]) -> RevisionBatch:
        """The given revisions with their pages, ``BATCH_SIZE`` per request, ``concurrency`` requests at a time."""
        ids = sorted({int(r) for r in revision_ids})
        batches = [ids[i:i + BATCH_SIZE] for i in range(0, len(ids), BATCH_SIZE)]
        result = RevisionBatch()
        for found, missing in self._pool.map(self._revision_batch, batches):
            result.revisions.update(found)
            result.missing |= missing
        return result

    def latest_revisions(self, titles: Iterable[str]) -> RevisionBatch:
        """The current revision of each title (``missing`` is empty: an absent title is simply not there)."""
        titles = list(dict.fromkeys(titles))
        result = RevisionBatch()
        for i in range(0, len(titles), BATCH_SIZE):
            pages = self._query({"titles": "|".join(titles[i:i + BATCH_SIZE])})
            for page in pages.values():
                for rev in parse_page(page, self._namespace_prefixes()):
                    result.revisions[rev.revision_id] = rev
        return result

    def revision_metadata(
        self, revisions: Iterable[FetchedRevision], *, known_parents: dict[int, dict[str, Any]] | None = None
    ) -> dict[int, dict[str, Any]]:
        """What the API says of ``revisions`` beyond their text, by revision id (see :mod:`.revision_metadata`)."""
        from .revision_metadata import fetch_revision_metadata

        return fetch_revision_metadata(self, revisions, known_parents=known_parents)

    def query_props(self) -> frozenset[str]:
        """The ``prop`` modules of the wiki's ``action=query`` (``action=paraminfo``, asked once): which
        extensions' modules (``flagged``, ``pageimages``, ``wbentityusage``…) the wiki has."""
        if self._query_props is None:
            reply = self.call({"action": "paraminfo", "modules": "query"})
            [module] = reply["paraminfo"]["modules"]
            [prop] = [p for p in module["parameters"] if p["name"] == "prop"]
            self._query_props = frozenset(prop["type"])
        return self._query_props

    def map(self, function, items: Iterable[Any]) -> list[Any]:
        """``function`` over ``items`` on the client's pool (at most ``concurrency`` at a time), in order."""
        return list(self._pool.map(function, items))

    def call(self, params: dict[str, Any]) -> dict[str, Any]:
        """One ``action=query`` (JSON, formatversion 2, maxlag), waiting out maxlag; raises on API errors."""
        params = {"action": "query", "format": "json", "formatversion": "2", **params}
        if self.maxlag is not None:
            params["maxlag"] = str(self.maxlag)
        for attempt in range(self.maxlag_retries + 1):
            response = self._get(params)
            try:
                reply = response.json()
            except ValueError:
                raise ActionApiError(
                    f"GET {response.url} answered HTTP {response.status_code} without JSON: {response.text[:200]!r}"
                ) from None
            error = reply.get("error")
            if error and error.get("code") == "maxlag" and attempt < self.maxlag_retries:
                with self._lock:
                    self.maxlag_waits += 1
                time.sleep(_retry_after(response))
                continue
            if error:
                raise ActionApiError(f"{self.api_url}: {error.get('code')}: {error.get('info')} (params {params})")
            if response.status_code != 200:
                raise ActionApiError(f"GET {response.url} answered HTTP {response.status_code}")
            return reply
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._session.close()

    def __enter__(self) -> ActionApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------

    def _namespace_prefixes(self) -> dict[int, str]:
        if self._prefixes is None:
            self.siteinfo()
        return self._prefixes

    def _revision_batch(self, ids: list[int]) -> tuple[dict[int, FetchedRevision], set[int]]:
        missing: set[int] = set()
        pages = self._query({"revids": "|".join(map(str, ids))}, missing=missing)
        prefixes = self._namespace_prefixes()
        found = {rev.revision_id: rev for page in pages.values() for rev in parse_page(page, prefixes)}
        # A revision neither returned nor reported bad would be a silent loss: name it.
        unaccounted = set(ids) - found.keys() - missing
        if unaccounted:
            raise ActionApiError(
                f"{self.api_url}: revisions {sorted(unaccounted)} neither returned nor reported missing"
            )
        return found, missing

    def _query(self, params: dict[str, Any], *, missing: set[int] | None = None) -> dict[int, dict[str, Any]]:
        params = {
            "prop": "revisions|info|pageprops|redirects",
            "rvprop": _RVPROP,
            "rvslots": "main",
            "ppprop": "wikibase_item",
            "rdprop": "title",
            "rdlimit": "max",
            **params,
        }
        pages: dict[int, dict[str, Any]] = {}
        cont: dict[str, Any] = {}
        while True:
            reply = self.call({**params, **cont})
            query = reply.get("query") or {}
            _merge_pages(pages, query.get("pages", ()))
            if missing is not None:
                bad = query.get("badrevids") or {}
                missing.update(int(r) for r in (bad.keys() if isinstance(bad, dict) else (b["revid"] for b in bad)))
            if "continue" not in reply:
                return pages
            cont = reply["continue"]

    def _get(self, params: dict[str, Any]) -> requests.Response:
        with self._slots:
            with self._lock:
                self.requests += 1
                self._in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self._in_flight)
            try:
                return self._session.get(self.api_url, params=params, timeout=self.timeout)
            except requests.RequestException as err:
                raise ActionApiError(f"GET {self.api_url} failed after retries: {err}") from err
            finally:
                with self._lock:
                    self._in_flight -= 1


def _is_ip(name: str | None) -> bool:
    try:
        ipaddress.ip_address(name or "")
    except ValueError:
        return False
    return True


def _retry_after(response: requests.Response) -> float:
    """Seconds the wiki asked us to wait (``Retry-After``), bounded; 5 s (Wikimedia's advice) without one."""
    try:
        return min(max(float(response.headers.get("Retry-After", 5)), 0.0), 120.0)
    except ValueError:
        return 5.0
