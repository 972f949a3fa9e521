"""The merged read view: the base plus the deltas, last write wins per page id, streamed in page id order.

The base is read row group by row group (it is already in page id order); DuckDB picks the winner per
page id among the deltas and sorts them; :func:`_merge` zips the two sorted streams batch by batch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wme_assets.storage.article_store.layout import (
    _INT64_MAX,
    _MERGE_COLUMNS,
    ARTICLE_SCHEMA,
    DELETE,
    UPSERT,
)
from wme_assets.storage.article_store.state import CurrentState, read_current
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.parquet_dataset import (
    cached_copy,
    cached_files,
    sql_literal,
)


def _read_schema(columns: Iterable[str] | None) -> pa.Schema:
    wanted = set(columns if columns is not None else ARTICLE_SCHEMA.names) | set(_MERGE_COLUMNS)
    unknown = wanted - set(ARTICLE_SCHEMA.names)
    if unknown:
        raise ValueError(f"unknown article store columns: {sorted(unknown)}")
    # In schema order: page_id first.
    return pa.schema([f for f in ARTICLE_SCHEMA if f.name in wanted])


def _keeps_all(mask: pa.Array | pa.ChunkedArray) -> bool:
    """True when filtering by ``mask`` would keep every row: then no filter, which would copy every column,
    the articles included (the usual batch of a one-namespace export keeps all its rows)."""
    return mask.null_count == 0 and pc.all(mask).as_py() is not False


def _base_batches(
    store: ObjectStore, manifest: Mapping[str, Any], cache: Path, schema: pa.Schema, namespace: int | None
) -> Iterator[pa.RecordBatch]:
    """The base's rows in page id order, row group by row group; files are fetched as they are reached."""
    for entry in manifest["files"]:
        # Memory-mapped: the cached file is read in place, not copied into fresh buffers first.
        parquet = pq.ParquetFile(cached_copy(store, entry, cache), memory_map=True)
        ns_index = parquet.schema_arrow.get_field_index("namespace")
        for group in range(parquet.num_row_groups):
            if namespace is None:
                table = parquet.read_row_group(group, columns=schema.names)
            else:
                stats = parquet.metadata.row_group(group).column(ns_index).statistics
                if stats is not None and stats.has_min_max and not stats.min <= namespace <= stats.max:
                    continue
                # The namespace column first: a row group without the namespace costs no article reads.
                mask = pc.equal(parquet.read_row_group(group, columns=["namespace"]).column(0), namespace)
                if not pc.any(mask).as_py():
                    continue
                table = parquet.read_row_group(group, columns=schema.names)
                if not _keeps_all(mask):
                    table = table.filter(mask)
            for batch in table.to_batches():
                yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)


def _delta_winners(
    con,
    files: list[tuple[int, int, Path]],
    schema: pa.Schema,
    namespace: int | None,
    batch_rows: int,
    page_ids: list[int] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Per page id, the change that wins among the deltas, in page id order (over all namespaces).

    ``page_ids`` restricts it to those pages (a literal list, which DuckDB checks against the row
    groups' page id statistics, so a sorted base is not read beyond the row groups that hold them)."""
    where = ""
    if page_ids is not None:
        where = f" WHERE page_id IN ({', '.join(str(int(p)) for p in page_ids) or 'NULL'})"
    columns = []
    for name in schema.names:
        quoted = f'"{name}"'
        if namespace is not None and name in ("article", "structured"):
            # Winners in other namespaces only hide base rows: their payload need not be sorted.
            columns.append(f"CASE WHEN namespace = {int(namespace)} THEN {quoted} END AS {quoted}")
        else:
            columns.append(quoted)
    select = ", ".join(columns)
    branches = " UNION ALL ".join(
        f"SELECT {select}, revision_id AS _revision, {layer} AS _layer, {seq} AS _file, file_row_number AS _row "
        f"FROM read_parquet({sql_literal(str(path))}, file_row_number = true){where}"
        for layer, seq, path in files
    )
    names = ", ".join(f'"{name}"' for name in schema.names)
    # Later hour first; inside an hour the higher revision, a delete before an upsert of the same revision
    # (a delete without revision counts as the newest); last of all, the later row written.
    query = f"""
        SELECT {names} FROM ({branches})
        QUALIFY row_number() OVER (
            PARTITION BY page_id
            ORDER BY _layer DESC, coalesce(_revision, {_INT64_MAX}) DESC, (op = '{DELETE}') DESC,
                     _file DESC, _row DESC
        ) = 1
        ORDER BY page_id
    """
    reader = con.sql(query).to_arrow_reader(batch_rows)
    for batch in reader:
        # DuckDB's Arrow types are wider or nullable where the store's are not; the values are the same.
        yield pa.RecordBatch.from_arrays([batch.column(i).cast(f.type) for i, f in enumerate(schema)], schema=schema)


def _next_batch(batches: Iterator[pa.RecordBatch]) -> pa.RecordBatch | None:
    for batch in batches:
        if batch.num_rows:
            return batch
    return None


def _merge(base: Iterator[pa.RecordBatch], deltas: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Merge two page-id-ordered streams; where both have a page id, the delta's row replaces the base's.

    Each step takes the rows up to the smaller of the two batches' last page ids, so it uses up at least
    one batch and holds at most two.
    """
    b, d = _next_batch(base), _next_batch(deltas)
    while b is not None and d is not None:
        cut = min(b.column("page_id")[-1].as_py(), d.column("page_id")[-1].as_py())
        nb = pc.sum(pc.less_equal(b.column("page_id"), cut)).as_py() or 0
        nd = pc.sum(pc.less_equal(d.column("page_id"), cut)).as_py() or 0
        head_b, head_d = b.slice(0, nb), d.slice(0, nd)
        if nd:
            head_b = head_b.filter(pc.invert(pc.is_in(head_b.column("page_id"), value_set=head_d.column("page_id"))))
            table = pa.Table.from_batches([head_b, head_d])
            table = table.take(pc.sort_indices(table.column("page_id"))).combine_chunks()
            yield from table.to_batches()
        elif nb:
            yield head_b
        b = b.slice(nb) if nb < b.num_rows else _next_batch(base)
        d = d.slice(nd) if nd < d.num_rows else _next_batch(deltas)
    if b is not None:
        yield b
        yield from base
    if d is not None:
        yield d
        yield from deltas


def iter_current_batches(
    store: ObjectStore,
    project: str,
    *,
    cache_dir: str | os.PathLike[str],
    namespace: int | None = None,
    columns: Iterable[str] | None = None,
    state: CurrentState | None = None,
    batch_rows: int = 1_000,
    memory_limit: str = "1GB",
) -> Iterator[pa.RecordBatch]:
    """The current articles (base plus deltas, deletes dropped) as record batches in page id order.

    ``columns`` (default: all) selects what is read; ``namespace`` keeps one namespace. Pass ``state``
    (from :func:`read_current`) to read several namespaces from one consistent state. Files are
    downloaded into ``cache_dir`` (content-addressed, verified, reused); DuckDB spills its sort of the
    delta winners to ``cache_dir`` beyond ``memory_limit``.
    """
    import duckdb

    state = state if state is not None else read_current(store, project)
    schema = _read_schema(columns)
    wanted = list(columns) if columns is not None else ARTICLE_SCHEMA.names
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    base = _base_batches(store, state.base_manifest, cache, schema, namespace)
    delta_files = [
        (layer, seq, path)
        for layer, hour in enumerate(state.deltas)
        for seq, path in enumerate(cached_files(store, state.delta_manifests[hour], cache))
    ]
    con = None
    try:
        if delta_files:
            con = duckdb.connect()
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET arrow_large_buffer_size = true")  # large_binary/large_string, as stored
            con.execute(f"SET memory_limit = {sql_literal(memory_limit)}")
            con.execute(f"SET temp_directory = {sql_literal(str(cache / '.duckdb-spill'))}")
            merged = _merge(base, _delta_winners(con, delta_files, schema, namespace, batch_rows))
        else:
            merged = base
        for batch in merged:
            keep = pc.equal(batch.column("op"), UPSERT)
            if namespace is not None:
                keep = pc.and_(keep, pc.equal(batch.column("namespace"), namespace))
            if not _keeps_all(keep):
                batch = batch.filter(keep)
            if batch.num_rows:
                yield batch.select(wanted)
    finally:
        if con is not None:
            con.close()


def iter_current_articles(
    store: ObjectStore,
    project: str,
    *,
    cache_dir: str | os.PathLike[str],
    namespace: int | None = None,
    state: CurrentState | None = None,
    batch_rows: int = 1_000,
    memory_limit: str = "1GB",
) -> Iterator[tuple[int, bytes]]:
    """``(page_id, article JSON line)`` of every current article in page id order: the export's input."""
    for batch in iter_current_batches(
        store,
        project,
        cache_dir=cache_dir,
        namespace=namespace,
        columns=["page_id", "article"],
        state=state,
        batch_rows=batch_rows,
        memory_limit=memory_limit,
    ):
        yield from zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)


def iter_delta_changes(
    store: ObjectStore,
    project: str,
    manifest: Mapping[str, Any],
    *,
    cache_dir: str | os.PathLike[str],
    columns: Iterable[str] | None = None,
    namespace: int | None = None,
    batch_rows: int = 1_000,
    memory_limit: str = "1GB",
) -> Iterator[pa.RecordBatch]:
    """The changes of one delta (its manifest), one winning row per page id, deletes included, in page id order.

    What the hour's batch exports: the store's within-hour rule picks the row per page (an application writes
    one row per page and hour, so this is the row it wrote). With ``namespace``, the rows of other namespaces
    come without their payload (``article`` and ``structured`` are null): a reader of one namespace still
    sees the pages that left it (their row is in the namespace they went to) without reading their articles.
    """
    import duckdb

    schema = _read_schema(columns)
    wanted = list(columns) if columns is not None else ARTICLE_SCHEMA.names
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    files = [(0, seq, path) for seq, path in enumerate(cached_files(store, manifest, cache))]
    if not files:
        return
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET arrow_large_buffer_size = true")
        con.execute(f"SET memory_limit = {sql_literal(memory_limit)}")
        con.execute(f"SET temp_directory = {sql_literal(str(cache / '.duckdb-spill'))}")
        for batch in _delta_winners(con, files, schema, namespace, batch_rows):
            if batch.num_rows:
                yield batch.select(wanted)
    finally:
        con.close()


def lookup_current(
    store: ObjectStore,
    project: str,
    page_ids: Iterable[int],
    *,
    cache_dir: str | os.PathLike[str],
    columns: Iterable[str] = ("page_id", "namespace", "name", "revision_id", "content_hash", "op"),
    state: CurrentState | None = None,
) -> dict[int, dict[str, Any]]:
    """The winning row of each of ``page_ids`` in the current state, deletes included (``op``), by page id.

    For writers that must compare a change with what the store holds (the realtime stage: is this
    revision older, is this article unchanged?) without reading every article: the base is one more
    layer under the deltas, with the same winner rule as :func:`iter_current_batches`. A page the store
    never held is absent from the result.
    """
    import duckdb

    ids = sorted({int(p) for p in page_ids})
    if not ids:
        return {}
    state = state if state is not None else read_current(store, project)
    schema = _read_schema(columns)
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    manifests = [state.base_manifest, *(state.delta_manifests[hour] for hour in state.deltas)]
    files = [
        (layer, seq, path)
        for layer, manifest in enumerate(manifests)
        for seq, path in enumerate(cached_files(store, manifest, cache))
    ]
    if not files:
        return {}
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET arrow_large_buffer_size = true")
        found: dict[int, dict[str, Any]] = {}
        for batch in _delta_winners(con, files, schema, None, 1_000, page_ids=ids):
            for row in batch.to_pylist():
                found[row["page_id"]] = row
        return found
    finally:
        con.close()
