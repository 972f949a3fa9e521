"""The ``page_props`` table dump (``{db}-{date}-page_props.sql.gz``): its rows, and the Wikidata item of each page.

Read with the generic table reader (:mod:`.sql_dump`): columns named by the dump's ``CREATE TABLE``,
errors naming the file, the byte offset and the last row. A file without ``CREATE TABLE`` (hand-written
SQL) has MediaWiki's column order, ``pp_sortkey`` optional (it came with 1.23).
"""

from __future__ import annotations

import bisect
import re
from array import array
from collections.abc import Iterable, Iterator, Mapping
from typing import NamedTuple

from .decompress import Source
from .sql_dump import DEFAULT_CHUNK_SIZE, SqlDumpParseError, SqlTableDump

__all__ = [
    "PageProp",
    "PagePropsParseError",
    "WikibaseItems",
    "iter_page_props",
    "wikibase_items",
]

TABLE = "page_props"
DEFAULT_COLUMNS = {
    3: ("pp_page", "pp_propname", "pp_value"),
    4: ("pp_page", "pp_propname", "pp_value", "pp_sortkey"),
}

# The error of this reader is the generic one (file, byte offset, last row).
PagePropsParseError = SqlDumpParseError


class PageProp(NamedTuple):
    """One ``page_props`` row (``pp_sortkey`` is not kept: nothing in wme reads it)."""

    page_id: int
    propname: str
    value: str | bytes  # str (UTF-8, undecodable bytes replaced) unless raw_values=True


def iter_page_props(
    source: Source,
    *,
    propnames: Iterable[str] | None = None,
    name: str | None = None,
    raw_values: bool = False,
    require_complete: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[PageProp]:
    """Yield the ``(page_id, propname, value)`` rows of a ``page_props`` dump, in file order.

    ``source`` is a path or binary file object, gzip (as published), bz2, xz or plain SQL — detected
    from the magic bytes. ``propnames`` keeps only those property names. ``value`` is text (UTF-8,
    undecodable bytes replaced) unless ``raw_values`` is set; then it is the stored bytes, as some
    properties hold binary data. ``name`` labels errors (default: the path).
    """
    keep = None if propnames is None else {"pp_propname": [propnames] if isinstance(propnames, str) else propnames}
    with SqlTableDump(
        source, TABLE, name=name, default_columns=DEFAULT_COLUMNS, require_complete=require_complete,
        chunk_size=chunk_size,
    ) as dump:
        rows = dump.rows(
            ("pp_page", "pp_propname", "pp_value"),
            keep=keep,
            raw=("pp_value",) if raw_values else (),
            integers=("pp_page",),
            strings=("pp_propname",),
        )
        for page_id, propname, value in rows:
            if value is None:
                value = b"" if raw_values else ""  # pp_value is NOT NULL; be lenient with hand-made files
            elif raw_values and not isinstance(value, bytes):
                value = str(value).encode("ascii")  # a number written into the blob column
            elif not raw_values and not isinstance(value, str):
                value = str(value)
            yield PageProp(page_id, propname, value)


# --------------------------------------------------------------------------------------------------
# Wikidata items
# --------------------------------------------------------------------------------------------------

_QID = re.compile(r"Q([1-9][0-9]*)")


class WikibaseItems(Mapping[int, str]):
    """Page id -> Wikidata QID, read-only, in about 16 bytes a page.

    enwiki has ~7 million ``wikibase_item`` rows: as a dict of int -> str that is close to 1 GB, as two
    sorted ``array('q')`` (page ids, QID numbers) it is ~110 MB. Look-ups are a binary search. Values
    that are not ``Q<digits>`` (never seen in real dumps) are kept verbatim in a small side dict.
    """

    def __init__(self, items: Iterable[tuple[int, str]] = ()) -> None:
        self._pages = array("q")
        self._numbers = array("q")
        self._other: dict[int, str] = {}
        self._ascending = True
        for page_id, qid in items:
            self.add(page_id, qid)
        self.finish()

    def add(self, page_id: int, qid: str) -> None:
        """Append one row while the mapping is built (then :meth:`finish`): for a reader that also does
        something else with the rows it reads."""
        if self._pages and page_id <= self._pages[-1]:
            self._ascending = False
        match = _QID.fullmatch(qid)
        if match and len(match.group(1)) < 19:
            self._pages.append(page_id)
            self._numbers.append(int(match.group(1)))
        else:
            self._other[page_id] = qid

    def finish(self) -> WikibaseItems:
        if not self._ascending:
            self._sort_and_dedupe()
            self._ascending = True
        return self

    def _sort_and_dedupe(self) -> None:
        # Dumps are in primary-key order, so this only runs for hand-made input: a temporary list is fine.
        # Sorting by (page id, position) keeps a page's first row when it is listed twice.
        order = sorted(range(len(self._pages)), key=lambda i: (self._pages[i], i))
        pages, numbers = array("q"), array("q")
        for i in order:
            if pages and pages[-1] == self._pages[i]:
                continue
            pages.append(self._pages[i])
            numbers.append(self._numbers[i])
        self._pages, self._numbers = pages, numbers

    def arrays(self) -> tuple[array, array, dict[int, str]]:
        """Page ids and QID numbers (sorted by page id), and the values that are not Q-numbers."""
        return self._pages, self._numbers, self._other

    def __getitem__(self, page_id: int) -> str:
        index = bisect.bisect_left(self._pages, page_id)
        if index < len(self._pages) and self._pages[index] == page_id:
            return f"Q{self._numbers[index]}"
        return self._other[page_id]

    def __contains__(self, page_id: object) -> bool:
        index = bisect.bisect_left(self._pages, page_id) if isinstance(page_id, int) else -1
        if 0 <= index < len(self._pages) and self._pages[index] == page_id:
            return True
        return page_id in self._other

    def __iter__(self) -> Iterator[int]:
        yield from self._pages
        yield from self._other

    def __len__(self) -> int:
        return len(self._pages) + len(self._other)

    def __repr__(self) -> str:
        return f"WikibaseItems({len(self)} pages)"


def wikibase_items(source: Source, *, name: str | None = None) -> WikibaseItems:
    """Page id -> Wikidata QID (the ``wikibase_item`` rows) of a ``page_props`` dump.

    A read-only mapping (:class:`WikibaseItems`) that compares equal to the equivalent dict.
    """
    return WikibaseItems(
        (row.page_id, row.value) for row in iter_page_props(source, propnames=("wikibase_item",), name=name)
    )

