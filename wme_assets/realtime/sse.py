"""Server-sent events (the WHATWG ``text/event-stream`` format) read incrementally from a byte stream.

No SSE client library is in the environment, and the ones on PyPI hide the two things a durable listener
needs: exactly which frames were complete when the connection dropped, and control of ``Last-Event-ID`` on
reconnect. So this is the format's parser (a few rules) on top of ``requests`` streaming:

- lines end in ``\\n``, ``\\r\\n`` or a lone ``\\r``; a blank line ends (dispatches) a frame;
- ``field: value`` (one optional space after the colon), a line starting with ``:`` is a comment (keep-alive);
- several ``data`` lines are joined with ``\\n``;
- a frame cut off by the end of the connection (no blank line yet) is *discarded*, never half-delivered:
  that is what makes a drop mid-frame lose nothing, since the frame is sent again after the last complete id.

Lines that are not ``field: value`` of a known field are counted on the frame (``unknown_fields``), so a
caller can report a malformed frame instead of silently taking it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

KNOWN_FIELDS = frozenset({"data", "id", "event", "retry"})


@dataclass(frozen=True, slots=True)
class SseFrame:
    data: str | None  # the joined data lines; None when the frame had no data field
    id: str | None  # this frame's id field (None when absent)
    event: str = "message"
    unknown_fields: int = 0  # lines that were neither a known field nor a comment
    size: int = 0  # bytes of the frame on the wire, for throughput figures


class SseParser:
    """Feed bytes as they arrive, get the complete frames back."""

    def __init__(self) -> None:
        self._pending = b""  # bytes of an unfinished line
        self._data: list[str] = []
        self._has_data = False
        self._id: str | None = None
        self._event = "message"
        self._unknown = 0
        self._size = 0
        self._started = False  # any field seen since the last dispatch

    def feed(self, chunk: bytes) -> list[SseFrame]:
        buffer = self._pending + chunk
        # A trailing "\r" may be the first half of "\r\n": keep it until the next chunk says.
        hold_cr = buffer.endswith(b"\r")
        if hold_cr:
            buffer = buffer[:-1]
        lines = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        self._pending = lines.pop() + (b"\r" if hold_cr else b"")
        frames = []
        for line in lines:
            frame = self._line(line)
            if frame is not None:
                frames.append(frame)
        return frames

    def _line(self, raw: bytes) -> SseFrame | None:
        self._size += len(raw) + 1
        if not raw:
            return self._dispatch()
        line = raw.decode("utf-8", errors="replace")
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        self._started = True
        if name == "data":
            self._data.append(value)
            self._has_data = True
        elif name == "id":
            if "\x00" not in value:  # the format ignores ids with NUL
                self._id = value
        elif name == "event":
            self._event = value or "message"
        elif name != "retry" or not colon:
            self._unknown += 1
        return None

    def _dispatch(self) -> SseFrame | None:
        frame = None
        if self._started:
            frame = SseFrame(
                data="\n".join(self._data) if self._has_data else None,
                id=self._id,
                event=self._event,
                unknown_fields=self._unknown,
                size=self._size,
            )
        self._data, self._has_data, self._id, self._event = [], False, None, "message"
        self._unknown, self._size, self._started = 0, 0, False
        return frame


def iter_frames(chunks: Iterator[bytes]) -> Iterator[SseFrame]:
    """Frames of a byte stream; an unfinished frame at the end is dropped (see the module docstring)."""
    parser = SseParser()
    for chunk in chunks:
        yield from parser.feed(chunk)
