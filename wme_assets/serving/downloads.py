"""Downloads of published archives: streamed from object storage, with HTTP ranges.

Enterprise's SDK sends ``HEAD`` for the size, then parallel ``GET``s with ``Range: bytes=a-b`` and writes each
part at its offset, so a range must be exact: 206 with ``Content-Range`` and just those bytes; 416 with
``Content-Range: bytes */size`` when it cannot be satisfied. A request with several ranges, or an
``If-Range`` that does not match, gets the whole file (RFC 9110 allows ignoring Range). ``ETag`` is the
archive's MD5, Enterprise's ``version``; ``Last-Modified`` is the object's.

The body is read from S3 as one ranged GET streamed in pieces of 1 MiB, so memory stays at a piece per
download whatever the file's size. With ``WME_API_DOWNLOAD_REDIRECT`` a GET is answered instead with 307 to a
presigned URL of the object (the SDK follows redirects and keeps its ``Range``), so the bytes go from S3 to the
client without passing through the API; HEAD is still answered here, as a presigned URL is signed for GET only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC
from email.utils import format_datetime

from fastapi import Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from wme_assets.serving.errors import ApiError
from wme_assets.serving.published import Download, SnapshotReader
from wme_assets.storage.object_store import ObjectStore
from wme_assets.util.sizes import MiB

PIECE = 1 * MiB
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range a ``Range`` header asks for; None for the whole file; ApiError(416) when
    unsatisfiable."""
    if not header:
        return None
    match = _RANGE.match(header.strip().replace(" ", ""))
    if match is None:
        return None  # several ranges, or another unit: the whole file
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = int(last)
        if length == 0:
            raise _unsatisfiable(size)
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise _unsatisfiable(size)
    return start, end


def _unsatisfiable(size: int) -> ApiError:
    return ApiError(416, "Range Not Satisfiable", {"Content-Range": f"bytes */{size}"})


def _stream(store: ObjectStore, key: str, start: int, end: int) -> Iterator[bytes]:
    body = store.open(key, start, end)
    try:
        yield from body.iter_chunks(PIECE)
    finally:
        body.close()


def serve(request: Request, reader: SnapshotReader, download: Download) -> Response:
    """The response to ``HEAD`` or ``GET`` of a download (module docstring)."""
    store = reader.store
    key = store.key(download.key)
    info = store.head(key)
    if info is None:
        raise ApiError(404, "Not Found: the file is not in object storage (being replaced?); try again")
    size = info.size
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{download.md5}"',
        "Content-Type": "application/gzip",
        "Content-Disposition": f'attachment; filename="{download.filename}"',
    }
    if info.last_modified is not None:
        headers["Last-Modified"] = format_datetime(info.last_modified.astimezone(UTC), usegmt=True)
    if reader.redirect_downloads and request.method == "GET":
        return RedirectResponse(
            reader.presigned_url(key), status_code=307, headers={"ETag": headers["ETag"], "Cache-Control": "no-store"}
        )
    wanted = parse_range(request.headers.get("range"), size)
    if_range = request.headers.get("if-range")
    if wanted is not None and if_range and if_range.strip() != headers["ETag"]:
        wanted = None
    status, start, end = 200, 0, size - 1
    if wanted is not None:
        status, (start, end) = 206, wanted
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1 if size else 0)
    if request.method == "HEAD" or size == 0:
        return Response(status_code=status, headers=headers)
    return StreamingResponse(_stream(store, key, start, end), status_code=status, headers=headers)
