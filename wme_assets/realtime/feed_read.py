"""Reading the article-change feed (:mod:`.feed`): where a consumer starts, and the committed segments after it.

Only what the head has committed is read. A start is found without reading the days before it: the groups'
checkpoints (one per ``checkpoint_appends`` appends, each with the offsets before it and its date_published)
are binary-searched, so at most one checkpoint interval of segments is read before the first wanted record.
Segments are immutable once committed, so the reader keeps the last few decoded (every connection tailing
the feed reads the same newest ones).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import orjson
from isal import igzip

from wme_assets.realtime.feed import Checkpoint, FeedHead, load_head, load_index, segment_key
from wme_assets.storage.object_store import ObjectStore, ObjectStoreError

SEGMENTS_KEPT = 16  # decoded segments kept in memory, shared by every connection tailing the feed


class FeedGone(LookupError):
    """Asked for what the feed no longer keeps (older than its retention)."""


@dataclass(frozen=True)
class Segment:
    append: int
    date_published: str
    project: str
    body: bytes  # the segment's text: records[i] is the line body[start:end], and lines follow each other
    spans: list[tuple[int, int, int, int]]  # (partition, offset, start, end) of each record, in that order

    def first_offsets(self) -> dict[int, int]:
        """Each partition this append wrote, with its first offset in it."""
        firsts: dict[int, int] = {}
        for partition, offset, _, _ in self.spans:
            firsts.setdefault(partition, offset)
        return firsts

    @property
    def records(self) -> list[tuple[int, int, bytes]]:
        """(partition, offset, the record's JSON line)."""
        return [(partition, offset, self.body[start:end]) for partition, offset, start, end in self.spans]


class FeedReader:
    def __init__(self, store: ObjectStore, *, segments_kept: int = SEGMENTS_KEPT) -> None:
        self.store = store
        self._segments: OrderedDict[int, Segment] = OrderedDict()
        self._indexes: dict[int, list[Checkpoint]] = {}  # full groups' checkpoints (never change again)
        self._kept = segments_kept
        self._lock = threading.Lock()
        self._head_lock = threading.Lock()
        self._head: tuple[float, FeedHead] | None = None

    def head(self, max_age: float = 0.0) -> FeedHead:
        """The committed head; one read at most every ``max_age`` seconds, however many connections poll it."""
        with self._head_lock:
            if self._head is None or time.monotonic() - self._head[0] >= max_age:
                self._head = (time.monotonic(), load_head(self.store))
            return self._head[1]

    def checkpoints(self, head: FeedHead) -> list[Checkpoint]:
        """The committed checkpoints of the kept groups, in append order."""
        if head.last_append < 0:
            return []
        found: list[Checkpoint] = []
        last_group = head.group_of(head.last_append)
        for group in range(head.group_of(head.retained_from), last_group + 1):
            index = self._indexes.get(group)
            if index is None:
                index = load_index(self.store, group)
                if group < last_group:
                    self._indexes[group] = index
            found += [c for c in index if head.retained_from <= c.append <= head.last_append]
        return found

    def start_for_offset(self, head: FeedHead, checkpoints: list[Checkpoint], partition: int, offset: int) -> int:
        """The first append that may hold ``partition``'s ``offset`` or later; :class:`FeedGone` if older
        than what is kept."""
        if offset < head.first_offsets[partition]:
            raise FeedGone(
                f"partition {partition}: offset {offset} is no longer kept; the oldest kept is "
                f"{head.first_offsets[partition]} (the feed keeps its history for a limited time)"
            )
        at = bisect.bisect_right([c.offsets[partition] for c in checkpoints], offset) - 1
        return checkpoints[at].append if at >= 0 else head.retained_from

    def start_for_time(self, head: FeedHead, checkpoints: list[Checkpoint], since: str) -> int:
        """The first append that may hold records published at ``since`` (RFC 3339, ms, Z) or later."""
        at = bisect.bisect_left([c.published for c in checkpoints], since) - 1
        return checkpoints[at].append if at >= 0 else head.retained_from

    def segment(self, head: FeedHead, append: int) -> Segment:
        """A committed append's segment (``append <= head.last_append``)."""
        with self._lock:
            if append in self._segments:
                self._segments.move_to_end(append)
                return self._segments[append]
        key = segment_key(self.store, head, append)
        try:
            raw = igzip.decompress(self.store.read_bytes(key))
        except ObjectStoreError:
            if append < self.head().retained_from:
                raise FeedGone(f"feed append {append} was dropped by the retention while being read") from None
            raise
        segment = _decode(key, raw)
        with self._lock:
            self._segments[append] = segment
            while len(self._segments) > self._kept:
                self._segments.popitem(last=False)
        return segment


def _decode(key: str, raw: bytes) -> Segment:
    """The header's offsets give each line its (partition, offset); the lines themselves are not parsed."""
    end = raw.index(b"\n")
    header = orjson.loads(raw[:end])
    spans: list[tuple[int, int, int, int]] = []
    for partition, (first, last) in sorted((int(p), r) for p, r in header["partitions"].items()):
        for offset in range(first, last + 1):
            start = end + 1
            end = raw.find(b"\n", start)
            if end < 0:
                raise ValueError(f"{key}: its header names more records than the segment holds")
            spans.append((partition, offset, start, end))
    if raw[end + 1 :].strip():
        raise ValueError(f"{key}: the segment holds more records than its header names ({len(spans)})")
    return Segment(header["append"], header["date_published"], header["project"], raw, spans)
