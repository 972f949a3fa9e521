"""The dump run's optional SQL tables, each into a Parquet file of the columns wme reads.

A dumps run publishes MediaWiki's own link and metadata tables beside the pages. wme reads six of them
(and ``page_props`` beyond the Wikidata id); each is optional — a run without it, or whose job did not
finish, is ingested without it, and the log and the page store's manifest say why:

============================  ================================================================================
table                         columns kept (one of the shapes MediaWiki has shipped)
============================  ================================================================================
``categorylinks``             ``cl_from`` + ``cl_to`` (names), or ``cl_from`` + ``cl_target_id`` (linktarget)
``templatelinks``             ``tl_from`` + ``tl_namespace``, ``tl_title`` (names), or + ``tl_target_id``
``linktarget``                ``lt_id``, ``lt_namespace``, ``lt_title``: the ids of the link tables
``page_restrictions``         ``pr_page``, ``pr_type``, ``pr_level``, ``pr_expiry``, ``pr_cascade``
``page_props``                ``pp_page``, ``pp_propname``, ``pp_value`` of :data:`PAGE_PROPS`
``user_groups``               ``ug_user``, ``ug_group``, ``ug_expiry`` (absent before MediaWiki 1.29)
``wbc_entity_usage``          ``eu_page_id``, ``eu_entity_id``, ``eu_aspect``: the Wikidata entities a page uses
============================  ================================================================================

Each table is read once, streaming (:mod:`.sql_dump`), into ``{table}.parquet`` in batches: memory stays
at one batch whatever the table's size. Joining them to the pages is the enrichment's work. A table that
does not parse is left out with the reader's error (file, byte offset, last row) as the reason: the pages
and the other tables of the run are kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from wme_assets.sources.dumps_client import DumpRunStatus

from .errors import DumpParseError
from .sql_dump import SqlTableDump

__all__ = ["PAGE_PROPS", "TABLES", "IngestedTable", "TableSpec", "ingest_table", "table_files"]

# The page properties the articles take (wikibase_item goes into the page store itself). Not ``hiddencat``:
# Enterprise's categories carry no hidden flag and list hidden categories with the others.
PAGE_PROPS = (
    "page_image_free",  # PageImages: the main image, a free file
    "page_image",  # PageImages: the main image, a non-free file
    "wikibase-shortdesc",  # the short description
    "disambiguation",  # Disambiguator
    "noindex",
)
_BATCH_ROWS = 65_536


@dataclass(frozen=True)
class TableSpec:
    """What is read of one table: ``shapes`` in order of preference, each (name, required columns); the
    first whose columns the dump has is read, with the ``optional`` columns it has too."""

    table: str
    schema: pa.Schema
    shapes: tuple[tuple[str, tuple[str, ...]], ...]
    optional: tuple[str, ...] = ()
    integers: tuple[str, ...] = ()
    keep: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _schema(**columns: pa.DataType) -> pa.Schema:
    return pa.schema([pa.field(name, kind) for name, kind in columns.items()])


TABLES: dict[str, TableSpec] = {
    spec.table: spec
    for spec in (
        TableSpec(
            "categorylinks",
            _schema(cl_from=pa.int64(), cl_to=pa.string(), cl_target_id=pa.int64()),
            (("names", ("cl_from", "cl_to")), ("linktarget", ("cl_from", "cl_target_id"))),
            integers=("cl_from",),
        ),
        TableSpec(
            "templatelinks",
            _schema(tl_from=pa.int64(), tl_namespace=pa.int32(), tl_title=pa.string(), tl_target_id=pa.int64()),
            (("names", ("tl_from", "tl_namespace", "tl_title")), ("linktarget", ("tl_from", "tl_target_id"))),
            integers=("tl_from",),
        ),
        TableSpec(
            "linktarget",
            _schema(lt_id=pa.int64(), lt_namespace=pa.int32(), lt_title=pa.string()),
            (("names", ("lt_id", "lt_namespace", "lt_title")),),
            integers=("lt_id",),
        ),
        TableSpec(
            "page_restrictions",
            _schema(pr_page=pa.int64(), pr_type=pa.string(), pr_level=pa.string(), pr_expiry=pa.string(),
                    pr_cascade=pa.int32()),
            (("names", ("pr_page", "pr_type", "pr_level")),),
            optional=("pr_expiry", "pr_cascade"),
            integers=("pr_page",),
        ),
        TableSpec(
            "page_props",
            _schema(pp_page=pa.int64(), pp_propname=pa.string(), pp_value=pa.string()),
            (("names", ("pp_page", "pp_propname", "pp_value")),),
            integers=("pp_page",),
            keep={"pp_propname": PAGE_PROPS},
        ),
        TableSpec(
            "user_groups",
            _schema(ug_user=pa.int64(), ug_group=pa.string(), ug_expiry=pa.string()),
            (("names", ("ug_user", "ug_group")),),
            optional=("ug_expiry",),
            integers=("ug_user",),
        ),
        TableSpec(
            # Wikibase client's usage tracking: one row per (page, entity, aspect); a wiki without Wikibase
            # has no such table.
            "wbc_entity_usage",
            _schema(eu_page_id=pa.int64(), eu_entity_id=pa.string(), eu_aspect=pa.string()),
            (("names", ("eu_page_id", "eu_entity_id", "eu_aspect")),),
            integers=("eu_page_id",),
        ),
    )
}


def table_files(status: DumpRunStatus, project: str, date: str) -> tuple[dict[str, str], dict[str, str]]:
    """The optional tables of a run: ``({table: file name}, {table: why it is skipped})``.

    A table is found by its file name, ``{db}-{date}-{table}.sql.gz``, in whichever job lists it (the job
    names of the dump scripts have changed over the years); its job must be done, with a checksum.
    """
    found: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for job_name, job in status.jobs.items():
        for name, dump_file in job.files.items():
            match = re.fullmatch(rf"{re.escape(project)}-{re.escape(date)}-(\w+)\.sql\.gz", name)
            if not match or match.group(1) not in TABLES or match.group(1) == "page_props":
                continue
            table = match.group(1)
            if job.status != "done":
                skipped[table] = f"its job {job_name} is {job.status}"
            elif not (dump_file.md5 or dump_file.sha1) or dump_file.size is None:
                skipped[table] = f"{name} has no published checksum or size"
            else:
                found[table] = name
                skipped.pop(table, None)
    for table in TABLES:
        if table != "page_props" and table not in found and table not in skipped:
            skipped[table] = "not in this dump run"
    return found, skipped


@dataclass
class IngestedTable:
    table: str
    source: str  # the dump file's name
    path: Path  # the Parquet file
    shape: str
    rows: int


def ingest_table(
    source: Path, table: str, out_path: Path, *, name: str | None = None, on_rows: Callable[[int], None] | None = None
) -> IngestedTable:
    """Read one table dump into ``out_path`` (Parquet, zstd): the columns of :data:`TABLES` ``[table]``.

    Raises :class:`~.errors.DumpParseError` when the dump does not parse (file, byte offset, last row), or has
    none of the table's shapes."""
    spec = TABLES[table]
    label = name or source.name
    rows = 0
    with SqlTableDump(source, table, name=label) as dump:
        columns = dump.columns
        if columns is None:
            raise DumpParseError(f"{label}: no CREATE TABLE `{table}` names the columns", name=label)
        shape, select = _shape(spec, columns, label)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(out_path, spec.schema, compression="zstd") as writer:
            for batch in _batches(dump.rows(select, integers=spec.integers, keep=spec.keep), select, spec.schema):
                writer.write_table(batch)
                rows += batch.num_rows
                if on_rows:
                    on_rows(rows)
    return IngestedTable(table, label, out_path, shape, rows)


def _shape(spec: TableSpec, columns: Iterable[str], label: str) -> tuple[str, tuple[str, ...]]:
    present = set(columns)
    for shape, required in spec.shapes:
        if present.issuperset(required):
            return shape, required + tuple(c for c in spec.optional if c in present)
    wanted = " or ".join("(" + ", ".join(required) + ")" for _, required in spec.shapes)
    raise DumpParseError(f"{label}: `{spec.table}` has none of the columns wme reads: {wanted}; it has "
                         f"{', '.join(columns)}", name=label)


def _batches(rows, select: tuple[str, ...], schema: pa.Schema):
    """Rows as Arrow tables of at most _BATCH_ROWS rows, in ``schema`` (absent columns null)."""
    buffer: list[tuple] = []
    for row in rows:
        buffer.append(row)
        if len(buffer) >= _BATCH_ROWS:
            yield _table(buffer, select, schema)
            buffer = []
    if buffer:
        yield _table(buffer, select, schema)


def _table(rows: list[tuple], select: tuple[str, ...], schema: pa.Schema) -> pa.Table:
    values = list(zip(*rows, strict=True))
    arrays = []
    for column in schema:
        if column.name in select:
            data = values[select.index(column.name)]
            if pa.types.is_string(column.type):
                data = [None if v is None else str(v) for v in data]
            arrays.append(pa.array(data, column.type))
        else:
            arrays.append(pa.nulls(len(rows), column.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def ingest_page_props(source: Path, out_path: Path, *, name: str | None = None):
    """``page_props`` in one pass: the Wikidata item of each page (for the page store) and the rows of
    :data:`PAGE_PROPS` (into ``out_path``). Returns ``(WikibaseItems, IngestedTable)``."""
    from .page_props import WikibaseItems, iter_page_props

    spec = TABLES["page_props"]
    select = spec.shapes[0][1]
    items = WikibaseItems()
    rows = 0
    out_path.parent.mkdir(parents=True, exist_ok=True)

    def props():
        for row in iter_page_props(source, propnames=("wikibase_item", *PAGE_PROPS), name=name):
            if row.propname == "wikibase_item":
                items.add(row.page_id, row.value)
            else:
                yield row

    with pq.ParquetWriter(out_path, spec.schema, compression="zstd") as writer:
        for batch in _batches(props(), select, spec.schema):
            writer.write_table(batch)
            rows += batch.num_rows
    return items.finish(), IngestedTable("page_props", name or source.name, out_path, "names", rows)
