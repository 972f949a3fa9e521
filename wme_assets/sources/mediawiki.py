"""Parsoid HTML of revisions from a MediaWiki endpoint, with bounded concurrency, retries and a cache.

When a MediaWiki endpoint is configured for a project, ``article_body.html`` is the Parsoid HTML of
the revision and the HTML-derived fields come from it (:mod:`wme_assets.enrichment.html`).
:class:`MediaWikiClient` fetches ``{base}/rest.php/v1/revision/{id}/html`` — the core REST route that
renders with the Parsoid bundled in MediaWiki ≥ 1.39 (no RESTBase, no Parsoid extension needed; on
Wikimedia wikis the same route lives under ``https://{host}/w/rest.php``).

Why it is built this way
    * Rendering is expensive on the server (a cold Parsoid render of a large article takes seconds),
      so the client never has more than ``concurrency`` requests in flight — one pool of that many
      threads, shared by every call — and keeps every HTML it got in a cache keyed by revision id.
      A revision's HTML never changes, so the cache needs no expiry.
    * The cache is one gzip file per revision, ``{cache_dir}/{rev_id % 1000:03d}/{rev_id}.html.gz``,
      written to a temporary name and renamed, so a crash never leaves a truncated entry and
      concurrent writers of the same revision are harmless.
    * 429, 5xx and connection errors are retried with exponential backoff (urllib3 ``Retry``, which
      honours ``Retry-After``); a 404 is not retried and raises :class:`RevisionNotFound` naming the
      URL and revision.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

from wme_assets.util.http import retry_policy, retrying_session

__all__ = ["MediaWikiClient", "MediaWikiError", "RevisionNotFound"]

DEFAULT_TIMEOUT_S = 120.0  # a cold Parsoid render of a very large page can take tens of seconds


class MediaWikiError(RuntimeError):
    """A MediaWiki request failed (after retries)."""


class RevisionNotFound(MediaWikiError):
    """The endpoint answered 404 for a revision."""

    def __init__(self, rev_id: int, url: str) -> None:
        super().__init__(f"revision {rev_id} not found (HTTP 404 from {url})")
        self.rev_id = rev_id
        self.url = url


class MediaWikiClient:
    """Parsoid HTML of revisions from one MediaWiki (``base_url`` is the script path: the directory
    of ``rest.php``, e.g. ``http://127.0.0.1:8080`` or ``https://en.wikipedia.org/w``)."""

    def __init__(
        self,
        base_url: str,
        *,
        concurrency: int = 4,
        retries: int = 4,
        backoff: float = 1.0,
        cache_dir: str | os.PathLike[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        user_agent: str = "wme (https://github.com/; self-hosted Wikimedia Enterprise data products)",
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.concurrency = concurrency
        self.timeout = timeout
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.http_requests = 0  # HTTP requests made (not counting urllib3 retries): what the cache saves
        self.cache_hits = 0
        self._max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        # One slot per allowed request: revision_html() from any thread respects the limit too.
        self._slots = threading.BoundedSemaphore(concurrency)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="mediawiki")
        retry = retry_policy(retries, backoff, methods=frozenset({"GET"}))
        adapter = _CountingAdapter(self, max_retries=retry, pool_connections=1, pool_maxsize=concurrency)
        self._session = retrying_session(user_agent=user_agent, adapter=adapter)

    # -- public API ----------------------------------------------------------------------------

    def revision_url(self, rev_id: int) -> str:
        return f"{self.base_url}/rest.php/v1/revision/{int(rev_id)}/html"

    @property
    def max_in_flight(self) -> int:
        """The most requests that were ever in flight at once (for checking the limit)."""
        return self._max_in_flight

    def revision_html(self, rev_id: int) -> str:
        """The Parsoid HTML of one revision, from the cache or the endpoint."""
        rev_id = int(rev_id)
        cached = self._cache_get(rev_id)
        if cached is not None:
            with self._lock:
                self.cache_hits += 1
            return cached
        url = self.revision_url(rev_id)
        with self._slots:
            with self._lock:
                self._in_flight += 1
                self._max_in_flight = max(self._max_in_flight, self._in_flight)
            try:
                response = self._session.get(url, timeout=self.timeout)
            except requests.RequestException as err:
                raise MediaWikiError(f"revision {rev_id}: GET {url} failed: {err}") from err
            finally:
                with self._lock:
                    self._in_flight -= 1
        if response.status_code == 404:
            raise RevisionNotFound(rev_id, url)
        if response.status_code != 200:
            raise MediaWikiError(
                f"revision {rev_id}: GET {url} answered HTTP {response.status_code}: {response.text[:200]!r}"
            )
        response.encoding = "utf-8"  # Parsoid HTML is UTF-8 (requests would guess from headers)
        html = response.text
        self._cache_put(rev_id, html)
        return html

    def revision_html_many(self, rev_ids: Iterable[int]) -> dict[int, str]:
        """The HTML of many revisions, at most ``concurrency`` requests at a time.

        Raises the first error (a missing revision, retries exhausted) after the others finish."""
        ids = list(dict.fromkeys(int(r) for r in rev_ids))
        futures = {rev: self._pool.submit(self.revision_html, rev) for rev in ids}
        return {rev: fut.result() for rev, fut in futures.items()}

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._session.close()

    def __enter__(self) -> MediaWikiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- cache ---------------------------------------------------------------------------------

    def cache_path(self, rev_id: int) -> Path | None:
        if self.cache_dir is None:
            return None
        # a fan-out directory keeps any one directory small on a snapshot of millions of pages
        return self.cache_dir / f"{rev_id % 1000:03d}" / f"{rev_id}.html.gz"

    def _cache_get(self, rev_id: int) -> str | None:
        path = self.cache_path(rev_id)
        if path is None or not path.is_file():
            return None
        try:
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                return fh.read()
        except (OSError, EOFError):
            return None  # unreadable entry: fetch again (and overwrite it)

    def _cache_put(self, rev_id: int, html: str) -> None:
        path = self.cache_path(rev_id)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{rev_id}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz:
                gz.write(html.encode("utf-8"))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class _CountingAdapter(HTTPAdapter):
    """Counts the requests the client makes (one per send(); urllib3 retries happen inside it)."""

    def __init__(self, client: MediaWikiClient, **kwargs: object) -> None:
        self._client = client
        super().__init__(**kwargs)

    def send(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        with self._client._lock:
            self._client.http_requests += 1
        return super().send(request, *args, **kwargs)
