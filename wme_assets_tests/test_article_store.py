"""Tests of the article store (a base plus hourly deltas, compacted) against the real SeaweedFS.

Article payloads are real Wikimedia Enterprise records (``wme-articles``, ``wme-sdk-testdata``), and for
the larger merge test, article lines built from the real bnwiki dump fixture. A "newer revision" is a
real record with its revision id and modification time moved on. Synthetic rows only where the input is
meant to be bad.
"""

from __future__ import annotations

import copy
import hashlib
import json
import lzma
import random
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from wme_assets.ingestion.dump_xml import iter_pages
from wme_assets.settings import ConfigurationError
from wme_assets.storage.article_store import (
    ARTICLE_SCHEMA,
    BASE_FORMAT,
    SCHEMA_FINGERPRINT,
    ArticleStoreNotFound,
    ArticleStoreWriter,
    article_hash,
    base_prefix,
    compact,
    current_key,
    delta_prefix,
    iter_current_articles,
    iter_current_batches,
    publish_base,
    publish_delta,
    read_current,
    state_as_of,
)
from wme_assets.storage.object_store import ObjectStoreError
from wme_assets.storage.parquet_dataset import MANIFEST_NAME, read_manifest
from wme_assets_tests.paths import FIXTURES

BNWIKI = FIXTURES / "xztextfilter-truncated-dumps" / "bnwiki-truncated-100k.xml.xz"
BASE_DATE = "20250201"  # the first dumps run after the enwiki records' newest edit (2025-01-30)

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"fixtures not found at {FIXTURES}")


# --------------------------------------------------------------------------------------------------
# Real records
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def records() -> list[dict]:
    """The 12 Enterprise article records plus the 3 of the SDK's test data, as parsed JSON."""
    found = [json.loads(lzma.open(path).read()) for path in sorted((FIXTURES / "wme-articles").glob("*/*.json.xz"))]
    ndjson = FIXTURES / "wme-sdk-testdata" / "testdata" / "articles.ndjson"
    found += [json.loads(line) for line in ndjson.read_bytes().splitlines() if line.strip()]
    assert len(found) == 15
    return found


@pytest.fixture(scope="module")
def enwiki(records) -> list[dict]:
    """enwiki's records (Albert Einstein, Angela Merkel, Josephine Baker, United States, Squirrel), by id."""
    chosen = sorted((r for r in records if r["is_part_of"]["identifier"] == "enwiki"), key=lambda r: r["identifier"])
    assert [r["identifier"] for r in chosen] == [736, 28492, 72671, 255083, 3434750]
    return chosen


def line(record: dict) -> bytes:
    return orjson.dumps(record)


def add_record(writer: ArticleStoreWriter, record: dict) -> None:
    writer.add(
        record["identifier"],
        record["namespace"]["identifier"],
        record["name"],
        record["version"]["identifier"],
        record["date_modified"],
        line(record),
        is_disambiguation=record["name"] == "Squirrel",  # the SDK's Squirrel pages are disambiguations
    )


def newer_revision(record: dict, step: int = 1) -> dict:
    """The record as a later edit would leave it: next revision id, later date, changed abstract."""
    newer = copy.deepcopy(record)
    newer["version"]["identifier"] += step
    modified = datetime.fromisoformat(record["date_modified"]) + timedelta(hours=step)
    newer["date_modified"] = modified.strftime("%Y-%m-%dT%H:%M:%SZ")
    newer["abstract"] = f"{record.get('abstract', '')} (edit {step})"
    return newer


def write_store(
    out_dir: Path,
    records: list[dict] = (),
    deletes: list[tuple[int, int, int | None]] = (),
    *,
    project: str = "enwiki",
    source: str = f"dump:{BASE_DATE}",
    **options,
) -> Path:
    with ArticleStoreWriter(out_dir, project=project, source=source, run_id="test-run", **options) as writer:
        for record in records:
            add_record(writer, record)
        for page_id, namespace, revision_id in deletes:
            writer.delete(page_id, namespace, revision_id)
    return out_dir


def view(store, tmp_path, project="enwiki", **kwargs) -> list[tuple[int, bytes]]:
    return list(iter_current_articles(store, project, cache_dir=tmp_path / "cache", **kwargs))


def expected(records: list[dict]) -> list[tuple[int, bytes]]:
    return sorted((r["identifier"], line(r)) for r in records)


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


def test_writer_files_rows_and_summary(tmp_path, records):
    ordered = sorted(records, key=lambda r: r["identifier"])
    out = write_store(tmp_path / "w", ordered, project="enwiki", rows_per_batch=2, rows_per_file=5)
    files = sorted(out.glob("part-*.parquet"))
    assert [pq.read_metadata(f).num_rows for f in files] == [5, 5, 5]
    for f in files:
        meta = pq.read_metadata(f)
        assert all(meta.row_group(i).num_rows <= 2 for i in range(meta.num_row_groups))
        schema = pq.read_schema(f)
        assert schema.equals(ARTICLE_SCHEMA, check_metadata=False)
        assert schema.metadata[b"wme.article_store.fingerprint"].decode() == SCHEMA_FINGERPRINT
        assert meta.row_group(0).column(0).compression == "ZSTD"

    rows = pq.read_table(files).to_pylist()
    assert [r["page_id"] for r in rows] == [r["identifier"] for r in ordered]
    for row, record in zip(rows, ordered, strict=True):
        assert row["article"] == line(record)  # byte for byte what the export will write
        assert row["content_hash"] == "sha256:" + hashlib.sha256(line(record)).hexdigest()
        assert row["revision_id"] == record["version"]["identifier"]
        assert row["date_modified"] == datetime.fromisoformat(record["date_modified"])
        assert (row["name"], row["namespace"], row["op"]) == (record["name"], 0, "upsert")
        assert (row["project"], row["source"], row["run_id"]) == ("enwiki", f"dump:{BASE_DATE}", "test-run")
        assert row["structured"] is None
    assert [r["page_id"] for r in rows if r["is_disambiguation"]] == [28492, 1601033, 4042095]


def test_writer_summary_deletes_and_memory_bound(tmp_path, records):
    ordered = sorted(records, key=lambda r: r["identifier"])
    budget = 64 * 1024
    with ArticleStoreWriter(
        tmp_path / "w", project="enwiki", source="events:2025020100", run_id="r", batch_bytes=budget
    ) as writer:
        for record in ordered:
            add_record(writer, record)
        writer.delete(99, 0, 5)
        writer.add(7, 14, "Category:X", 8, datetime(2025, 2, 1), line(ordered[0]), structured='{"name":"X"}')
    summary = writer.close()
    sizes = [len(line(r)) for r in ordered]
    assert (summary.rows, summary.upserts, summary.deletes) == (17, 16, 1)
    assert summary.rows_per_namespace == {0: 16, 14: 1}
    assert summary.article_bytes == sum(sizes) + sizes[0]
    assert summary.structured_bytes == len('{"name":"X"}')
    assert summary.largest_article_bytes == max(sizes) > budget
    assert not summary.ascending  # ids went back down (a delta may do that; a base may not)
    # The byte budget holds except for an article larger than the budget on its own.
    assert summary.max_buffered_bytes <= max(budget, summary.largest_article_bytes)
    assert summary.to_dict()["rows_per_namespace"] == {"0": 16, "14": 1}


def test_writer_rejects_bad_rows(tmp_path, enwiki):
    good = line(enwiki[0])
    with ArticleStoreWriter(tmp_path / "w", project="enwiki", source="dump:x", run_id="r") as w:
        with pytest.raises(ValueError, match="several lines"):
            w.add(1, 0, "A", 1, "2025-01-01T00:00:00Z", b'{"a":\n1}')
        with pytest.raises(TypeError, match="bytes"):
            w.add(1, 0, "A", 1, "2025-01-01T00:00:00Z", '{"a":1}')
        with pytest.raises(ValueError, match="not a JSON object"):
            w.add(1, 0, "A", 1, "2025-01-01T00:00:00Z", b"[1]")
        with pytest.raises(ValueError, match="content_hash"):
            w.add(1, 0, "A", 1, "2025-01-01T00:00:00Z", good, "sha256:" + "0" * 64)
        with pytest.raises(ValueError, match="page_id"):
            w.add(True, 0, "A", 1, "2025-01-01T00:00:00Z", good)
        with pytest.raises(ValueError, match="page_id"):
            w.delete(0, 0)
        with pytest.raises(ValueError, match="name"):
            w.add(1, 0, "", 1, "2025-01-01T00:00:00Z", good)
        with pytest.raises(ValueError, match="ISO 8601"):
            w.add(1, 0, "A", 1, "yesterday", good)
        # A single trailing newline (an NDJSON line as read) is fine and not stored; the hash is the line's.
        w.add(1, 0, "A", 1, "2025-01-01T00:00:00Z", good + b"\n", article_hash(good))
    assert pq.read_table(tmp_path / "w").column("article").to_pylist() == [good]
    with pytest.raises(FileExistsError):
        ArticleStoreWriter(tmp_path / "w", project="enwiki", source="dump:x", run_id="r")
    with pytest.raises(ConfigurationError):
        ArticleStoreWriter(tmp_path / "x", project="../etc", source="dump:x", run_id="r")
    with (
        pytest.raises(RuntimeError, match="boom"),
        ArticleStoreWriter(tmp_path / "y", project="enwiki", source="dump:x", run_id="r", rows_per_batch=1) as w,
    ):
        add_record(w, enwiki[0])
        raise RuntimeError("boom")
    assert sorted(p.name for p in (tmp_path / "y").iterdir()) == []  # the unfinished file is removed


# --------------------------------------------------------------------------------------------------
# Base, deltas, compaction against SeaweedFS
# --------------------------------------------------------------------------------------------------


def test_base_publish_and_read_back_in_page_id_order(object_store, tmp_path, enwiki):
    shuffled = [enwiki[3], enwiki[0], enwiki[4], enwiki[1], enwiki[2]]
    with pytest.raises(ValueError, match="ascending"):
        publish_base(object_store, write_store(tmp_path / "unordered", shuffled), "enwiki", BASE_DATE)
    assert not object_store.exists(object_store.key(current_key("enwiki")))

    base = write_store(tmp_path / "base", enwiki, rows_per_batch=2, rows_per_file=3)
    published = publish_base(object_store, base, "enwiki", BASE_DATE)
    assert [o.key.rsplit("/", 1)[-1] for o in published.objects] == [
        "part-00000.parquet",
        "part-00001.parquet",
        MANIFEST_NAME,
    ]
    manifest = read_manifest(object_store, base_prefix("enwiki", BASE_DATE), format=BASE_FORMAT)
    assert manifest["rows"] == 5 and manifest["upserts"] == 5 and manifest["deletes"] == 0
    assert manifest["rows_per_namespace"] == {"0": 5}
    assert (manifest["min_page_id"], manifest["max_page_id"]) == (736, 3434750)
    assert manifest["deltas_after"] == "2025013123" and manifest["folded_deltas"] == []
    assert [(f["min_page_id"], f["max_page_id"]) for f in manifest["files"]] == [(736, 72671), (255083, 3434750)]

    state = read_current(object_store, "enwiki")
    assert (state.base, state.deltas) == (BASE_DATE, ())
    assert view(object_store, tmp_path) == expected(enwiki)
    assert view(object_store, tmp_path, namespace=0) == expected(enwiki)
    assert view(object_store, tmp_path, namespace=14) == []
    # Other columns, for consumers other than the export.
    batches = list(
        iter_current_batches(object_store, "enwiki", cache_dir=tmp_path / "cache", columns=["page_id", "revision_id"])
    )
    assert [b.schema.names for b in batches] == [["page_id", "revision_id"]] * len(batches)
    assert sum((b.to_pylist() for b in batches), []) == [
        {"page_id": r["identifier"], "revision_id": r["version"]["identifier"]} for r in enwiki
    ]


def test_deltas_upsert_delete_last_write_wins_and_compaction(object_store, tmp_path, enwiki):
    einstein, squirrel, merkel, baker, usa = enwiki
    publish_base(object_store, write_store(tmp_path / "base", enwiki), "enwiki", BASE_DATE)

    # Hour 1: Einstein edited, Merkel deleted.
    einstein_1 = newer_revision(einstein, 1)
    hour_1 = write_store(
        tmp_path / "d1",
        [einstein_1],
        [(merkel["identifier"], 0, merkel["version"]["identifier"])],
        source="events:2025020100",
    )
    result = publish_delta(object_store, hour_1, "enwiki", "2025020100")
    assert result.current.deltas == ("2025020100",)
    assert result.manifest["upserts"] == 1 and result.manifest["deletes"] == 1
    assert view(object_store, tmp_path) == expected([einstein_1, squirrel, baker, usa])

    # Hour 2: Einstein edited again, twice, written newest first: the higher revision wins in its hour.
    einstein_2, einstein_3 = newer_revision(einstein, 2), newer_revision(einstein, 3)
    hour_2 = write_store(tmp_path / "d2", [einstein_3, einstein_2], source="events:2025020101")
    publish_delta(object_store, hour_2, "enwiki", "2025020101")
    assert view(object_store, tmp_path) == expected([einstein_3, squirrel, baker, usa])

    # Hour 3: Merkel restored (undeletion brings its last revision back), the US article deleted
    # without a known revision.
    hour_3 = write_store(tmp_path / "d3", [merkel], [(usa["identifier"], 0, None)], source="events:2025020102")
    publish_delta(object_store, hour_3, "enwiki", "2025020102")
    before = view(object_store, tmp_path)
    assert before == expected([einstein_3, squirrel, merkel, baker])
    state = read_current(object_store, "enwiki")
    assert state.deltas == ("2025020100", "2025020101", "2025020102")

    new_base = compact(object_store, "enwiki", date="20250202", cache_dir=tmp_path / "cache", work_dir=tmp_path)
    assert (new_base.base, new_base.deltas) == ("20250202", ())
    assert new_base.folded_deltas == ("2025020100", "2025020101", "2025020102")
    assert new_base.deltas_after == "2025020102"
    assert new_base.base_manifest["compacted_from"] == BASE_DATE and new_base.base_manifest["rows"] == 4
    pointer = json.loads(object_store.read_bytes(object_store.key(current_key("enwiki"))))
    assert (pointer["base"], pointer["deltas"]) == ("20250202", [])
    assert view(object_store, tmp_path) == before
    # Provenance survives compaction: each row still says which dump or hour it came from.
    sources = {
        r["page_id"]: r["source"]
        for b in iter_current_batches(object_store, "enwiki", cache_dir=tmp_path / "c2", columns=["page_id", "source"])
        for r in b.to_pylist()
    }
    assert sources == {
        einstein["identifier"]: "events:2025020101",
        squirrel["identifier"]: f"dump:{BASE_DATE}",
        merkel["identifier"]: "events:2025020102",
        baker["identifier"]: f"dump:{BASE_DATE}",
    }
    # The old base stays until retention removes it.
    assert object_store.exists(object_store.key(base_prefix("enwiki", BASE_DATE), MANIFEST_NAME))

    # A folded hour cannot be applied again (it would undo the later edits folded with it).
    with pytest.raises(ValueError, match="folded"):
        publish_delta(object_store, hour_1, "enwiki", "2025020100")
    # A later hour applies on top of the compacted base.
    einstein_4 = newer_revision(einstein, 4)
    publish_delta(object_store, write_store(tmp_path / "d4", [einstein_4]), "enwiki", "2025020103")
    assert view(object_store, tmp_path) == expected([einstein_4, squirrel, merkel, baker])
    # Compacting into the current base's own date would overwrite what readers read: refused.
    with pytest.raises(ValueError, match="after the current base"):
        compact(object_store, "enwiki", date="20250202", cache_dir=tmp_path / "cache")


def test_later_hour_wins_over_higher_revision(object_store, tmp_path, enwiki):
    """Hours order the deltas; revision ids only order the changes inside one hour."""
    einstein = enwiki[0]
    publish_base(object_store, write_store(tmp_path / "base", enwiki), "enwiki", BASE_DATE)
    publish_delta(object_store, write_store(tmp_path / "d1", [newer_revision(einstein, 5)]), "enwiki", "2025020100")
    reverted = newer_revision(einstein, 2)  # a lower revision id in a later hour
    publish_delta(object_store, write_store(tmp_path / "d2", [reverted]), "enwiki", "2025020101")
    assert dict(view(object_store, tmp_path))[einstein["identifier"]] == line(reverted)
    # Delete and upsert of the same revision in one hour: the delete wins.
    publish_delta(
        object_store,
        write_store(tmp_path / "d3", [reverted], [(einstein["identifier"], 0, reverted["version"]["identifier"])]),
        "enwiki",
        "2025020102",
    )
    assert einstein["identifier"] not in dict(view(object_store, tmp_path))
    # The same revision twice in one hour (enrichment re-run with a fix): the row written last wins, also
    # across the delta's files.
    fixed = copy.deepcopy(reverted)
    fixed["abstract"] += " (re-enriched)"
    twice = write_store(tmp_path / "d4", [reverted, enwiki[1], fixed], rows_per_file=1)
    assert len(list(twice.glob("part-*.parquet"))) == 3
    publish_delta(object_store, twice, "enwiki", "2025020103")
    assert dict(view(object_store, tmp_path))[einstein["identifier"]] == line(fixed)


def test_crash_before_pointer_moves_leaves_previous_view(object_store, tmp_path, enwiki, monkeypatch):
    publish_base(object_store, write_store(tmp_path / "base", enwiki), "enwiki", BASE_DATE)
    before_state = read_current(object_store, "enwiki")
    before = view(object_store, tmp_path)

    real_put = object_store.put_bytes

    def crash_on_pointer(key, data, **kwargs):
        if key.endswith("/current.json"):
            raise ObjectStoreError("simulated crash before current.json is written")
        return real_put(key, data, **kwargs)

    monkeypatch.setattr(object_store, "put_bytes", crash_on_pointer)
    delta = write_store(tmp_path / "d1", [newer_revision(enwiki[0])], [(enwiki[1]["identifier"], 0, None)])
    with pytest.raises(ObjectStoreError, match="simulated crash"):
        publish_delta(object_store, delta, "enwiki", "2025020100")
    # The delta's files and manifest are in the store, but nothing points at them.
    assert object_store.exists(object_store.key(delta_prefix("enwiki", "2025020100"), MANIFEST_NAME))
    after_state = read_current(object_store, "enwiki")
    assert (after_state.base, after_state.deltas) == (before_state.base, before_state.deltas) == (BASE_DATE, ())
    assert view(object_store, tmp_path) == before

    # Compaction crashing at the same point leaves the view alone too.
    monkeypatch.setattr(object_store, "put_bytes", real_put)
    publish_delta(object_store, delta, "enwiki", "2025020100")  # the retry
    with_delta = view(object_store, tmp_path)
    assert with_delta == expected([newer_revision(enwiki[0]), *enwiki[2:]])
    monkeypatch.setattr(object_store, "put_bytes", crash_on_pointer)
    with pytest.raises(ObjectStoreError):
        compact(object_store, "enwiki", date="20250202", cache_dir=tmp_path / "cache")
    assert read_current(object_store, "enwiki").deltas == ("2025020100",)
    assert view(object_store, tmp_path) == with_delta
    monkeypatch.setattr(object_store, "put_bytes", real_put)
    assert compact(object_store, "enwiki", date="20250202", cache_dir=tmp_path / "cache").deltas == ()
    assert view(object_store, tmp_path) == with_delta


def test_idempotent_republish(object_store, tmp_path, enwiki):
    base = write_store(tmp_path / "base", enwiki, rows_per_file=2)
    publish_base(object_store, base, "enwiki", BASE_DATE)
    delta = write_store(tmp_path / "d1", [newer_revision(enwiki[2])])
    publish_delta(object_store, delta, "enwiki", "2025020100")
    first = view(object_store, tmp_path)

    again = publish_delta(object_store, delta, "enwiki", "2025020100")
    assert again.current.deltas == ("2025020100",)
    # The same dump base again keeps the deltas after its date.
    assert publish_base(object_store, base, "enwiki", BASE_DATE).current.deltas == ("2025020100",)
    assert view(object_store, tmp_path) == first

    # Republishing with fewer files removes the extra ones.
    publish_base(object_store, write_store(tmp_path / "one-file", enwiki), "enwiki", BASE_DATE)
    names = sorted(
        info.key.rsplit("/", 1)[-1]
        for info in object_store.list(object_store.key(base_prefix("enwiki", BASE_DATE)) + "/")
    )
    assert names == [MANIFEST_NAME, "part-00000.parquet"]
    assert view(object_store, tmp_path) == first


def test_new_dump_base_keeps_the_changes_after_its_date(object_store, tmp_path, enwiki):
    einstein, squirrel, merkel, baker, usa = enwiki
    publish_base(object_store, write_store(tmp_path / "base", enwiki), "enwiki", BASE_DATE)
    hours = {"2025020123": [newer_revision(baker, 1)], "2025020200": [newer_revision(einstein, 1)]}
    hours["2025020201"] = [newer_revision(einstein, 2)]
    for hour, changed in hours.items():
        publish_delta(object_store, write_store(tmp_path / hour, changed), "enwiki", hour)
    # Fold the first two hours only; the third stays a delta.
    state = compact(object_store, "enwiki", date="20250202", cache_dir=tmp_path / "cache", through_hour="2025020200")
    assert state.deltas == ("2025020201",) and state.folded_deltas == ("2025020123", "2025020200")

    # The next dump (dated 2025-02-02) already has Baker's edit; Einstein's are after it and stay applied,
    # the folded one included.
    dump = [einstein, squirrel, merkel, newer_revision(baker, 1), usa]
    published = publish_base(object_store, write_store(tmp_path / "dump2", dump), "enwiki", "20250202")
    assert published.current.deltas == ("2025020200", "2025020201")
    assert published.current.folded_deltas == ()
    assert view(object_store, tmp_path) == expected([newer_revision(einstein, 2), squirrel, merkel, *dump[3:]])

    # A backfill of the older dump is published beside it; the current view does not roll back, and a
    # snapshot of that older day reads it.
    before = view(object_store, tmp_path)
    older = publish_base(object_store, write_store(tmp_path / "old", enwiki), "enwiki", BASE_DATE)
    assert older.current.base == "20250202" and view(object_store, tmp_path) == before
    assert state_as_of(object_store, "enwiki", BASE_DATE).base == BASE_DATE
    assert state_as_of(object_store, "enwiki", "20250202").base == "20250202"


def test_bad_publishes_are_refused(object_store, tmp_path, enwiki, records):
    delta = write_store(tmp_path / "d", [newer_revision(enwiki[0])])
    with pytest.raises(ArticleStoreNotFound, match="publish a base first"):
        publish_delta(object_store, delta, "enwiki", "2025020100")
    with pytest.raises(ArticleStoreNotFound):
        read_current(object_store, "enwiki")
    with_delete = write_store(tmp_path / "b", enwiki, [(9_999_999, 0, None)])
    with pytest.raises(ValueError, match="deletes: 1"):
        publish_base(object_store, with_delete, "enwiki", BASE_DATE)
    frwiki = sorted((r for r in records if r["is_part_of"]["identifier"] == "frwiki"), key=lambda r: r["identifier"])
    with pytest.raises(ValueError, match="holds articles of frwiki"):
        publish_base(object_store, write_store(tmp_path / "fr", frwiki, project="frwiki"), "enwiki", BASE_DATE)
    with pytest.raises(ValueError, match="YYYYMMDD"):
        publish_base(object_store, write_store(tmp_path / "ok", enwiki), "enwiki", "2025-02-01")

    publish_base(object_store, tmp_path / "ok", "enwiki", BASE_DATE)
    with pytest.raises(ValueError, match="YYYYMMDDHH"):
        publish_delta(object_store, delta, "enwiki", "20250201")
    with pytest.raises(ValueError, match="is not after base"):
        publish_delta(object_store, delta, "enwiki", "2025013123")  # before the dump
    for hour in ("2025020100", "2025020103"):  # two hours missing in between
        publish_delta(object_store, write_store(tmp_path / hour, [newer_revision(enwiki[0])]), "enwiki", hour)
    with pytest.raises(ValueError, match="2025020101, 2025020102 are missing"):
        compact(object_store, "enwiki", date="20250202", cache_dir=tmp_path / "cache")
    state = compact(object_store, "enwiki", date="20250202", cache_dir=tmp_path / "cache", allow_gaps=True)
    assert state.folded_deltas == ("2025020100", "2025020103")
    # Nothing to fold: nothing written, the state stays.
    assert compact(object_store, "enwiki", date="20250203", cache_dir=tmp_path / "cache") == state
    assert not object_store.exists(object_store.key(base_prefix("enwiki", "20250203"), MANIFEST_NAME))


def test_empty_hour_is_a_delta(object_store, tmp_path, enwiki):
    publish_base(object_store, write_store(tmp_path / "base", enwiki), "enwiki", BASE_DATE)
    result = publish_delta(object_store, write_store(tmp_path / "empty"), "enwiki", "2025020100")
    assert result.manifest["rows"] == 0 and result.manifest["files"] == []
    assert view(object_store, tmp_path) == expected(enwiki)
    assert compact(object_store, "enwiki", date="20250202", cache_dir=tmp_path / "cache").deltas == ()
    assert view(object_store, tmp_path) == expected(enwiki)


# --------------------------------------------------------------------------------------------------
# The merge on a real wiki's pages, against a plain model of the rules
# --------------------------------------------------------------------------------------------------


def page_article(page, *, revision_id=None, namespace=None, note="") -> dict:
    """An article record for a real dump page (what enrichment would produce, cut down)."""
    rev = page.latest
    return {
        "name": page.title,
        "identifier": page.id,
        "date_modified": rev.timestamp,
        "version": {"identifier": revision_id or rev.id},
        "namespace": {"identifier": page.ns if namespace is None else namespace},
        "is_part_of": {"identifier": "bnwiki"},
        "article_body": {"wikitext": (rev.text or "") + note},
    }


@pytest.fixture(scope="module")
def bnwiki_pages():
    return list(iter_pages(BNWIKI, name=BNWIKI.name, keep_partial=True))


def test_merge_matches_the_rules_on_bnwiki(object_store, tmp_path, bnwiki_pages):
    rng = random.Random(20230501)
    pages = sorted(bnwiki_pages, key=lambda p: p.id)
    assert len(pages) == 722
    base_records = [page_article(p) for p in pages]
    options = {"rows_per_batch": 37, "rows_per_file": 200}
    publish_base(
        object_store, write_store(tmp_path / "base", base_records, project="bnwiki", **options), "bnwiki", "20230501"
    )
    model = {r["identifier"]: r for r in base_records}  # page id -> current record

    ids = [p.id for p in pages]
    free_ids = sorted(set(range(1, ids[-1])) - set(ids))
    by_id = {p.id: p for p in pages}
    hours = ["2023050100", "2023050101", "2023050102", "2023050103"]
    step = 0
    for hour_index, hour in enumerate(hours):
        changes = []  # (kind, record or (page_id, namespace, revision_id)) in the order written
        if hour_index == 2:
            pass  # an hour without changes
        else:
            for page_id in rng.sample(ids, 60):
                step += 1
                page = by_id[page_id]
                namespace = 2 if rng.random() < 0.1 else None  # some pages move namespace
                record = page_article(page, revision_id=page.latest.id + step, namespace=namespace, note=f" e{step}")
                changes.append(("upsert", record))
                if rng.random() < 0.2:  # an older edit of the same hour, written after the newer one
                    changes.append(("upsert", page_article(page, revision_id=page.latest.id + step - 1)))
            for page_id in rng.sample(ids, 25):
                revision = None if rng.random() < 0.5 else by_id[page_id].latest.id + 10_000
                changes.append(("delete", (page_id, by_id[page_id].ns, revision)))
            for page_id in rng.sample(free_ids, 5) + [ids[-1] + 1 + hour_index]:  # created pages
                step += 1
                record = page_article(pages[0], note=f" new {step}")
                record["identifier"], record["name"] = page_id, f"নতুন {page_id}"
                record["version"]["identifier"] = 10_000_000 + step
                changes.append(("upsert", record))
        rng.shuffle(changes)
        with ArticleStoreWriter(
            tmp_path / hour, project="bnwiki", source=f"events:{hour}", run_id="r", rows_per_batch=11
        ) as writer:
            for kind, change in changes:
                if kind == "upsert":
                    add_record(writer, change)
                else:
                    writer.delete(*change)
        publish_delta(object_store, tmp_path / hour, "bnwiki", hour)

        # The model: inside the hour the highest revision wins (no revision = newest), a delete wins a tie,
        # then the later write.
        winners: dict[int, tuple] = {}
        for position, (kind, change) in enumerate(changes):
            if kind == "upsert":
                page_id, revision = change["identifier"], change["version"]["identifier"]
            else:
                page_id, _, revision = change
            key = (revision if revision is not None else 2**63 - 1, kind == "delete", position)
            if page_id not in winners or key > winners[page_id][0]:
                winners[page_id] = (key, kind, change)
        for page_id, (_, kind, change) in winners.items():
            if kind == "delete":
                model.pop(page_id, None)
            else:
                model[page_id] = change

    def model_view(namespace=None):
        return sorted(
            (page_id, line(record))
            for page_id, record in model.items()
            if namespace is None or record["namespace"]["identifier"] == namespace
        )

    namespaces = sorted(Counter(r["namespace"]["identifier"] for r in model.values()))
    assert 2 in namespaces and len(namespaces) > 3

    def check(label):
        got = view(object_store, tmp_path, "bnwiki", batch_rows=13)
        assert [p for p, _ in got] == sorted(p for p, _ in got), label  # ordered by page id
        assert got == model_view(), label
        for namespace in namespaces:
            assert view(object_store, tmp_path, "bnwiki", namespace=namespace, batch_rows=13) == model_view(
                namespace
            ), (label, namespace)

    check("base + 4 deltas")
    state = compact(object_store, "bnwiki", date="20230502", cache_dir=tmp_path / "cache", rows_per_batch=50)
    assert state.deltas == () and state.folded_deltas == tuple(hours)
    assert state.base_manifest["rows"] == len(model) and state.base_manifest["deletes"] == 0
    check("compacted")
