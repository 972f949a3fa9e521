"""One project's title index for the On-demand API: a SQLite file mapping titles to the current articles.

Tables::

    pages   page_id → namespace, name, revision id, article (zstd), structured contents (zstd, or null)
    titles  (title key, page id, redirect flag): the page's own title, and each title in its ``redirects``
    meta    the article store state the file reflects (:class:`IndexState`) and the project's title rules

A key may name several pages for a while (a title freed by a move and taken by a redirect of another
page): the page whose own title it is wins over a redirect, then the lower page id. Written by one process
at a time (the caller holds the project's lock); read by any number of read-only connections, in WAL mode,
so readers see a delta's changes as one commit.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from wme_assets.serving.titles import TitleRules, title_key

_CODEC = pa.Codec("zstd", compression_level=3)
SCHEMA = (
    "CREATE TABLE pages (page_id INTEGER PRIMARY KEY, namespace INTEGER NOT NULL, name TEXT NOT NULL,"
    " revision_id INTEGER, article BLOB NOT NULL, article_size INTEGER NOT NULL, structured BLOB,"
    " structured_size INTEGER)",
    "CREATE TABLE titles (key TEXT NOT NULL, redirect INTEGER NOT NULL, page_id INTEGER NOT NULL,"
    " PRIMARY KEY (key, redirect, page_id)) WITHOUT ROWID",
    "CREATE INDEX titles_page ON titles (page_id)",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
COLUMNS = ("page_id", "namespace", "name", "revision_id", "op", "article", "structured")
_LOOKUP = (
    "SELECT p.page_id, p.namespace, p.article, p.article_size, p.structured, p.structured_size"
    " FROM titles t JOIN pages p ON p.page_id = t.page_id WHERE t.key = ? ORDER BY t.redirect, t.page_id LIMIT 1"
)


@dataclass
class IndexState:
    """What the file holds: the base, the deltas applied on top (hour order), and the ETags seen before reading
    them (of ``current.json`` and of the newest delta's manifest), which the cheap freshness check compares."""

    base: str
    base_digest: str
    deltas: list[str] = field(default_factory=list)
    pointer_etag: str | None = None
    newest_etag: str | None = None
    rules: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, data: bytes | str) -> IndexState:
        return cls(**orjson.loads(data))


def manifest_digest(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class Hit:
    page_id: int
    namespace: int
    article: bytes
    structured: bytes | None


def _compress(data: bytes) -> bytes:
    return _CODEC.compress(data, asbytes=True)


def _decompress(data: bytes, size: int) -> bytes:
    return _CODEC.decompress(data, size, asbytes=True)


def _redirect_names(article: bytes) -> list[str]:
    redirects = orjson.loads(article).get("redirects") or ()
    return [r["name"] for r in redirects if isinstance(r, dict) and isinstance(r.get("name"), str)]


class TitleIndexWriter:
    """Builds or updates one index file (one connection, one writer)."""

    def __init__(self, path: Path, *, create: bool = False):
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        if create:
            for statement in SCHEMA:
                self.conn.execute(statement)

    def close(self) -> None:
        self.conn.close()

    def state(self) -> IndexState | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()
        return IndexState.from_json(row[0]) if row else None

    def apply(
        self, batches: Iterable[pa.RecordBatch], rules: TitleRules, state: IndexState, *, fresh: bool = False
    ) -> int:
        """Apply rows (upserts and deletes, by page id) and record ``state``, all in one transaction: a reader
        sees the file before or after, never between. ``fresh``: a new file, whose rows replace nothing.
        Returns the rows applied."""
        rows = 0
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for batch in batches:
                rows += self._apply_batch(batch, rules, fresh)
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('state', ?)", (state.to_json().decode(),))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return rows

    def _apply_batch(self, batch: pa.RecordBatch, rules: TitleRules, fresh: bool) -> int:
        data = batch.select(list(COLUMNS)).to_pydict()
        ids = data["page_id"]
        if not fresh:
            self.conn.executemany("DELETE FROM titles WHERE page_id = ?", ((p,) for p in ids))
            self.conn.executemany("DELETE FROM pages WHERE page_id = ?", ((p,) for p in ids))
        pages, titles = [], []
        for page_id, ns, name, revision, op, article, structured in zip(
            ids, *(data[c] for c in COLUMNS[1:]), strict=True
        ):
            if op != "upsert" or article is None:
                continue
            packed = structured.encode() if structured is not None else None
            pages.append((
                page_id, ns, name, revision, _compress(article), len(article),
                _compress(packed) if packed is not None else None, len(packed) if packed is not None else None,
            ))  # fmt: skip
            titles.append((title_key(name, rules), 0, page_id))
            titles.extend((title_key(r, rules), 1, page_id) for r in _redirect_names(article))
        self.conn.executemany("INSERT INTO pages VALUES (?, ?, ?, ?, ?, ?, ?, ?)", pages)
        self.conn.executemany("INSERT OR IGNORE INTO titles VALUES (?, ?, ?)", titles)
        return len(ids)


class TitleIndexReader:
    """A read-only connection to one index file, for one thread."""

    def __init__(self, path: Path):
        self.conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
        self.rules = TitleRules()
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()
        if row is not None:
            self.rules = TitleRules.from_json(IndexState.from_json(row[0]).rules)

    def close(self) -> None:
        self.conn.close()

    def lookup(self, title: str, *, structured: bool = False) -> Hit | None:
        row = self.conn.execute(_LOOKUP, (title_key(title, self.rules),)).fetchone()
        if row is None:
            return None
        page_id, ns, article, size, packed, packed_size = row
        return Hit(
            page_id,
            ns,
            _decompress(article, size),
            _decompress(packed, packed_size) if structured and packed is not None else None,
        )
