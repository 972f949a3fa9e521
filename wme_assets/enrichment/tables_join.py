"""The run's SQL tables joined to the pages, on disk: what MediaWiki itself recorded of each page.

The page store holds the run's tables beside its pages (:mod:`wme_assets.ingestion.tables`). This join
gathers, per eligible page, in one DuckDB pass with a bounded memory limit (spilling to disk, as the
redirect join does):

- ``categories``: the titles of ``categorylinks`` (names in the row, or ids into ``linktarget``);
- ``templates``: every page ``templatelinks`` records as transcluded, at any depth (either shape);
- ``protection``: the page's ``page_restrictions`` not expired at the dump's date;
- ``image_free``, ``image``, ``description``, ``disambiguation``, ``noindex``: from ``page_props``;
- ``editor_groups``: the ``user_groups`` of the revision's editor not expired at the dump's date.

Titles come out as full titles in the wiki's own namespace names (``Thể loại:Foo bar``). The result is one
Parquet file, one row per page with anything to say, sorted by the page's ordinal in the page store
(:func:`table_rows` streams it back in that order, to be merged with the pages as the redirects are).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from wme_assets.storage.parquet_dataset import sql_literal

__all__ = ["JOIN_MEMORY", "TablesJoin", "join_tables", "table_rows"]

JOIN_MEMORY = "128MB"
JOIN_THREADS = 2
# Joined rows decoded at a time: a page's lists run to hundreds of titles (templates and modules), so a
# small batch keeps the driver's memory flat.
_SCAN_ROWS = 1024


@dataclass
class TablesJoin:
    """Where the joined rows are, which tables the run had, and how many rows each gave the articles."""

    path: Path
    present: tuple[str, ...]  # the tables joined (the run's), sorted
    pages: int = 0  # rows of ``path``: pages with anything from the tables
    counts: dict[str, int] = field(default_factory=dict)  # pages given each field


def _dump_timestamp(date: str) -> str:
    """The dump's date as MediaWiki's 14-digit timestamps (``ug_expiry``, ``pr_expiry``) compare."""
    return f"{date}000000"


def join_tables(
    files: list[Path],
    tables: Mapping[str, Path],
    namespace_names: Mapping[int, str],
    namespaces,
    work_dir: Path,
    *,
    date: str,
    memory_limit: str = JOIN_MEMORY,
) -> TablesJoin:
    """Join the ``tables`` (table name -> local Parquet file) to the eligible pages of the page store ``files``.

    A page is eligible when it is not a redirect and its namespace is in ``namespaces``; its ordinal is its
    row number over ``files`` in order. ``namespace_names`` (namespace -> local name, '' for the main
    namespace) makes titles; ``date`` (YYYYMMDD) decides which restrictions and group memberships had expired.
    """
    import duckdb

    work_dir.mkdir(parents=True, exist_ok=True)
    result = TablesJoin(work_dir / "tables.parquet", tuple(sorted(tables)))
    database = work_dir / "tables.duckdb"
    con = duckdb.connect(
        str(database),
        config={
            "memory_limit": memory_limit,
            "temp_directory": str(work_dir / "spill"),
            "threads": JOIN_THREADS,
            "preserve_insertion_order": False,
        },
    )
    try:
        _pages(con, files, namespaces)
        con.execute("CREATE TABLE ns (ns INTEGER, prefix VARCHAR)")
        con.executemany("INSERT INTO ns VALUES (?, ?)", [(int(n), name) for n, name in namespace_names.items()])
        source = {name: f"read_parquet({sql_literal(str(path))})" for name, path in tables.items()}
        expiry_ok = "({col} IS NULL OR {col} = 'infinity' OR {col} > " + sql_literal(_dump_timestamp(date)) + ")"
        joins, columns = [], []

        # a full title in the wiki's namespace names (the namespace's row joined as ``ns``)
        title = ("CASE WHEN coalesce(ns.prefix, '') = '' THEN replace(l.title, '_', ' ') "
                 "ELSE ns.prefix || ':' || replace(l.title, '_', ' ') END")

        links = _links(source)
        if "categorylinks" in links:
            con.execute(
                f"CREATE TABLE categories AS SELECT l.page, list(DISTINCT {title}) AS names "
                f"FROM ({links['categorylinks']}) l LEFT JOIN ns ON ns.ns = l.ns "
                "WHERE l.page IN (SELECT page_id FROM pages) GROUP BY l.page"
            )
            joins.append("LEFT JOIN categories c ON c.page = p.page_id")
            columns.append("list_sort(c.names) AS categories")
        if "templatelinks" in links:
            con.execute(
                f"CREATE TABLE templates AS SELECT l.page, list(DISTINCT {title}) AS names "
                f"FROM ({links['templatelinks']}) l LEFT JOIN ns ON ns.ns = l.ns "
                "WHERE l.page IN (SELECT page_id FROM pages) GROUP BY l.page"
            )
            joins.append("LEFT JOIN templates t ON t.page = p.page_id")
            columns.append("list_sort(t.names) AS templates")
        if "page_restrictions" in source:
            con.execute(
                "CREATE TABLE protection AS SELECT pr_page AS page, "
                "list({'type': pr_type, 'level': pr_level, 'expiry': coalesce(pr_expiry, 'infinity')} "
                "ORDER BY pr_type) AS items "
                f"FROM {source['page_restrictions']} WHERE {expiry_ok.format(col='pr_expiry')} "
                "AND pr_page IN (SELECT page_id FROM pages) GROUP BY pr_page"
            )
            joins.append("LEFT JOIN protection r ON r.page = p.page_id")
            columns.append("r.items AS protection")
        if "page_props" in source:
            con.execute(
                "CREATE TABLE props AS SELECT pp_page AS page, "
                "max(pp_value) FILTER (WHERE pp_propname = 'page_image_free') AS image_free, "
                "max(pp_value) FILTER (WHERE pp_propname = 'page_image') AS image, "
                "max(pp_value) FILTER (WHERE pp_propname = 'wikibase-shortdesc') AS description, "
                "bool_or(pp_propname = 'disambiguation') AS disambiguation, "
                "bool_or(pp_propname = 'noindex') AS noindex "
                f"FROM {source['page_props']} WHERE pp_page IN (SELECT page_id FROM pages) GROUP BY pp_page"
            )
            joins.append("LEFT JOIN props pp ON pp.page = p.page_id")
            columns += ["pp.image_free", "pp.image", "pp.description", "pp.disambiguation", "pp.noindex"]
        if "user_groups" in source:
            con.execute(
                "CREATE TABLE groups AS SELECT ug_user AS user_id, list(DISTINCT ug_group) AS names "
                f"FROM {source['user_groups']} WHERE {expiry_ok.format(col='ug_expiry')} GROUP BY ug_user"
            )
            joins.append("LEFT JOIN groups g ON g.user_id = p.contributor_id")
            columns.append("list_sort(g.names) AS editor_groups")
        if not columns:
            columns.append("NULL AS nothing")
        selected = [c.rsplit(" AS ", 1)[-1].split(".")[-1] for c in columns]
        con.execute(
            f"CREATE TABLE joined AS SELECT p.ord, {', '.join(columns)} FROM pages p {' '.join(joins)}"
        )
        con.execute("DROP TABLE pages")
        con.execute(f"DELETE FROM joined WHERE {' AND '.join(f'{c} IS NULL' for c in selected)}")
        result.pages = con.execute("SELECT count(*) FROM joined").fetchone()[0]
        for column in selected:
            result.counts[column] = con.execute(f"SELECT count({column}) FROM joined").fetchone()[0]
        con.execute(
            f"COPY (SELECT * FROM joined ORDER BY ord) TO {sql_literal(str(result.path))} "
            "(FORMAT parquet, COMPRESSION zstd)"
        )
    finally:
        con.close()
        database.unlink(missing_ok=True)
    return result


def _pages(con, files: list[Path], namespaces) -> None:
    """``pages(ord, page_id, contributor_id)``: the eligible pages, with their ordinal in the page store."""
    con.execute("CREATE TABLE pages (ord BIGINT, page_id BIGINT, contributor_id BIGINT)")
    offset = 0
    eligible = ", ".join(str(int(n)) for n in namespaces) or "NULL"
    for path in files:
        con.execute(
            f"INSERT INTO pages SELECT {offset} + file_row_number, page_id, contributor_id "
            f"FROM read_parquet({sql_literal(str(path))}, file_row_number = true) "
            f"WHERE NOT is_redirect AND namespace IN ({eligible})"
        )
        offset += pq.ParquetFile(path).metadata.num_rows


def _links(source: Mapping[str, str]) -> dict[str, str]:
    """``(page, ns, title)`` rows of each link table present, whichever its shape (ids resolved through
    ``linktarget``; a table in the linktarget shape without ``linktarget`` in the run is left out)."""
    links = {}
    lt = source.get("linktarget")
    if "categorylinks" in source:
        names = (f"SELECT cl_from AS page, 14 AS ns, cl_to AS title FROM {source['categorylinks']} "
                 "WHERE cl_to IS NOT NULL")
        ids = (f"SELECT cl_from AS page, 14 AS ns, lt_title AS title FROM {source['categorylinks']} "
               f"JOIN {lt} ON lt_id = cl_target_id WHERE cl_to IS NULL AND lt_namespace = 14") if lt else None
        links["categorylinks"] = names + (f" UNION ALL {ids}" if ids else "")
    if "templatelinks" in source:
        names = (f"SELECT tl_from AS page, tl_namespace AS ns, tl_title AS title FROM {source['templatelinks']} "
                 "WHERE tl_title IS NOT NULL")
        ids = (f"SELECT tl_from AS page, lt_namespace AS ns, lt_title AS title FROM {source['templatelinks']} "
               f"JOIN {lt} ON lt_id = tl_target_id WHERE tl_title IS NULL") if lt else None
        links["templatelinks"] = names + (f" UNION ALL {ids}" if ids else "")
    return links


def table_rows(path: Path) -> Iterator[tuple[int, dict]]:
    """``(page ordinal, fields)`` from a :class:`TablesJoin` file, in order; fields without a value left out."""
    last = -1
    for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=_SCAN_ROWS):
        for row in batch.to_pylist():
            ordinal = row.pop("ord")
            if ordinal <= last:
                raise ValueError(f"{path}: joined tables are not sorted by page ({ordinal} after {last})")
            last = ordinal
            yield ordinal, {k: v for k, v in row.items() if v is not None}
