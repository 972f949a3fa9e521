"""Parquet shards with a nested schema (wme_assets.publishing.parquet), on real Enterprise records.

Real records: the 12 Enterprise articles of ``wme-articles`` and the 3 of ``wme-sdk-testdata``'s
``articles.ndjson``; Structured Contents from Enterprise (``structured-contents.json`` and the Montreal
examples, whose sections nest 5 deep) and the ones wme's own enrichment builds from the real wikitext of
the ``wme-articles`` pages (with references and their citation metadata). Every record goes through the
models (``model_validate``) and ``to_json_bytes``, as the snapshot export writes it. Synthetic records only
for bad input: trees deeper than the schema unrolls, lines that are not records.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from wme_assets.publishing.parquet import (
    DEFAULT_MAX_DEPTH,
    KIND_MODELS,
    ParquetManifest,
    arrow_schema_for,
    check_published_parquet,
    export_parquet,
    list_parquet_manifests,
    parquet_manifest_key,
    publish_parquet,
    query_parquet,
    read_parquet_manifest,
    row_to_record,
    write_parquet_shards,
)
from wme_assets.publishing.parquet.manifest import manifest_arrow_schema
from wme_assets.schema import (
    RECORD_SCHEMA_VERSION,
    Article,
    StructuredContent,
    generate_json_schema,
    to_json_bytes,
)
from wme_assets.snapshots.read import SnapshotNotFoundError
from wme_assets.storage.parquet_dataset import schema_fingerprint
from wme_assets_tests.records import enterprise_structured_contents, real_articles, wme_structured_contents

DATE = "20250203"
DUMP_DATE = "20250201"


# --------------------------------------------------------------------------------------------------
# Real records (shared with test_publishing_huggingface)
# --------------------------------------------------------------------------------------------------


def part_depth(part: dict, level: int = 1) -> int:
    return max([level, *(part_depth(child, level + 1) for child in part.get("has_parts", []))])


def parts_below(part: dict, limit: int, level: int = 1) -> int:
    """How many parts of a tree lie deeper than ``limit`` levels."""
    return (level > limit) + sum(parts_below(c, limit, level + 1) for c in part.get("has_parts", []))


def part_names(parts: list[dict]) -> Counter:
    names: Counter = Counter()
    for part in parts:
        names[(part.get("type"), part.get("name"), part.get("value"))] += 1
        names += part_names(part.get("has_parts", []))
    return names


def read_rows(directory: Path) -> list[dict]:
    return pq.read_table(sorted(directory.glob("*.parquet"))).to_pylist()


def assert_round_trip(rows: list[dict], lines: list[tuple[int, bytes]], kind: str) -> None:
    model = KIND_MODELS[kind]
    assert [row["identifier"] for row in rows] == [page_id for page_id, _ in lines]
    for row, (page_id, line) in zip(rows, lines, strict=True):
        back = to_json_bytes(model.model_validate(row_to_record(row, kind)))
        assert back == line, f"page {page_id} does not survive Parquet"


# --------------------------------------------------------------------------------------------------
# The schema
# --------------------------------------------------------------------------------------------------


def _json_schema_paths(schema: dict, node: dict, path: str, seen: tuple, out: dict) -> None:
    """Every property path of a JSON Schema → its JSON type, following $refs until they recurse."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return
        _json_schema_paths(schema, schema["$defs"][name], path, (*seen, name), out)
        return
    kind = node.get("type")
    if kind == "object" and "properties" in node:
        for prop, sub in node["properties"].items():
            child = f"{path}.{prop}" if path else prop
            _json_schema_paths(schema, sub, child, seen, out)
        return
    if path:
        out[path] = "timestamp" if node.get("format") == "date-time" else kind
    if kind == "array":
        _json_schema_paths(schema, node["items"], path + "[]", seen, out)


def _arrow_paths(data_type: pa.DataType, path: str, out: dict) -> None:
    if pa.types.is_struct(data_type):
        for f in data_type:
            _arrow_paths(f.type, f"{path}.{f.name}" if path else f.name, out)
        return
    if pa.types.is_list(data_type):
        out[path] = "array"
        _arrow_paths(data_type.value_type, path + "[]", out)
        return
    out[path] = {
        pa.string(): "string",
        pa.int64(): "integer",
        pa.float64(): "number",
        pa.bool_(): "boolean",
        pa.timestamp("us", tz="UTC"): "timestamp",
    }[data_type]


@pytest.mark.parametrize("kind", sorted(KIND_MODELS))
def test_schema_is_the_json_schema_as_arrow_types(kind):
    """Every field the published JSON Schema describes is a column of the same type (no JSON strings)."""
    json_paths: dict[str, str] = {}
    schema = generate_json_schema(kind)
    _json_schema_paths(schema, schema, "", (), json_paths)
    arrow_paths: dict[str, str] = {}
    _arrow_paths(pa.struct(list(arrow_schema_for(KIND_MODELS[kind]))), "", arrow_paths)
    # The JSON Schema stops where a $ref recurses; dict[str, str] (references[].metadata) is an object
    # with additionalProperties there and a list of key/value structs here.
    maps = {p for p, t in arrow_paths.items() if p.endswith(".metadata") and t == "array"}
    for path, json_type in json_paths.items():
        if path in maps:
            assert json_type == "object"
            continue
        assert arrow_paths.get(path) == json_type, path
    assert set(arrow_paths) >= set(json_paths)
    # Top-level columns are exactly the model's fields, in its order.
    assert arrow_schema_for(KIND_MODELS[kind]).names == list(KIND_MODELS[kind].model_fields)


def test_schema_is_deterministic_and_unrolls_parts_to_the_depth():
    assert arrow_schema_for(StructuredContent).equals(arrow_schema_for(StructuredContent), check_metadata=True)
    schema = arrow_schema_for(StructuredContent)
    part = schema.field("sections").type.value_type
    levels = 1
    while "has_parts" in part.names:
        part = part.field("has_parts").type.value_type
        levels += 1
    assert levels == DEFAULT_MAX_DEPTH
    assert set(part.names) == set(schema.field("sections").type.value_type.names) - {"has_parts"}
    # A table, the tables in its cells, and no deeper.
    table = schema.field("tables").type.value_type
    cell = table.field("rows").type.value_type.value_type
    nested_cell = cell.field("nested_table").type.field("rows").type.value_type.value_type
    assert nested_cell.names == ["value"]
    assert schema.metadata[b"wme.schema_version"] == RECORD_SCHEMA_VERSION.encode()
    assert arrow_schema_for(StructuredContent, max_depth=3) != schema
    with pytest.raises(ValueError, match="max_depth"):
        arrow_schema_for(StructuredContent, max_depth=0)


def test_schema_is_the_same_for_every_shard_and_snapshot(tmp_path):
    """Records with very different fields present (a wikiversity page without categories, a full enwiki
    article, a 2023 SDK record) give files of one schema: missing fields are null, not other types."""
    schemas = []
    for project, lines in real_articles().items():
        for index, chunk in enumerate((lines[:1], lines[1:])):
            if chunk:
                shards = write_parquet_shards(chunk, tmp_path / f"{project}-{index}", dbname=project, namespace=0)
                schemas += [pq.read_schema(shards.path(s)) for s in shards]
    assert len(schemas) == 10  # 7 projects, 3 of them with more than one record
    expected = arrow_schema_for(Article)
    for schema in schemas:
        assert schema.equals(expected, check_metadata=True)
    wikiversity = read_rows(tmp_path / "enwikiversity-0")[0]
    assert wikiversity["categories"] is None and wikiversity["name"] == "Albert Einstein"


# --------------------------------------------------------------------------------------------------
# Records survive Parquet
# --------------------------------------------------------------------------------------------------


def test_real_articles_round_trip(tmp_path):
    for project, lines in real_articles().items():
        shards = write_parquet_shards(lines, tmp_path / project, dbname=project, namespace=0, dump_date=DUMP_DATE)
        assert shards.manifest.rows == len(lines)
        assert shards.truncation.records == 0
        assert_round_trip(read_rows(tmp_path / project), lines, "article")


def test_real_structured_contents_round_trip_without_truncation(tmp_path):
    sources = {"enterprise": enterprise_structured_contents(), "wme": wme_structured_contents()}
    deepest = 0
    for origin, by_project in sources.items():
        for project, lines in by_project.items():
            out = tmp_path / origin / project
            shards = write_parquet_shards(lines, out, dbname=project, namespace=0, kind="structured-content")
            assert shards.manifest.truncation.records == 0
            assert_round_trip(read_rows(out), lines, "structured-content")
            for _, line in lines:
                record = orjson.loads(line)
                trees = record.get("sections", []) + record.get("article_sections", []) + record.get("infoboxes", [])
                deepest = max([deepest, *(part_depth(p) for p in trees)])
    assert deepest == 5  # the real trees are deep, and fit the default unroll


def test_nested_values_are_real_types(tmp_path):
    lines = wme_structured_contents()["enwiki"]
    write_parquet_shards(lines, tmp_path, dbname="enwiki", namespace=0, kind="structured-content")
    table = pq.read_table(sorted(tmp_path.glob("*.parquet")))
    assert pa.types.is_timestamp(table.schema.field("date_modified").type)
    references = table.column("references").to_pylist()
    metadata = next(ref["metadata"] for refs in references for ref in refs if ref["metadata"])
    assert all(set(entry) == {"key", "value"} for entry in metadata)
    first = orjson.loads(lines[0][1])
    assert table.column("sections").to_pylist()[0][0]["name"] == first["sections"][0]["name"]


# --------------------------------------------------------------------------------------------------
# Deeper than the unroll: folded or dropped, and counted
# --------------------------------------------------------------------------------------------------


def _chain(depth: int) -> dict:
    """A part with one child per level, ``depth`` levels in all (synthetic: deeper than real records)."""
    part: dict = {"type": "list_item", "name": f"level {depth}", "value": f"text {depth}"}
    for level in range(depth - 1, 0, -1):
        part = {"type": "section", "name": f"level {level}", "has_parts": [part]}
    return part


def test_parts_deeper_than_the_unroll_are_folded_in_document_order(tmp_path):
    deep = {"identifier": 7, "name": "Deep", "sections": [_chain(12), {"type": "section", "name": "after"}]}
    line = to_json_bytes(StructuredContent.model_validate(deep))
    shards = write_parquet_shards([(7, line)], tmp_path, dbname="enwiki", namespace=0, kind="structured-content")
    counts = shards.manifest.truncation
    assert (counts.records, counts.folded_parts, counts.dropped_objects, counts.first_page_ids) == (1, 4, 0, [7])
    row = read_rows(tmp_path)[0]
    level = row["sections"][0]
    for _ in range(2, DEFAULT_MAX_DEPTH):
        level = level["has_parts"][0]
    assert level["name"] == f"level {DEFAULT_MAX_DEPTH - 1}"
    # Levels 8 to 12 now sit side by side at level 8, in document order, nothing lost.
    assert [p["name"] for p in level["has_parts"]] == [f"level {d}" for d in range(DEFAULT_MAX_DEPTH, 13)]
    assert level["has_parts"][-1]["value"] == "text 12"
    assert row["sections"][1]["name"] == "after"


def test_folding_real_trees_keeps_every_part(tmp_path):
    """Unrolled to 3 levels, the real Montreal sections (5 deep) lose no part, only nesting."""
    lines = [*enterprise_structured_contents()["enwiki"], *enterprise_structured_contents()["enwikivoyage"]]
    lines.sort()
    shards = write_parquet_shards(lines, tmp_path, dbname="enwiki", namespace=0, kind="structured-content", max_depth=3)
    expected_folded = 0
    for (_, line), row in zip(lines, read_rows(tmp_path), strict=True):
        record = orjson.loads(line)
        back = row_to_record(row, "structured-content", max_depth=3)
        for field in ("sections", "article_sections", "infoboxes"):
            expected_folded += sum(parts_below(p, 3) for p in record.get(field, []))
            assert part_names(back.get(field, [])) == part_names(record.get(field, []))
            assert max([0, *(part_depth(p) for p in back.get(field, []))]) <= 3
    assert expected_folded > 100
    assert shards.manifest.truncation.folded_parts == expected_folded
    assert shards.manifest.truncation.records == 2


def test_tables_nested_deeper_than_the_table_depth_are_dropped_and_counted(tmp_path):
    innermost = {"identifier": "t3", "rows": [[{"value": "deepest"}]]}
    middle = {"identifier": "t2", "rows": [[{"value": "inner", "nested_table": innermost}]]}
    outer = {"identifier": "t1", "rows": [[{"value": "outer", "nested_table": middle}]]}
    record = {"identifier": 9, "tables": [outer]}
    line = to_json_bytes(StructuredContent.model_validate(record))
    shards = write_parquet_shards([(9, line)], tmp_path, dbname="enwiki", namespace=0, kind="structured-content")
    assert (shards.truncation.records, shards.truncation.dropped, shards.truncation.folded) == (1, 1, 0)
    cell = read_rows(tmp_path)[0]["tables"][0]["rows"][0][0]
    assert cell["nested_table"]["rows"][0][0] == {"value": "inner"}


# --------------------------------------------------------------------------------------------------
# Shards
# --------------------------------------------------------------------------------------------------


def test_shards_are_bounded_ordered_and_named(tmp_path):
    lines = real_articles()["enwiki"]  # 5 articles, 0.4 to 3 MB of JSON each
    by_rows = write_parquet_shards(lines, tmp_path / "rows", dbname="enwiki", namespace=0, max_rows=2, row_group_rows=1)
    assert [s.rows for s in by_rows] == [2, 2, 1]
    assert [s.row_groups for s in by_rows] == [2, 2, 1]
    assert [s.name for s in by_rows] == [f"enwiki_namespace_0_{i:05d}.parquet" for i in range(3)]
    limit = 3_500_000
    by_bytes = write_parquet_shards(lines, tmp_path / "bytes", dbname="enwiki", namespace=0, max_bytes=limit)
    sizes = dict(lines)
    for shard in by_bytes:
        assert shard.source_bytes <= limit or shard.rows == 1  # only a record larger than the bound stands alone
        assert shard.bytes <= limit
        assert pq.read_metadata(by_bytes.path(shard)).num_rows == shard.rows
    assert sum(s.source_bytes for s in by_bytes) == sum(len(v) for v in sizes.values())
    # Page ids ascend within and across shards, and the manifest says where each shard starts and ends.
    ids = [row["identifier"] for row in read_rows(tmp_path / "bytes")]
    assert ids == sorted(ids) == [page_id for page_id, _ in lines]
    assert [(s.first_page_id, s.last_page_id) for s in by_bytes] == [
        (
            pq.read_table(by_bytes.path(s)).column("identifier")[0].as_py(),
            pq.read_table(by_bytes.path(s)).column("identifier")[-1].as_py(),
        )
        for s in by_bytes
    ]


def test_the_same_records_give_the_same_bytes(tmp_path):
    lines = real_articles()["frwiki"]
    first = write_parquet_shards(lines, tmp_path / "a", dbname="frwiki", namespace=0, max_rows=2)
    second = write_parquet_shards(lines, tmp_path / "b", dbname="frwiki", namespace=0, max_rows=2)
    assert [s.sha256 for s in first] == [s.sha256 for s in second]
    assert first.manifest == second.manifest
    assert first.manifest.language == "fr"


def test_lines_from_an_ndjson_file_are_accepted(tmp_path):
    from wme_assets.snapshots.archive import iter_ndjson_records

    lines = real_articles()["frwiki"]
    ndjson = [line + b"\n" for _, line in lines]
    shards = write_parquet_shards(iter_ndjson_records(ndjson), tmp_path, dbname="frwiki", namespace=0)
    assert shards.manifest.rows == len(lines)


def test_bad_input_is_refused_and_leaves_no_shards(tmp_path):
    lines = real_articles()["frwiki"]
    cases = {
        "order": (list(reversed(lines)), "increasing page id"),
        "identifier": ([(lines[0][0] + 1, lines[0][1])], "identifier is"),
        "invalid": ([*lines[:2], (lines[-1][0], b'{"identifier": "not a number"}')], "not a valid article"),
        "json": ([*lines[:1], (lines[-1][0], b"{not json")], "not a valid article"),
        "empty": ([(1, b"\n")], "empty record line"),
    }
    for name, (records, message) in cases.items():
        out = tmp_path / name
        with pytest.raises(ValueError, match=message):
            write_parquet_shards(records, out, dbname="frwiki", namespace=0, max_rows=1)
        assert not list(out.glob("*.parquet")) and not list(out.glob(".*")), name
    write_parquet_shards(lines, tmp_path / "once", dbname="frwiki", namespace=0)
    with pytest.raises(FileExistsError):
        write_parquet_shards(lines, tmp_path / "once", dbname="frwiki", namespace=0)
    with pytest.raises(ValueError, match="max_rows"):
        write_parquet_shards(lines, tmp_path / "zero", dbname="frwiki", namespace=0, max_rows=0)


def test_no_records_give_no_shards(tmp_path):
    shards = write_parquet_shards([], tmp_path, dbname="frwiki", namespace=14)
    assert len(shards) == 0 and shards.manifest.rows == 0 and shards.manifest.identifier == "frwiki_namespace_14"


def test_duckdb_reads_the_local_shards(tmp_path):
    lines = real_articles()["enwiki"]
    write_parquet_shards(lines, tmp_path, dbname="enwiki", namespace=0, max_rows=2)
    rows = duckdb.sql(
        f"SELECT identifier, name, version.identifier, len(categories), in_language.identifier, "
        f"license[1].identifier FROM read_parquet('{tmp_path}/*.parquet') ORDER BY identifier"
    ).fetchall()
    expected = []
    for page_id, line in lines:
        record = orjson.loads(line)
        expected.append(
            (
                page_id,
                record["name"],
                record["version"]["identifier"],
                len(record["categories"]),
                "en",
                record["license"][0]["identifier"],
            )
        )
    assert rows == expected
    sc = tmp_path / "sc"
    write_parquet_shards(
        wme_structured_contents()["enwiki"], sc, dbname="enwiki", namespace=0, kind="structured-content"
    )
    titles = duckdb.sql(
        f"SELECT count(*) FROM (SELECT unnest(\"references\") AS r FROM read_parquet('{sc}/*.parquet')) "
        "WHERE map_from_entries(r.metadata)['title'] IS NOT NULL"
    ).fetchall()[0][0]
    expected_titles = sum(
        1
        for _, line in wme_structured_contents()["enwiki"]
        for ref in orjson.loads(line).get("references", [])
        if "title" in ref.get("metadata", {})
    )
    assert titles == expected_titles > 100


# --------------------------------------------------------------------------------------------------
# Object storage (real SeaweedFS)
# --------------------------------------------------------------------------------------------------


def test_publish_lists_every_shard_and_duckdb_reads_the_downloads(object_store, tmp_path):
    lines = real_articles()["enwiki"]
    shards = write_parquet_shards(lines, tmp_path / "w", dbname="enwiki", namespace=0, max_rows=2, dump_date=DUMP_DATE)
    manifest = publish_parquet(object_store, shards, date=DATE)
    assert manifest.date == DATE and manifest.dump_date == DUMP_DATE
    # Shards written from records name no source snapshot, and their manifest has no `source` key at all.
    assert manifest.source is None and "source" not in json.loads(manifest.to_json())
    assert [s.key for s in manifest.files] == [
        f"parquet/{DATE}/enwiki_namespace_0/enwiki_namespace_0_{i:05d}.parquet" for i in range(3)
    ]
    assert read_parquet_manifest(object_store, DATE, "enwiki_namespace_0") == manifest
    assert list_parquet_manifests(object_store, DATE) == [manifest]
    assert check_published_parquet(object_store, manifest) == []
    for shard in manifest.files:
        info = object_store.head(object_store.key(shard.key))
        assert (info.size, info.sha256) == (shard.bytes, shard.sha256)
        assert object_store.sha256_of(info.key) == shard.sha256
    assert manifest.rows == len(lines) and manifest.bytes == sum(s.bytes for s in manifest.files)
    assert manifest.arrow_schema_fingerprint == schema_fingerprint(arrow_schema_for(Article))
    assert manifest_arrow_schema(manifest).equals(arrow_schema_for(Article))
    # The manifest key sits beside the shards' folder, and is what `parquet/{date}/` lists.
    assert object_store.exists(object_store.key(parquet_manifest_key(DATE, "enwiki_namespace_0")))

    # DuckDB over the files downloaded from S3 (httpfs cannot be installed offline): verified copies.
    query = query_parquet(object_store, manifest, cache_dir=tmp_path / "cache")
    assert query.mode in ("local-cache", "httpfs")
    count, names = query.sql("SELECT count(*), list(name ORDER BY identifier) FROM records").fetchone()
    assert count == manifest.rows
    assert names == [orjson.loads(line)["name"] for _, line in lines]
    downloaded = [Path(p) for p in query.sources] if query.mode == "local-cache" else []
    for path in downloaded:
        assert pq.read_schema(path).equals(arrow_schema_for(Article), check_metadata=True)


def test_republish_is_idempotent_and_removes_stale_shards(object_store, tmp_path, monkeypatch):
    lines = real_articles()["enwiki"]
    three = write_parquet_shards(lines, tmp_path / "three", dbname="enwiki", namespace=0, max_rows=2)
    publish_parquet(object_store, three, date=DATE)
    sent = []
    original = object_store.publish_file
    monkeypatch.setattr(object_store, "publish_file", lambda *a, **k: sent.append(a[1]) or original(*a, **k))
    again = publish_parquet(object_store, three, date=DATE)
    assert sent == []  # every shard already in place
    two = write_parquet_shards(lines, tmp_path / "two", dbname="enwiki", namespace=0, max_rows=3)
    replaced = publish_parquet(object_store, two, date=DATE)
    assert len(again.files) == 3 and len(replaced.files) == 2
    listed = sorted(i.key for i in object_store.list(object_store.key(f"parquet/{DATE}/enwiki_namespace_0") + "/"))
    assert listed == sorted(object_store.key(s.key) for s in replaced.files)
    assert read_parquet_manifest(object_store, DATE, "enwiki_namespace_0") == replaced


def test_a_corrupt_local_shard_is_not_published(object_store, tmp_path):
    shards = write_parquet_shards(real_articles()["frwiki"], tmp_path, dbname="frwiki", namespace=0, max_rows=2)
    path = shards.path(shards.shards[1])
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(Exception, match="sha256"):
        publish_parquet(object_store, shards, date=DATE)
    assert not object_store.exists(object_store.key(parquet_manifest_key(DATE, "frwiki_namespace_0")))


def publish_day(store, tmp_path, *, structured: bool = True) -> dict[str, object]:
    """What the export stage leaves for DATE: enwiki's free-tier article snapshots of namespaces 0 (the real
    articles, in several members) and 14 (empty), and, with ``structured``, the paid Structured Contents
    snapshot of namespace 0 (Enterprise's own records)."""
    from wme_assets.snapshots.archive import write_snapshot
    from wme_assets.snapshots.publish import publish_snapshot

    published = {}
    for namespace, records in ((0, real_articles()["enwiki"]), (14, [])):
        files = write_snapshot(
            records,
            tmp_path / f"snapshot-{namespace}",
            dbname="enwiki",
            namespace=namespace,
            max_member_bytes=1_000_000,
            dump_date=DUMP_DATE,
            threads=0,
        )
        published[f"article {namespace}"] = publish_snapshot(store, files, date=DATE, tier="free", update_listing=False)
    if structured:
        files = write_snapshot(
            enterprise_structured_contents()["enwiki"],
            tmp_path / "snapshot-structured",
            dbname="enwiki",
            namespace=0,
            dump_date=DUMP_DATE,
            threads=0,
        )
        published["structured"] = publish_snapshot(
            store, files, date=DATE, tier="paid", kind="structured", update_listing=False
        )
    return published


def parquet_keys(store) -> list[str]:
    return sorted(info.key for info in store.list(store.key("parquet") + "/"))


def test_export_parquet_from_the_published_snapshots(object_store, tmp_path):
    """The chain's input: the verified snapshots of the day, articles (free tier) and Structured Contents."""
    from wme_assets.publishing.parquet import parquet_summary
    from wme_assets.snapshots.publish import snapshot_key
    from wme_assets.snapshots.read import iter_snapshot_records

    snapshots = publish_day(object_store, tmp_path)
    results = export_parquet(
        object_store,
        "enwiki",
        DATE,
        namespaces=(0, 14),
        kinds=("article", "structured-content"),
        work_dir=tmp_path / "work",
        max_rows=2,
    )
    assert results.skipped == {}
    manifests = {(m.kind, m.namespace): m for m, _ in results}
    assert sorted(manifests) == [("article", 0), ("article", 14), ("structured-content", 0)]
    assert all(m.dump_date == DUMP_DATE and m.date == DATE for m in manifests.values())

    # The shards are the snapshot's records: the same count, ids and order, each record round-tripping.
    for (kind, namespace), directory, snapshot_kind, tier in (
        (("article", 0), "article/0", "articles", "free"),
        (("article", 14), "article/14", "articles", "free"),
        (("structured-content", 0), "structured-content/0", "structured", "paid"),
    ):
        manifest = manifests[(kind, namespace)]
        identifier = f"enwiki_namespace_{namespace}"
        records = list(
            iter_snapshot_records(object_store, identifier=identifier, date=DATE, tier=tier, kind=snapshot_kind)
        )
        rows = read_rows(tmp_path / "work" / directory)
        assert [row["identifier"] for row in rows] == [page_id for page_id, _ in records]
        assert manifest.rows == len(records)
        assert_round_trip(rows, records, kind)
        # ... and the manifest says which snapshot, down to the bytes of its manifest and archive.
        published = snapshots["structured" if kind == "structured-content" else f"article {namespace}"]
        manifest_key = snapshot_key(DATE, identifier, tier, "manifest", kind=snapshot_kind)
        stored = object_store.read_bytes(object_store.key(manifest_key))
        source = manifest.source
        assert source is not None
        assert (source.manifest_key, source.tier, source.kind, source.date) == (manifest_key, tier, snapshot_kind, DATE)
        assert source.manifest_sha256 == hashlib.sha256(stored).hexdigest()
        assert source.archive_key == snapshot_key(DATE, identifier, tier, kind=snapshot_kind)
        assert source.archive_sha256 == published.manifest.archive.sha256
        assert source.record_count == published.manifest.record_count == manifest.rows
        assert read_parquet_manifest(object_store, DATE, identifier, kind) == manifest
    assert manifests[("article", 0)].rows == len(real_articles()["enwiki"])
    assert manifests[("article", 14)].rows == 0
    assert manifests[("structured-content", 0)].rows == len(enterprise_structured_contents()["enwiki"])
    key = parquet_manifest_key(DATE, "enwiki_namespace_0", "structured-content")
    assert key == f"parquet/structured-contents/{DATE}/enwiki_namespace_0.parquet-manifest.json"
    manifest = ParquetManifest.from_json(object_store.read_bytes(object_store.key(key)))
    stored = json.loads(manifest.to_json())
    assert stored["files"][0]["key"].startswith("parquet/structured-contents/")
    assert stored["source"]["kind"] == "structured"

    summary = parquet_summary(object_store, results)
    assert summary.mismatched == {} and summary.skipped == {}
    assert summary.rows == {"enwiki_namespace_0": 5, "enwiki_namespace_14": 0, "enwiki_namespace_0 (structured)": 2}
    assert summary.sources["enwiki_namespace_0"].endswith(snapshot_key(DATE, "enwiki_namespace_0", "free", "manifest"))

    # The same snapshot gives the same shards, byte for byte, and the same manifests.
    again = export_parquet(
        object_store,
        "enwiki",
        DATE,
        namespaces=(0, 14),
        kinds=("article", "structured-content"),
        work_dir=tmp_path / "again",
        max_rows=2,
    )
    assert [m for m, _ in again] == [m for m, _ in results]


def test_export_parquet_reads_the_tier_asked_for(object_store, tmp_path):
    publish_day(object_store, tmp_path, structured=False)
    with pytest.raises(SnapshotNotFoundError, match="enwiki_namespace_0.manifest.json"):
        export_parquet(object_store, "enwiki", DATE, tier="paid", namespaces=(0,), work_dir=tmp_path / "work")
    assert parquet_keys(object_store) == []


def test_a_missing_structured_snapshot_skips_structured_parquet_with_a_reason(object_store, tmp_path, caplog):
    publish_day(object_store, tmp_path, structured=False)
    lines = []
    with caplog.at_level(logging.WARNING, logger="wme_assets.publishing.parquet"):
        results = export_parquet(
            object_store,
            "enwiki",
            DATE,
            namespaces=(0,),
            kinds=("article", "structured-content"),
            work_dir=tmp_path / "work",
            log_line=lines.append,
        )
    assert [(m.kind, m.namespace) for m, _ in results] == [("article", 0)]
    reason = results.skipped["enwiki_namespace_0 (structured-content)"]
    assert "no Structured Contents snapshot published for 20250203" in reason
    assert "structured-snapshots/20250203/enwiki_namespace_0.manifest.json" in reason
    assert any("skipped" in line and reason in line for line in lines)
    assert reason in caplog.text
    assert list_parquet_manifests(object_store, DATE, "structured-content") == []
    assert [m.identifier for m in list_parquet_manifests(object_store, DATE)] == ["enwiki_namespace_0"]


@pytest.mark.parametrize("tamper", ["same size and recorded sha256", "openly replaced"])
def test_a_tampered_snapshot_fails_the_export_naming_it_and_publishes_nothing(object_store, tmp_path, tamper):
    from wme_assets.snapshots.publish import snapshot_key
    from wme_assets.snapshots.read import SnapshotMismatchError, SnapshotRefusedError

    snapshots = publish_day(object_store, tmp_path, structured=False)
    key = object_store.key(snapshot_key(DATE, "enwiki_namespace_0", "free"))
    data = bytearray(object_store.read_bytes(key))
    if tamper == "openly replaced":
        object_store.put_bytes(key, bytes(data[:-1]))
        expected = SnapshotRefusedError
    else:
        # A byte in the middle of the archive, its size and the SHA-256 in its metadata unchanged: only the
        # re-hash of the stream sees it.
        data[len(data) // 2] ^= 0xFF
        sha256 = snapshots["article 0"].manifest.archive.sha256
        object_store.client.put_object(
            Bucket=object_store.bucket, Key=key, Body=bytes(data), Metadata={"sha256": sha256}
        )
        expected = SnapshotMismatchError
    with pytest.raises(expected) as failed:
        export_parquet(object_store, "enwiki", DATE, namespaces=(0,), work_dir=tmp_path / "work", max_rows=1)
    assert snapshot_key(DATE, "enwiki_namespace_0", "free") in str(failed.value)
    assert parquet_keys(object_store) == []  # no shard, no manifest
    assert not list((tmp_path / "work").rglob("*.parquet"))
