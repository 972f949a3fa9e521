"""The SQL tables at scale: the mysqldump reader and the on-disk join, on tables far larger than the fixtures'.

The fixtures' tables are small (``bench_chain.py --tables``); this makes a page store of N pages (default
200,000) with 10 categories and 30 transcluded templates each (through ``linktarget``, as today's dumps) and
8 rows of Wikidata entity usage (``wbc_entity_usage``), and measures: reading ``categorylinks`` from its
mysqldump (rows per CPU-second), the join under DuckDB's memory limit (``JOIN_MEMORY``), and merging the
joined rows back per page. Row contents are synthetic; the sizes per page are those of a well-linked article.

    .venv/bin/python benchmarks/bench_tables.py [--pages 200000]
"""

from __future__ import annotations

import argparse
import gzip
import resource
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from wme_assets.devtools.mirror import mysqldump_table
from wme_assets.enrichment.tables_join import JOIN_MEMORY, join_tables, table_rows
from wme_assets.ingestion.tables import ingest_table

CATEGORIES, TEMPLATES, TARGETS, USAGES = 10, 30, 80_000, 8
_ASPECTS = ("C", "O", "S", "T", "L.en", "D.en", "C.P31", "C.P17")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200_000)
    n = parser.parse_args().pages
    with tempfile.TemporaryDirectory(prefix="wme-bench-tables-") as tmp:
        d = Path(tmp)
        pq.write_table(pa.table({
            "page_id": pa.array(range(1, n + 1), pa.int64()),
            "namespace": pa.array([0] * n, pa.int32()),
            "is_redirect": [False] * n,
            "contributor_id": pa.array([i % 5000 for i in range(n)], pa.int64()),
        }), d / "part-0.parquet")
        rows = ({"cl_from": p, "cl_to": f"Category_number_{(p * 7 + k) % 50_000}", "cl_type": "page"}
                for p in range(1, n + 1) for k in range(CATEGORIES))
        (d / "categorylinks.sql.gz").write_bytes(gzip.compress(mysqldump_table("x", "categorylinks", rows, "x"), 1))
        cpu = time.process_time()
        read = ingest_table(d / "categorylinks.sql.gz", "categorylinks", d / "categorylinks.parquet")
        read_cpu = time.process_time() - cpu
        pq.write_table(pa.table({
            "tl_from": pa.array([p for p in range(1, n + 1) for _ in range(TEMPLATES)], pa.int64()),
            "tl_namespace": pa.nulls(n * TEMPLATES, pa.int32()),
            "tl_title": pa.nulls(n * TEMPLATES, pa.string()),
            "tl_target_id": pa.array([(p * 13 + k) % TARGETS + 1 for p in range(1, n + 1) for k in range(TEMPLATES)],
                                     pa.int64()),
        }), d / "templatelinks.parquet")
        pq.write_table(pa.table({
            "lt_id": pa.array(range(1, TARGETS + 1), pa.int64()),
            "lt_namespace": pa.array([10] * TARGETS, pa.int32()),
            "lt_title": [f"Template_{i}" for i in range(TARGETS)],
        }), d / "linktarget.parquet")
        pq.write_table(pa.table({
            "eu_page_id": pa.array([p for p in range(1, n + 1) for _ in range(USAGES)], pa.int64()),
            "eu_entity_id": [f"Q{p if k < 4 else (p * 11 + k) % 200_000}" for p in range(1, n + 1)
                             for k in range(USAGES)],
            "eu_aspect": [_ASPECTS[k] for _ in range(n) for k in range(USAGES)],
        }), d / "wbc_entity_usage.parquet")
        tables = {t: d / f"{t}.parquet" for t in ("categorylinks", "templatelinks", "linktarget", "wbc_entity_usage")}
        cpu, wall = time.process_time(), time.perf_counter()
        joined = join_tables([d / "part-0.parquet"], tables, {0: "", 10: "Template", 14: "Category"}, (0,),
                             d / "join", date="20250101")
        join_cpu, join_wall = time.process_time() - cpu, time.perf_counter() - wall
        cpu = time.process_time()
        pages = sum(1 for _ in table_rows(joined))
        merge_cpu = time.process_time() - cpu
    links = n * (CATEGORIES + TEMPLATES + USAGES)
    print(f"# {n} pages, {n * CATEGORIES} categorylinks, {n * TEMPLATES} templatelinks and {n * USAGES} "
          "wbc_entity_usage rows")
    print(f"read categorylinks (mysqldump -> Parquet): {read.rows} rows, {read_cpu:.1f} CPU-s, "
          f"{read.rows / read_cpu:,.0f} rows/CPU-s")
    print(f"join (DuckDB, memory limit {JOIN_MEMORY}): {join_cpu:.1f} CPU-s ({join_wall:.1f} s wall), "
          f"{links / join_cpu:,.0f} link rows/CPU-s")
    print(f"merge back per page: {pages} pages, {merge_cpu:.1f} CPU-s, {merge_cpu / pages * 1e6:.0f} µs/page")
    # the join runs in this process here (in the chain, in a worker): its DuckDB buffers are in this peak
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
