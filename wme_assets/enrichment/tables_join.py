"""The run's SQL tables joined to the pages, on disk: what MediaWiki itself recorded of each page.

The page store holds the run's tables beside its pages (:mod:`wme_assets.ingestion.tables`). This join
gathers, per eligible page, in DuckDB with a bounded memory limit (spilling to disk, as the redirect join
does):

- ``categories``: the titles of ``categorylinks`` (names in the row, or ids into ``linktarget``);
- ``templates``: every page ``templatelinks`` records as transcluded, at any depth (either shape);
- ``protection``: the page's ``page_restrictions`` not expired at the dump's date;
- ``image_free``, ``image``, ``description``, ``disambiguation``, ``noindex``: from ``page_props``;
- ``editor_groups``: the ``user_groups`` of the revision's editor not expired at the dump's date;
- ``entities``: the Wikidata entities the page uses and how (``wbc_entity_usage``: ``S``, ``L.en``, ``C.P31``…).

Titles come out as full titles in the wiki's own namespace names (``Thể loại:Foo bar``). The result is one
Parquet file of narrow rows per field group, sorted by the page's ordinal in the page store
(:func:`table_rows` merges them back into one record per page, in that order, to be merged with the pages
as the redirects are).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from wme_assets.storage.parquet_dataset import sql_literal

__all__ = ["JOIN_MEMORY", "PAGE_COLUMNS", "TablesJoin", "join_tables", "table_rows"]

PAGE_COLUMNS = ("page_id", "contributor_id", "is_redirect", "namespace")  # all this join reads of the pages

JOIN_MEMORY = "128MB"
JOIN_THREADS = 2
_SCAN_ROWS = 16_384  # joined rows (one title, or one page's props) decoded at a time


@dataclass
class TablesJoin:
    """Where the joined rows are, which tables the run had, and how many pages each field was found for.

    ``paths`` maps each field group to a Parquet file of narrow rows sorted by the page's ordinal: ``(ord,
    value)`` for the lists (``categories``, ``templates``, ``editor_groups``), ``(ord, type, level, expiry)``
    for ``protection``, ``(ord, image_free, image, description, disambiguation, noindex)`` for ``props``,
    ``(ord, entity, aspect)`` for ``entities``.
    """

    work_dir: Path
    present: tuple[str, ...]  # the tables joined (the run's), sorted
    paths: dict[str, Path] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # pages given each field group


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
    Each field group is joined, then sorted, in two steps of narrow rows (no lists): one pipeline doing both,
    or sorting rows that carry lists, needs far more memory than the limit.
    """
    import duckdb

    work_dir.mkdir(parents=True, exist_ok=True)
    result = TablesJoin(work_dir, tuple(sorted(tables)))
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
        not_expired = "({col} IS NULL OR {col} = 'infinity' OR {col} > " + sql_literal(_dump_timestamp(date)) + ")"
        # a full title in the wiki's namespace names (the namespace's row joined as ``ns``)
        title = ("CASE WHEN coalesce(ns.prefix, '') = '' THEN replace(l.title, '_', ' ') "
                 "ELSE ns.prefix || ':' || replace(l.title, '_', ' ') END")
        queries: dict[str, tuple[str, str]] = {}  # field group -> (query, sort key)
        for group, links in _links(source).items():
            queries[group] = (
                f"SELECT DISTINCT p.ord, {title} AS value FROM pages p JOIN ({links}) l ON l.page = p.page_id "
                "LEFT JOIN ns ON ns.ns = l.ns",
                "ord, value",
            )
        if "page_restrictions" in source:
            queries["protection"] = (
                "SELECT p.ord, pr_type AS type, pr_level AS level, coalesce(pr_expiry, 'infinity') AS expiry "
                f"FROM pages p JOIN {source['page_restrictions']} r ON r.pr_page = p.page_id "
                f"WHERE {not_expired.format(col='pr_expiry')}",
                "ord, type, level",
            )
        if "page_props" in source:
            queries["props"] = (
                "SELECT p.ord, "
                "max(pp_value) FILTER (WHERE pp_propname = 'page_image_free') AS image_free, "
                "max(pp_value) FILTER (WHERE pp_propname = 'page_image') AS image, "
                "max(pp_value) FILTER (WHERE pp_propname = 'wikibase-shortdesc') AS description, "
                "bool_or(pp_propname = 'disambiguation') AS disambiguation, "
                "bool_or(pp_propname = 'noindex') AS noindex "
                f"FROM pages p JOIN {source['page_props']} pp ON pp.pp_page = p.page_id GROUP BY p.ord",
                "ord",
            )
        if "user_groups" in source:
            queries["editor_groups"] = (
                "SELECT DISTINCT p.ord, ug_group AS value "
                f"FROM pages p JOIN {source['user_groups']} g ON g.ug_user = p.contributor_id "
                f"WHERE {not_expired.format(col='ug_expiry')}",
                "ord, value",
            )
        if "wbc_entity_usage" in source:
            # Ordered as the API's prop=wbentityusage lists them (entity id, then aspect, byte order).
            queries["entities"] = (
                "SELECT DISTINCT p.ord, eu_entity_id AS entity, eu_aspect AS aspect "
                f"FROM pages p JOIN {source['wbc_entity_usage']} e ON e.eu_page_id = p.page_id",
                "ord, entity, aspect",
            )
        for group, (query, order) in queries.items():
            con.execute(f"CREATE TABLE joined AS {query}")
            result.counts[group] = con.execute("SELECT count(DISTINCT ord) FROM joined").fetchone()[0]
            result.paths[group] = work_dir / f"{group}.parquet"
            con.execute(
                f"COPY (SELECT * FROM joined ORDER BY {order}) TO {sql_literal(str(result.paths[group]))} "
                "(FORMAT parquet, COMPRESSION zstd)"
            )
            con.execute("DROP TABLE joined")
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
        links["categories"] = names + (f" UNION ALL {ids}" if ids else "")
    if "templatelinks" in source:
        names = (f"SELECT tl_from AS page, tl_namespace AS ns, tl_title AS title FROM {source['templatelinks']} "
                 "WHERE tl_title IS NOT NULL")
        ids = (f"SELECT tl_from AS page, lt_namespace AS ns, lt_title AS title FROM {source['templatelinks']} "
               f"JOIN {lt} ON lt_id = tl_target_id WHERE tl_title IS NULL") if lt else None
        links["templates"] = names + (f" UNION ALL {ids}" if ids else "")
    return links


_LISTS = ("categories", "templates", "editor_groups")


def _grouped(group: str, path: Path) -> Iterator[tuple[int, str, object]]:
    """``(ord, group, value)`` per page of one field group's file, in page order: a list of the values, the
    list of protections, or the props' fields."""
    current, items = -1, []
    for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=_SCAN_ROWS):
        for row in batch.to_pylist():
            ordinal = row.pop("ord")
            if ordinal != current:
                if ordinal < current:
                    raise ValueError(f"{path}: joined rows are not sorted by page ({ordinal} after {current})")
                if items:
                    yield current, group, items
                current, items = ordinal, []
            items.append(row["value"] if group in _LISTS else (row["entity"], row["aspect"]) if group == "entities"
                         else row)
    if items:
        yield current, group, items


def table_rows(join: TablesJoin) -> Iterator[tuple[int, dict]]:
    """``(page ordinal, fields)`` of every page the tables say anything of, in page order: ``categories``,
    ``templates``, ``editor_groups`` (lists of titles or names), ``protection`` (list of ``{type, level,
    expiry}``), and of ``page_props`` the fields that have a value (``image_free``, ``image``,
    ``description``, ``disambiguation``, ``noindex``) and ``entities`` (list of ``{identifier, aspects}``)."""
    streams = [_grouped(group, path) for group, path in sorted(join.paths.items())]
    current, fields = -1, {}
    for ordinal, group, value in heapq.merge(*streams, key=lambda item: item[0]):
        if ordinal != current:
            if fields:
                yield current, fields
            current, fields = ordinal, {}
        if group == "entities":
            fields[group] = _entities(value)
        elif group == "props":
            fields.update({k: v for k, v in value[0].items() if v is not None and v is not False})
        else:
            fields[group] = value
    if fields:
        yield current, fields


def _entities(rows: list[tuple[str, str]]) -> list[dict]:
    """``(entity, aspect)`` rows, sorted, as one ``{identifier, aspects}`` per entity."""
    entities: list[dict] = []
    for entity, aspect in rows:
        if not entities or entities[-1]["identifier"] != entity:
            entities.append({"identifier": entity, "aspects": []})
        entities[-1]["aspects"].append(aspect)
    return entities
