"""The HTTP session every client of the outside world uses: bounded retries with exponential backoff.

Connection errors, read errors and 429/5xx responses are retried (``Retry-After`` respected) up to
``retries`` times, ``backoff`` seconds doubling; the last response is returned rather than raised, so the
caller's own error names the URL and status. ``file://`` URLs are served from disk (a local mirror).
"""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from requests_file import FileAdapter
from urllib3.util.retry import Retry

RETRIED_STATUSES = (429, 500, 502, 503, 504)
USER_AGENT = "wme/0.1 (self-hosted Wikipedia data platform; https://github.com/wme)"


def retry_policy(retries: int, backoff: float, methods: frozenset[str] = frozenset({"GET", "HEAD"})) -> Retry:
    return Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff,
        status_forcelist=RETRIED_STATUSES,
        allowed_methods=methods,
        respect_retry_after_header=True,
        raise_on_status=False,  # the last response is returned; the caller raises its own error
    )


def retrying_session(
    retries: int = 4,
    backoff: float = 1.0,
    *,
    user_agent: str = USER_AGENT,
    adapter: HTTPAdapter | None = None,
    files: bool = False,
) -> requests.Session:
    """A session whose http(s) adapter retries per :func:`retry_policy` (``adapter`` to bring one's own,
    built with that policy); ``files`` also mounts ``file://``."""
    session = requests.Session()
    adapter = adapter or HTTPAdapter(max_retries=retry_policy(retries, backoff))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if files:
        session.mount("file://", FileAdapter())
    session.headers["User-Agent"] = user_agent
    return session
