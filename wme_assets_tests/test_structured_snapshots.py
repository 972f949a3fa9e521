"""Structured Contents snapshots on the real SeaweedFS S3 server, from real Wikimedia data.

The article store comes from the real bnwiki dump fixture, ingested and enriched by wme (380 articles of
namespace 0, each with the Structured Contents wme builds, and articles of namespaces 10 and 14, which have
none), once per module and copied into each test's own prefix. A second, small store holds the real
Enterprise articles of enwiki with real Structured Contents (Enterprise's own and wme's), one of them
without. Faults are injected around the real store (a subclass that rewrites an object after copying it to
its published key) or into the published bytes themselves; nothing is mocked.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import dagster as dg
import orjson
import pyarrow.compute as pc
import pytest

from wme_assets.schema.validate import record_validator
from wme_assets.snapshots.manifest import RECORD_SCHEMAS, SnapshotManifest
from wme_assets.snapshots.publish import (
    SnapshotVerificationError,
    apply_retention,
    chunks_listing_key,
    latest_key,
    read_latest,
    snapshot_key,
    snapshots_listing_key,
    verify_published,
)
from wme_assets.snapshots.run import export_snapshots, export_structured_snapshot
from wme_assets.storage.article_store import ArticleStoreWriter, iter_current_batches, publish_base
from wme_assets.storage.object_store import ObjectStore
from wme_assets_tests import partitions
from wme_assets_tests.paths import DUMP_DATE
from wme_assets_tests.records import (
    enterprise_structured_contents,
    real_articles,
    wme_structured_contents,
)
from wme_assets_tests.servers import new_test_store, same_store

pytestmark = pytest.mark.integration

PROJECT = "bnwiki"
ID = "bnwiki_namespace_0"
D1, D2, D3 = "20230502", "20230503", "20230504"  # snapshot days after the dump of 20230501
MEMBER_BYTES = 1_000_000  # small members, so the 380 records make several chunks
VALIDATORS = {kind: record_validator(schema) for kind, schema in RECORD_SCHEMAS.items()}
QUIET = {"log": lambda _: None}


@pytest.fixture(scope="module")
def enriched_bnwiki(seaweedfs, dumps_mirror) -> ObjectStore:
    """The bnwiki article store, from the real dump through wme's own download, ingestion and enrichment."""
    from wme_assets.enrichment.run import enrich_pages
    from wme_assets.ingestion.download import download_run
    from wme_assets.ingestion.run import ingest_pages
    from wme_assets.sources.dumps_client import DumpsClient

    store = new_test_store(seaweedfs)
    client = DumpsClient(dumps_mirror.as_uri())
    status = client.fetch_status_bytes(PROJECT, DUMP_DATE)
    store.put_bytes(store.key(f"raw/{PROJECT}/{DUMP_DATE}/dumpstatus.json"), status)
    download_run(client, store, PROJECT, DUMP_DATE)
    ingest_pages(store, PROJECT, DUMP_DATE, workers=1, **QUIET)
    enrich_pages(store, PROJECT, DUMP_DATE, run_id="structured-tests", workers=1, **QUIET)
    return store


@pytest.fixture
def bnwiki(enriched_bnwiki, object_store) -> ObjectStore:
    """This test's own store holding a copy of the enriched bnwiki article store (server-side copies)."""
    source = enriched_bnwiki
    for info in source.list(source.key("articles", PROJECT) + "/"):
        object_store.copy_object(info.key, object_store.prefix + info.key[len(source.prefix) :])
    return object_store


def keys_under(store: ObjectStore) -> set[str]:
    return {info.key[len(store.prefix) :] for info in store.list(store.prefix)}


def store_structured(store: ObjectStore, tmp_path: Path) -> tuple[dict[int, bytes], dict[int, int]]:
    """Read independently of the export: namespace 0's Structured Contents (page id → line), and the
    Structured Contents values per namespace."""
    lines: dict[int, bytes] = {}
    per_namespace: dict[int, int] = {}
    batches = iter_current_batches(
        store, PROJECT, cache_dir=tmp_path / "check-cache", columns=["page_id", "namespace", "structured"]
    )
    for batch in batches:
        present = batch.filter(pc.is_valid(batch.column("structured")))
        for page_id, namespace, text in zip(*(present.column(i).to_pylist() for i in range(3)), strict=True):
            per_namespace[namespace] = per_namespace.get(namespace, 0) + 1
            if namespace == 0:
                lines[page_id] = text.encode()
    return lines, per_namespace


def archive_members(data: bytes) -> dict[str, list[bytes]]:
    """Member name → its NDJSON lines, read with the standard library."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {info.name: tar.extractfile(info).read().splitlines() for info in tar.getmembers()}


def test_layout_keys_records_and_verification(bnwiki, tmp_path):
    result = export_structured_snapshot(bnwiki, PROJECT, D1, max_member_bytes=MEMBER_BYTES, work_dir=tmp_path, **QUIET)
    (snapshot,) = result.namespaces
    assert result.kind == "structured" and result.tier == "paid" and snapshot.problems == []
    assert snapshot.identifier == ID and snapshot.chunks > 1
    published = snapshot.published
    assert published.kind == "structured" and published.previous_date is None

    chunks = {
        f"structured-chunks/{D1}/{ID}/chunk_{n}.{ext}" for n in range(snapshot.chunks) for ext in ("tar.gz", "json")
    }
    assert keys_under(bnwiki) - {k for k in keys_under(bnwiki) if k.startswith("articles/")} == chunks | {
        f"structured-snapshots/{D1}/{ID}.tar.gz",
        f"structured-snapshots/{D1}/{ID}.json",
        f"structured-snapshots/{D1}/{ID}.manifest.json",
        f"structured-snapshots/latest/{ID}.json",
        "aggregations/structured-snapshots/structured-snapshots.ndjson",
        f"aggregations/structured-chunks/{ID}/structured-chunks.ndjson",
    }
    assert snapshot_key(D1, ID, "paid", "manifest", kind="structured") == published.manifest_key
    assert latest_key(ID, "paid", kind="structured") == published.pointer_key

    manifest = SnapshotManifest.from_json(bnwiki.read_bytes(bnwiki.key(published.manifest_key)))
    assert manifest.kind == "structured"
    assert manifest.content.record_schema == "structured-content-1.0.0"
    assert (manifest.published.tier, manifest.published.date, manifest.inputs.dump_date) == ("paid", D1, DUMP_DATE)
    pointer = read_latest(bnwiki, ID, kind="structured")
    assert pointer.date == D1 and pointer.manifest.key == published.manifest_key
    assert read_latest(bnwiki, ID) is None  # no article snapshot was made
    listing = orjson.loads(bnwiki.read_bytes(bnwiki.key(snapshots_listing_key("paid", kind="structured"))))
    assert listing == pointer.snapshot and listing["in_language"] == {"identifier": "bn"}
    chunk_listing = bnwiki.read_bytes(bnwiki.key(chunks_listing_key(ID, "paid", kind="structured"))).split(b"\n")
    assert len(chunk_listing) == snapshot.chunks

    # The records: the store's Structured Contents of namespace 0, byte for byte, in page id order, each
    # valid; the other namespaces carry none, and none is lost or added.
    expected, per_namespace = store_structured(bnwiki, tmp_path)
    assert per_namespace == {0: 380}
    assert result.expected_records == {0: 380} and snapshot.records == 380 == manifest.record_count
    members = archive_members(bnwiki.read_bytes(bnwiki.key(manifest.archive.key)))
    assert list(members) == [f"{ID}_{n}.ndjson" for n in range(snapshot.chunks)]
    lines = [line for member in members.values() for line in member]
    assert lines == [expected[page_id] for page_id in sorted(expected)]
    validate = record_validator("structured-content")
    for line in lines:
        validate(orjson.loads(line))
    assert pointer.record_count == len(lines)

    # Verification resolves every form of a structured target (the kind's own folders), deep and quick.
    assert verify_published(bnwiki, bnwiki.uri(bnwiki.key(published.manifest_key)), validators=VALIDATORS) == []
    assert verify_published(bnwiki, published.pointer_key, validators=VALIDATORS) == []
    assert verify_published(bnwiki, f"structured-snapshots/{D1}/", validators=VALIDATORS) == []
    assert verify_published(bnwiki, f"structured-chunks/{D1}/{ID}/chunk_1.tar.gz", deep=False) == []
    assert verify_published(bnwiki, f"snapshots/{D1}/") == [f"snapshots/{D1}/: no snapshot manifest found"]


def test_only_namespace_0_records_with_structured_contents(object_store, tmp_path):
    """Real enwiki articles: one without Structured Contents is left out, and a value outside namespace 0
    (enrichment never writes one; here a real record filed under namespace 14) is not exported."""
    articles = real_articles()["enwiki"]
    structured = dict(wme_structured_contents()["enwiki"]) | dict(enterprise_structured_contents()["enwiki"])
    without = 3434750
    outside = dict(wme_structured_contents()["enwikiversity"])  # page 65868, wme's Structured Contents of it
    ((other_id, other_line),) = real_articles()["enwikiversity"]
    with ArticleStoreWriter(tmp_path / "base", project="enwiki", source="dump:x", run_id="t") as writer:
        for page_id, line in sorted([*articles, (other_id, other_line)]):
            record = orjson.loads(line)
            namespace = 14 if page_id == other_id else 0
            value = outside[page_id] if page_id == other_id else (None if page_id == without else structured[page_id])
            writer.add(
                page_id,
                namespace,
                record["name"],
                record["version"]["identifier"],
                record["date_modified"],
                line,
                structured=value,
            )
    publish_base(object_store, tmp_path / "base", "enwiki", "20250101")

    result = export_structured_snapshot(object_store, "enwiki", "20250102", work_dir=tmp_path, **QUIET)
    (snapshot,) = result.namespaces
    assert snapshot.problems == [] and snapshot.published is not None
    assert result.expected_records == {0: 4} and snapshot.records == 4  # 5 articles in namespace 0, 4 with
    members = archive_members(object_store.read_bytes(object_store.key(snapshot.published.manifest.archive.key)))
    ids = [orjson.loads(line)["identifier"] for lines in members.values() for line in lines]
    assert ids == sorted(set(structured) - {without, 7954681})  # 7954681: Enterprise's, not an article here
    assert verify_published(object_store, snapshot.published.pointer_key, validators=VALIDATORS) == []


def test_a_line_that_breaks_the_schema_blocks_publishing(object_store, tmp_path):
    articles = real_articles()["enwiki"]
    structured = dict(wme_structured_contents()["enwiki"]) | dict(enterprise_structured_contents()["enwiki"])
    broken = orjson.loads(structured[28492])
    broken["sections"] = "not a list of parts"  # bad input: the Structured Contents schema wants an array
    structured[28492] = orjson.dumps(broken)
    with ArticleStoreWriter(tmp_path / "base", project="enwiki", source="dump:x", run_id="t") as writer:
        for page_id, line in articles:
            record = orjson.loads(line)
            writer.add(
                page_id,
                0,
                record["name"],
                record["version"]["identifier"],
                record["date_modified"],
                line,
                structured=structured[page_id],
            )
    publish_base(object_store, tmp_path / "base", "enwiki", "20250101")

    result = export_structured_snapshot(object_store, "enwiki", "20250102", work_dir=tmp_path, **QUIET)
    (snapshot,) = result.namespaces
    assert snapshot.published is None
    assert any("page 28492" in p and "sections" in p for p in snapshot.problems), snapshot.problems
    assert read_latest(object_store, "enwiki_namespace_0", kind="structured") is None
    assert not [
        key for key in keys_under(object_store) if key.startswith(("structured-snapshots/2", "structured-chunks/"))
    ]
    # The article snapshot of the same store does not care: its lines are articles.
    articles_result = export_snapshots(object_store, "enwiki", "20250102", namespaces=(0,), work_dir=tmp_path, **QUIET)
    assert articles_result.namespaces[0].published is not None


def test_a_rerun_gives_the_same_bytes(bnwiki, seaweedfs, tmp_path):
    first = export_structured_snapshot(bnwiki, PROJECT, D1, max_member_bytes=MEMBER_BYTES, work_dir=tmp_path, **QUIET)
    again = export_structured_snapshot(bnwiki, PROJECT, D1, max_member_bytes=MEMBER_BYTES, work_dir=tmp_path, **QUIET)
    assert again.namespaces[0].published.uploaded == []  # everything already in place, byte for byte

    # From scratch in another store: the archive and every chunk are the same bytes.
    other = new_test_store(seaweedfs)
    for info in bnwiki.list(bnwiki.key("articles", PROJECT) + "/"):
        other.copy_object(info.key, other.prefix + info.key[len(bnwiki.prefix) :])
    elsewhere = export_structured_snapshot(
        other, PROJECT, D1, max_member_bytes=MEMBER_BYTES, work_dir=tmp_path, **QUIET
    )
    files = [first.namespaces[0].published.manifest.archive, *first.namespaces[0].published.manifest.chunks]
    for entry in files:
        assert other.head(other.key(entry.key)).sha256 == bnwiki.head(bnwiki.key(entry.key)).sha256 == entry.sha256
    assert elsewhere.namespaces[0].published.manifest.archive.sha256 == files[0].sha256


def tamper_member(data: bytes, index: int) -> tuple[bytes, str]:
    """The archive with one record of member ``index`` broken (valid JSON, not valid Structured Contents)."""
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as source,
        tarfile.open(fileobj=out, mode="w:gz", format=tarfile.PAX_FORMAT) as target,
    ):
        for position, info in enumerate(source.getmembers()):
            body = source.extractfile(info).read()
            if position == index:
                name = info.name
                lines = body.split(b"\n")
                record = orjson.loads(lines[0])
                record["sections"] = "tampered"
                lines[0] = orjson.dumps(record)
                body = b"\n".join(lines)
                info.size = len(body)
            target.addfile(info, io.BytesIO(body))
    return out.getvalue(), name


def test_verify_names_a_tampered_member(bnwiki, tmp_path):
    result = export_structured_snapshot(bnwiki, PROJECT, D1, max_member_bytes=MEMBER_BYTES, work_dir=tmp_path, **QUIET)
    manifest = result.namespaces[0].published.manifest
    archive = manifest.archive.key
    tampered, member = tamper_member(bnwiki.read_bytes(bnwiki.key(archive)), 1)
    bnwiki.put_bytes(bnwiki.key(archive), tampered)

    problems = verify_published(bnwiki, latest_key(ID, "paid", kind="structured"), validators=VALIDATORS)
    assert member == f"{ID}_1.ndjson"
    named = [p for p in problems if p.startswith(f"{archive} member {member}:")]
    assert any("sha256" in p for p in named), problems
    assert any("invalid record" in p and "sections" in p for p in named), problems
    assert not any(f"member {ID}_0.ndjson" in p or f"member {ID}_2.ndjson" in p for p in problems), problems
    assert not any(p.startswith("structured-chunks/") for p in problems)  # the chunks are intact


class CorruptingStore(ObjectStore):
    """The real store; right after a structured archive's copy lands, something else rewrites it."""

    def copy_staged(self, staged_key, key, **kwargs):
        super().copy_staged(staged_key, key, **kwargs)
        if "/structured-snapshots/" in f"/{key}" and key.endswith(".tar.gz"):
            data = bytearray(self.read_bytes(key))
            data[len(data) // 2] ^= 0x01
            self.client.put_object(Bucket=self.bucket, Key=key, Body=bytes(data))


def test_latest_moves_only_after_verification(bnwiki, tmp_path):
    export_structured_snapshot(bnwiki, PROJECT, D1, max_member_bytes=MEMBER_BYTES, work_dir=tmp_path, **QUIET)
    pointer_before = bnwiki.read_bytes(bnwiki.key(latest_key(ID, "paid", kind="structured")))
    with pytest.raises(SnapshotVerificationError) as failure:
        export_structured_snapshot(
            same_store(bnwiki, CorruptingStore),
            PROJECT,
            D2,
            max_member_bytes=MEMBER_BYTES,
            work_dir=tmp_path,
            **QUIET,
        )
    assert any(p.startswith(f"structured-snapshots/{D2}/{ID}.tar.gz") for p in failure.value.problems)
    assert bnwiki.read_bytes(bnwiki.key(latest_key(ID, "paid", kind="structured"))) == pointer_before
    assert read_latest(bnwiki, ID, kind="structured").date == D1
    assert verify_published(bnwiki, latest_key(ID, "paid", kind="structured"), validators=VALIDATORS) == []

    # Once it verifies, latest moves.
    moved = export_structured_snapshot(bnwiki, PROJECT, D2, max_member_bytes=MEMBER_BYTES, work_dir=tmp_path, **QUIET)
    assert moved.namespaces[0].published.previous_date == D1
    assert read_latest(bnwiki, ID, kind="structured").date == D2


def test_article_snapshots_are_unchanged_by_structured_ones(bnwiki, tmp_path):
    def article_objects() -> dict[str, str | None]:
        return {
            key: bnwiki.head(bnwiki.key(key)).sha256
            for key in keys_under(bnwiki)
            if key.startswith(("snapshots/", "chunks/", "aggregations/snapshots/", "aggregations/chunks/"))
            and not key.startswith("snapshots/latest/")  # the pointer is rewritten on every publish
        }

    export_snapshots(bnwiki, PROJECT, D1, namespaces=(0, 14), max_member_bytes=MEMBER_BYTES, work_dir=tmp_path, **QUIET)
    before = article_objects()
    manifest_before = bnwiki.read_bytes(bnwiki.key(snapshot_key(D1, ID, "paid", "manifest")))
    for date in (D1, D2, D3):
        export_structured_snapshot(bnwiki, PROJECT, date, max_member_bytes=MEMBER_BYTES, work_dir=tmp_path, **QUIET)
    assert article_objects() == before
    assert read_latest(bnwiki, ID).date == D1  # the article pointer did not move
    # Article manifests are as they were before Structured Contents existed: no `content` section.
    assert "content" not in orjson.loads(manifest_before)
    assert SnapshotManifest.from_json(manifest_before).kind == "articles"
    listing = bnwiki.read_bytes(bnwiki.key(snapshots_listing_key("paid"))).split(b"\n")
    assert [orjson.loads(line)["identifier"] for line in listing] == [ID, "bnwiki_namespace_14"]

    # Article and structured verification each see their own snapshots; a prefix covering both checks each
    # against its own schema.
    assert verify_published(bnwiki, f"snapshots/{D1}/", validators=VALIDATORS) == []
    assert verify_published(bnwiki, "", validators=VALIDATORS) == []
    # An article validator on a structured snapshot fails: the lines really are Structured Contents.
    assert verify_published(bnwiki, f"structured-snapshots/{D1}/", validator=VALIDATORS["articles"]) != []

    # Retention of one kind never touches the other.
    assert apply_retention(bnwiki, ID, keep=1, kind="structured") == [D1, D2]
    assert article_objects() == before
    assert apply_retention(bnwiki, ID, keep=1) == []
    dated = {key.split("/")[1] for key in keys_under(bnwiki) if key.startswith("structured-")}
    assert dated == {D3, "latest"}


def test_a_manifest_in_the_wrong_kind_of_folder_is_reported(bnwiki, tmp_path):
    result = export_structured_snapshot(bnwiki, PROJECT, D1, max_member_bytes=MEMBER_BYTES, work_dir=tmp_path, **QUIET)
    published = result.namespaces[0].published
    misplaced = snapshot_key(D1, ID, "paid", "manifest")  # the article folder
    bnwiki.copy_object(bnwiki.key(published.manifest_key), bnwiki.key(misplaced))
    problems = verify_published(bnwiki, misplaced, deep=False)
    assert problems == [f"{misplaced}: lies in the articles folders, the manifest is of a structured snapshot"]


# ----- Dagster and the command line ----------------------------------------------------------------------


def test_asset_in_the_paid_job_with_metadata_and_checks(bnwiki, monkeypatch):
    from wme_assets.definitions import defs
    from wme_assets.defs.resources import ObjectStorageResource, StageSettingsResource
    from wme_assets.defs.snapshots.assets import structured_snapshot

    job = defs().resolve_job_def("paid_snapshot_job")
    assert {key.to_user_string() for key in job.asset_layer.executable_asset_keys} >= {
        "paid_snapshot",
        "structured_snapshot",
    }
    monkeypatch.setenv("WME_SNAPSHOT_MEMBER_BYTES", str(MEMBER_BYTES))
    resource = ObjectStorageResource(endpoint_url=bnwiki.endpoint_url, bucket=bnwiki.bucket, prefix=bnwiki.prefix)
    result = dg.materialize(
        [structured_snapshot],
        partition_key=dg.MultiPartitionKey({"date": D1, "project": PROJECT}),
        resources={"object_storage": resource, "settings": StageSettingsResource(snapshot_member_bytes=MEMBER_BYTES)},
        instance=partitions.instance_with_projects(PROJECT),
    )
    assert result.success
    metadata = result.asset_materializations_for_node("structured_snapshot")[0].metadata
    assert metadata["uri"].value == bnwiki.uri(bnwiki.key(f"structured-snapshots/{D1}")) + "/"
    assert metadata["records"].value == 380
    assert (
        metadata["archive_bytes"].value == bnwiki.head(bnwiki.key(snapshot_key(D1, ID, "paid", kind="structured"))).size
    )
    assert metadata["published"].value[ID] == {
        "archive": bnwiki.uri(bnwiki.key(f"structured-snapshots/{D1}/{ID}.tar.gz")),
        "manifest": bnwiki.uri(bnwiki.key(f"structured-snapshots/{D1}/{ID}.manifest.json")),
        "latest": bnwiki.uri(bnwiki.key(f"structured-snapshots/latest/{ID}.json")),
    }
    assert metadata["summary"].value.startswith(f"{ID}: 380 Structured Contents, ")
    manifest = SnapshotManifest.from_json(
        bnwiki.read_bytes(bnwiki.key(f"structured-snapshots/{D1}/{ID}.manifest.json"))
    )
    # The run's own staging, deleted at its end: every chunk, the archive, their metadata objects, the manifest.
    assert metadata["staging_removed"].value == 2 * len(manifest.chunks) + 3
    assert metadata["leftover_staging_removed"].value == 0 and metadata["orphans_removed"].value == 0
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {
        "record_count_matches_structured": True,
        "every_line_valid": True,
        "no_duplicate_identifiers": True,
        "size_change_within_bound": True,
    }
    count = next(c for c in result.get_asset_check_evaluations() if c.check_name == "record_count_matches_structured")
    assert count.metadata["exported"].value == {"0": 380} == count.metadata["in_article_store"].value


def test_wme_snapshot_verify_on_a_structured_uri(bnwiki, tmp_path):
    export_structured_snapshot(bnwiki, PROJECT, D1, max_member_bytes=MEMBER_BYTES, work_dir=tmp_path, **QUIET)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WME_")}
    env.update(
        WME_S3_ENDPOINT_URL=bnwiki.endpoint_url,
        WME_S3_BUCKET=bnwiki.bucket,
        WME_S3_PREFIX=bnwiki.prefix,
        WME_HOME=str(tmp_path / "home"),
    )
    wme = str(Path(sys.executable).parent / "wme")
    uri = bnwiki.uri(bnwiki.key(f"structured-snapshots/{D1}/"))
    done = subprocess.run([wme, "snapshot", "verify", uri], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"ok: {uri}" in done.stdout

    chunk = f"structured-chunks/{D1}/{ID}/chunk_2.tar.gz"
    tampered, _ = tamper_member(bnwiki.read_bytes(bnwiki.key(chunk)), 0)
    bnwiki.put_bytes(bnwiki.key(chunk), tampered)
    broken = subprocess.run([wme, "snapshot", "verify", uri], env=env, capture_output=True, text=True, timeout=120)
    assert broken.returncode == 1
    assert f"MISMATCH {chunk} member chunk_2.ndjson:" in broken.stderr
