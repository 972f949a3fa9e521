"""Why something failed, in one line, and whether trying again can help.

Used by the Dagster assets (``wme_assets.defs.failures``) to decide what their retry policy may retry, and by
the CLI for its last line. Only failures that can go away on their own are *transient*: a connection that
could not be made or broke, a timeout, HTTP 5xx, throttling (429, SlowDown). Everything else — a checksum
that does not match, a dump that does not parse, a record that breaks its schema, bad configuration, a bug —
fails the same way on every attempt, so retrying it only delays the message.

wme's own errors often wrap the library error that caused them (``raise ... from None`` still keeps it as
``__context__``), so the chain is read outer to inner and the first error whose kind is known decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

# S3 error codes that mean "not now": throttling and the server's own trouble.
TRANSIENT_S3_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "500",
        "502",
        "503",
        "504",
        "429",
    }
)
TRANSIENT_HTTP_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Cause:
    message: str  # one line naming what failed and, where known, the endpoint, file or S3 key
    transient: bool  # True when the same work may succeed if tried again later


def one_line(text: str) -> str:
    """Whitespace (newlines of tracebacks and multi-line messages) collapsed to single spaces."""
    return re.sub(r"\s+", " ", text).strip()


def error_chain(exc: BaseException, limit: int = 12) -> Iterator[BaseException]:
    """``exc``, then what caused it (``__cause__``, else ``__context__``), outer to inner."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < limit:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def explain(exc: BaseException) -> Cause:
    """What failed (one line) and whether it is worth retrying."""
    deciding, transient = None, False
    for error in error_chain(exc):
        verdict = _verdict(error)
        if verdict is not None:
            deciding, transient = error, verdict
            break
    message = _describe(exc)
    if deciding is not None and deciding is not exc:
        inner = _describe(deciding)
        # A wrapper that already says what the inner error says needs nothing more.
        if inner and _plain_text(deciding) not in message:
            message = f"{message} ({inner})"
    return Cause(message=message, transient=transient)


def _verdict(error: BaseException) -> bool | None:
    """True: transient; False: retrying cannot help; None: a wrapper, look at what caused it."""
    import botocore.exceptions as boto
    import requests
    import urllib3.exceptions

    from wme_assets.ingestion.errors import DumpParseError
    from wme_assets.settings import ConfigurationError
    from wme_assets.sources.dumps_client import DumpsNotFound, DumpsUnavailable
    from wme_assets.storage.object_store import VerificationError

    # Deterministic first: a verification or parse error raised while a connection error was being handled
    # is still a verification or parse error.
    deterministic = (VerificationError, DumpParseError, ConfigurationError, DumpsNotFound)
    if isinstance(error, (*deterministic, boto.SSLError, requests.exceptions.SSLError)):
        return False
    if isinstance(error, (ValueError, TypeError, LookupError, AttributeError, AssertionError, NotImplementedError)):
        return False  # parse and schema errors (pydantic's included), and bugs
    if type(error).__name__ == "ExtractionTimeout":
        return False  # the wikitext extractor's per-page deadline: the same page takes as long next time
    if isinstance(error, DumpsUnavailable):
        return True
    if isinstance(error, boto.ClientError):
        response = error.response or {}
        code = str(response.get("Error", {}).get("Code", ""))
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in TRANSIENT_S3_CODES or status in TRANSIENT_HTTP_STATUS
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return error.response.status_code in TRANSIENT_HTTP_STATUS
    if isinstance(
        error,
        (
            boto.ConnectionError,  # EndpointConnectionError, ConnectTimeoutError, ...
            boto.HTTPClientError,  # ConnectionClosedError, ReadTimeoutError, ResponseStreamingError
            boto.IncompleteReadError,
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
            urllib3.exceptions.HTTPError,
            ConnectionError,  # refused, reset, aborted, broken pipe
            TimeoutError,
        ),
    ):
        return True
    return None


def _plain_text(error: BaseException) -> str:
    return one_line(str(error))


def _describe(error: BaseException) -> str:
    import botocore.exceptions as boto

    if isinstance(error, (boto.ConnectionError, boto.HTTPClientError)):
        return _describe_s3_connection(error)
    text = _plain_text(error)
    # Python's own errors say little without their name (KeyError('x') is just "'x'").
    if type(error).__module__ == "builtins" or not text:
        return f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text


def _describe_s3_connection(error: BaseException) -> str:
    """'S3 endpoint http://host:port unreachable: connection refused (s3://bucket/key)'."""
    kwargs = getattr(error, "kwargs", {}) or {}
    url = str(kwargs.get("endpoint_url") or "")
    parts = urlsplit(url)
    endpoint = f"{parts.scheme}://{parts.netloc}" if parts.netloc else (url or "(unknown)")
    reason = _connection_reason(error, kwargs.get("error"))
    # Path-style addressing (what wme uses): /bucket/key.
    bucket, _, key = parts.path.lstrip("/").partition("/")
    where = f" ({'s3://' + bucket + '/' + key if key else 's3://' + bucket})" if bucket else ""
    return f"S3 endpoint {endpoint} unreachable: {reason}{where}"


def _connection_reason(error: BaseException, inner: object) -> str:
    import botocore.exceptions as boto

    text = str(inner or error).lower()
    if "refused" in text:
        return "connection refused"
    if isinstance(error, boto.ReadTimeoutError) or "read timed out" in text:
        return "no answer in time (read timeout)"
    if isinstance(error, boto.ConnectTimeoutError) or "timed out" in text:
        return "connect timeout"
    if isinstance(error, boto.ConnectionClosedError) or "reset" in text or "closed" in text:
        return "connection closed by the server"
    if "name or service not known" in text or "nodename nor servname" in text:
        return "host name not found"
    return one_line(str(inner or error)) or type(error).__name__
