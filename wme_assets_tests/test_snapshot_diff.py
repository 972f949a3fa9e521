"""Diffs of two published snapshots (`wme diff`, `snapshot_diff`) on the real SeaweedFS and real bnwiki pages.

Two real snapshots of bnwiki: the base of day 1 is every article of namespaces 0, 10 and 14 the enrichment
builds from the real dump fixture, less three pages held back; day 2 adds a delta of real changes: the held
back pages created, three pages deleted (one in namespace 14), two edited (a new revision keeping only the
lead of the real text), one moved to the title of its real redirect, and one given that real redirect (the
same revision, other content); one more page written again by another run (its line differs, its content
hash does not: unchanged). Namespace 6 has no page: its snapshots are empty on both days.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import re
from collections import Counter
from dataclasses import dataclass

import dagster as dg
import orjson
import pytest
from typer.testing import CliRunner

from wme_assets.cli import app
from wme_assets.enrichment.article import BuiltArticle, Site, build_article
from wme_assets.enrichment.wikitext import WikiNames, extract_wikitext_fields
from wme_assets.ingestion.dump_xml import iter_pages
from wme_assets.schema.diff import DiffSummary, PageDiff, PageState
from wme_assets.snapshots.diff import (
    MissingSnapshotError,
    SnapshotDiffError,
    compare_page,
    diff_key,
    diff_snapshots,
    iter_page_diffs,
    merge_join,
    page_diffs,
    previous_snapshot_date,
    published_dates,
    summary_key,
)
from wme_assets.snapshots.layout import snapshot_key
from wme_assets.snapshots.read import SnapshotMismatchError, iter_snapshot_records
from wme_assets.snapshots.run import export_snapshots
from wme_assets.storage.article_store import ArticleStoreWriter, publish_base, publish_delta
from wme_assets.storage.object_store import ObjectStore
from wme_assets_tests import partitions
from wme_assets_tests.paths import FIXTURES
from wme_assets_tests.servers import TEST_BUCKET, new_test_store

BNWIKI = FIXTURES / "xztextfilter-truncated-dumps" / "bnwiki-truncated-100k.xml.xz"
PROJECT = "bnwiki"
DAY_1, DAY_2 = "20230501", "20230502"
NAMESPACES = (0, 6, 10, 14)
SITE = Site(dbname=PROJECT, language="bn", base_url="https://bn.wikipedia.org", names=WikiNames.for_wiki(PROJECT))

HELD_BACK = (1186, 1370, 2387)  # created on day 2 (2387: namespace 10)
DELETED = (1266, 2024, 2359)  # 2359: namespace 14
EDITED = (796, 2353)
MOVED = (1369, "টমাস ম্যাল্থাস")  # to the title of its real redirect (page 1368)
REDIRECT_ADDED = (1572, "রাসায়নিক মৌল")  # the real redirect page 1301 folded in
REWRITTEN = 839  # written again by another run: only the provenance's run id differs, so unchanged


# --- the two real snapshots ------------------------------------------------------------------------------------


def enriched(page, *, title: str | None = None, text: str | None = None, revision: int | None = None, **extra):
    rev = page.latest
    text = rev.text if text is None else text
    row = {
        "title": title or page.title,
        "page_id": page.id,
        "namespace": page.ns,
        "text": text,
        "revision_id": revision or rev.id,
        "timestamp": rev.timestamp,
        "parent_revision_id": rev.id if revision else rev.parent_id,
    }
    return build_article(row, extract_wikitext_fields(text or "", SITE.names), SITE, **extra)


def add(writer: ArticleStoreWriter, built: BuiltArticle) -> None:
    writer.add(built.page_id, built.namespace, built.name, built.revision_id, built.date_modified, built.article_json)


def lead(text: str) -> str:
    """The real text up to its first section heading: an edit that removed every section."""
    return re.split(r"\n==", text, maxsplit=1)[0]


@dataclass(frozen=True)
class TwoSnapshots:
    store: ObjectStore
    base: dict[int, BuiltArticle]  # day 1's articles by page id
    changed: dict[int, BuiltArticle]  # day 2's new articles (added and changed) by page id


@pytest.fixture(scope="module")
def snapshots(seaweedfs, tmp_path_factory) -> TwoSnapshots:
    tmp = tmp_path_factory.mktemp("diff")
    store = new_test_store(seaweedfs)
    pages = {p.id: p for p in iter_pages(BNWIKI, name=BNWIKI.name, keep_partial=True)}
    exported = [p for p in sorted(pages.values(), key=lambda p: p.id) if p.ns in NAMESPACES and not p.is_redirect]
    assert {*HELD_BACK, *DELETED, *EDITED, MOVED[0], REDIRECT_ADDED[0], REWRITTEN} <= {p.id for p in exported}
    assert pages[1368].redirect_target == pages[MOVED[0]].title and pages[1368].title == MOVED[1]
    assert pages[1301].redirect_target == pages[REDIRECT_ADDED[0]].title and pages[1301].title == REDIRECT_ADDED[1]

    base = {p.id: enriched(p) for p in exported if p.id not in HELD_BACK}
    with ArticleStoreWriter(tmp / "base", project=PROJECT, source=f"dump:{DAY_1}", run_id="r1") as writer:
        for built in base.values():
            add(writer, built)
    publish_base(store, tmp / "base", PROJECT, DAY_1)
    export_snapshots(store, PROJECT, DAY_1, log=lambda _: None)

    changed = {page_id: enriched(pages[page_id]) for page_id in HELD_BACK}
    changed |= {
        page_id: enriched(pages[page_id], text=lead(pages[page_id].latest.text), revision=pages[page_id].latest.id + 1)
        for page_id in EDITED
    }
    changed[MOVED[0]] = enriched(pages[MOVED[0]], title=MOVED[1])
    changed[REDIRECT_ADDED[0]] = enriched(pages[REDIRECT_ADDED[0]], redirects=[REDIRECT_ADDED[1]])
    rewritten = enriched(pages[REWRITTEN], run_id="r2")
    assert rewritten.article_json != base[REWRITTEN].article_json
    assert rewritten.content_hash == base[REWRITTEN].content_hash
    hour = f"{DAY_2}12"
    with ArticleStoreWriter(tmp / hour, project=PROJECT, source=f"events:{hour}", run_id="r2") as writer:
        for built in [*changed.values(), rewritten]:
            add(writer, built)
        for page_id in DELETED:
            writer.delete(page_id, pages[page_id].ns, base[page_id].revision_id, name=pages[page_id].title)
    publish_delta(store, tmp / hour, PROJECT, hour)
    export_snapshots(store, PROJECT, DAY_2, log=lambda _: None)
    return TwoSnapshots(store, base, changed)


def expected_changes(snapshots: TwoSnapshots) -> list[PageDiff]:
    base, changed = snapshots.base, snapshots.changed

    def state(built: BuiltArticle) -> PageState:
        return PageState(name=built.name, revision=built.revision_id)

    def diff(page_id: int, change: str, changes=(), before=None, after=None) -> PageDiff:
        namespace = (after or before).namespace
        return PageDiff(
            namespace=namespace,
            identifier=page_id,
            change=change,
            changes=list(changes),
            before=state(before) if before else None,
            after=state(after) if after else None,
        )

    expected = [diff(i, "added", after=changed[i]) for i in HELD_BACK]
    expected += [diff(i, "deleted", before=base[i]) for i in DELETED]
    expected += [diff(i, "changed", ["revision", "content"], base[i], changed[i]) for i in EDITED]
    expected.append(diff(MOVED[0], "changed", ["title", "content"], base[MOVED[0]], changed[MOVED[0]]))
    expected.append(
        diff(REDIRECT_ADDED[0], "changed", ["content"], base[REDIRECT_ADDED[0]], changed[REDIRECT_ADDED[0]])
    )
    return sorted(expected, key=lambda d: (d.namespace, d.identifier))


def stored_changes(store: ObjectStore, summary: DiffSummary) -> list[PageDiff]:
    return [page for entry in summary.namespaces for page in iter_page_diffs(store, entry)]


# --- the function --------------------------------------------------------------------------------------------


def test_diff_lists_exactly_the_added_changed_and_deleted_pages(snapshots):
    store = snapshots.store
    assert published_dates(store, PROJECT) == [DAY_1, DAY_2]
    summary = diff_snapshots(store, PROJECT, DAY_1, DAY_2, log=lambda _: None)

    expected = expected_changes(snapshots)
    assert stored_changes(store, summary) == expected
    # The rewritten page's line differs between the two snapshots, and it is not listed.
    ns0_lines = [
        dict(iter_snapshot_records(store, identifier=f"{PROJECT}_namespace_0", date=d)) for d in (DAY_1, DAY_2)
    ]
    assert ns0_lines[0][REWRITTEN] != ns0_lines[1][REWRITTEN]
    by_namespace = {entry.namespace: entry for entry in summary.namespaces}
    assert list(by_namespace) == list(NAMESPACES)
    ns0 = by_namespace[0]
    assert (ns0.counts["added"], ns0.counts["changed"], ns0.counts["deleted"]) == (2, 4, 2)
    assert ns0.counts["unchanged"] == sum(1 for b in snapshots.base.values() if b.namespace == 0) - 2 - 4
    assert ns0.changed == {"revision": 2, "title": 1, "content": 4}
    assert by_namespace[6].counts == {"added": 0, "changed": 0, "deleted": 0, "unchanged": 0}
    assert (by_namespace[10].counts["added"], by_namespace[14].counts["deleted"]) == (1, 1)
    assert summary.totals()["added"] + summary.totals()["deleted"] + summary.totals()["changed"] == len(expected)

    # The summary names the two manifests as read, and every file with its digest.
    for entry in summary.namespaces:
        identifier = f"{PROJECT}_namespace_{entry.namespace}"
        assert entry.before.manifest_key == snapshot_key(DAY_1, identifier, "paid", "manifest")
        assert entry.after.manifest_key == snapshot_key(DAY_2, identifier, "paid", "manifest")
        manifest = store.read_bytes(store.key(entry.after.manifest_key))
        assert entry.after.manifest_sha256 == hashlib.sha256(manifest).hexdigest()
        assert entry.diff.key == diff_key(PROJECT, DAY_1, DAY_2, entry.namespace)
        assert store.head(store.key(entry.diff.key)).sha256 == entry.diff.sha256
    stored = DiffSummary.from_json(store.read_bytes(store.key(summary_key(PROJECT, DAY_1, DAY_2))))
    assert stored == summary
    # Plain gzip NDJSON for any reader.
    lines = gzip.decompress(store.read_bytes(store.key(diff_key(PROJECT, DAY_1, DAY_2, 0)))).splitlines()
    assert [orjson.loads(line)["identifier"] for line in lines] == [d.identifier for d in expected if d.namespace == 0]
    tombstone = orjson.loads(next(line for line in lines if b'"deleted"' in line))
    assert tombstone["after"] is None and tombstone["before"]["name"]

    # A re-run publishes the same bytes; one namespace alone keeps the others' entries.
    files = {key: store.head(store.key(key)).sha256 for key in (summary_key(PROJECT, DAY_1, DAY_2), ns0.diff.key)}
    assert diff_snapshots(store, PROJECT, DAY_1, DAY_2, log=lambda _: None) == summary
    assert diff_snapshots(store, PROJECT, DAY_1, DAY_2, namespaces=(0,), log=lambda _: None) == summary
    assert {key: store.head(store.key(key)).sha256 for key in files} == files


def test_previous_snapshot_is_the_newest_earlier_day(snapshots):
    store = snapshots.store
    assert previous_snapshot_date(store, PROJECT, DAY_2) == DAY_1
    assert previous_snapshot_date(store, PROJECT, "20230601") == DAY_2
    assert previous_snapshot_date(store, PROJECT, DAY_1) is None
    assert previous_snapshot_date(store, "jawiki", DAY_2) is None


def test_bad_input_is_refused_clearly(snapshots, seaweedfs):
    store = snapshots.store
    with pytest.raises(MissingSnapshotError) as missing:
        diff_snapshots(store, PROJECT, DAY_1, "20230503", log=lambda _: None)
    message = str(missing.value)
    assert "snapshots/20230503/bnwiki_namespace_0.manifest.json" in message
    assert f"bnwiki has paid snapshots on {DAY_1}, {DAY_2}" in message
    with pytest.raises(MissingSnapshotError, match="jawiki has no paid snapshot"):
        diff_snapshots(store, "jawiki", DAY_1, DAY_2, log=lambda _: None)
    with pytest.raises(SnapshotDiffError, match="must be before"):
        diff_snapshots(store, PROJECT, DAY_2, DAY_1, log=lambda _: None)
    with pytest.raises(SnapshotDiffError, match="the --to date must be YYYYMMDD"):
        diff_snapshots(store, PROJECT, DAY_1, "2023-05-02", log=lambda _: None)
    assert not store.exists(store.key(summary_key(PROJECT, DAY_1, "20230503")))


@pytest.fixture
def copied(snapshots, seaweedfs) -> ObjectStore:
    """A store of its own holding a copy of the two snapshots, for tests that break them."""
    source = snapshots.store
    store = new_test_store(seaweedfs)
    for top in ("snapshots", "chunks"):
        for info in source.list(source.key(top) + "/"):
            store.put_bytes(store.key(info.key[len(source.prefix) :]), source.read_bytes(info.key))
    return store


def test_an_archive_that_differs_from_its_manifest_publishes_no_diff(copied):
    """The gzip trailer of day 2's namespace 0 archive broken, its size and recorded SHA-256 kept: the reader
    finds out only after the last record, and nothing of the diff is published."""
    store = copied
    archive = store.key(snapshot_key(DAY_2, f"{PROJECT}_namespace_0", "paid"))
    info = store.head(archive)
    data = store.read_bytes(archive)
    broken = data[:-8] + bytes(b ^ 0xFF for b in data[-8:])
    store.client.put_object(Bucket=store.bucket, Key=archive, Body=broken, Metadata={"sha256": info.sha256})
    with pytest.raises(SnapshotMismatchError, match=re.escape(store.uri(archive))):
        diff_snapshots(store, PROJECT, DAY_1, DAY_2, log=lambda _: None)
    assert not list(store.list(store.key("diffs") + "/"))


def test_a_missing_manifest_and_a_snapshot_of_another_project(copied):
    """Day 1's namespace 14 manifest removed, then day 1's namespace 10 manifest claiming another project."""
    store = copied
    removed = snapshot_key(DAY_1, f"{PROJECT}_namespace_14", "paid", "manifest")
    store.delete(store.key(removed))

    summary = diff_snapshots(store, PROJECT, DAY_1, DAY_2, log=lambda _: None)
    ns14 = next(entry for entry in summary.namespaces if entry.namespace == 14)
    assert ns14.missing_on == [DAY_1] and ns14.diff is None and not ns14.compared
    assert [e.namespace for e in summary.namespaces if e.compared] == [0, 6, 10]
    with pytest.raises(MissingSnapshotError, match=re.escape(store.uri(store.key(removed)))):
        diff_snapshots(store, PROJECT, DAY_1, DAY_2, namespaces=(14,), log=lambda _: None)

    # Day 1 is not current (latest names day 2), so its manifest is checked on its own: the project must match.
    ns10 = store.key(snapshot_key(DAY_1, f"{PROJECT}_namespace_10", "paid", "manifest"))
    manifest = orjson.loads(store.read_bytes(ns10))
    store.put_bytes(ns10, orjson.dumps({**manifest, "is_part_of": "jawiki"}))
    with pytest.raises(SnapshotDiffError, match="is a snapshot of jawiki namespace 10, not of bnwiki namespace 10"):
        diff_snapshots(store, PROJECT, DAY_1, DAY_2, log=lambda _: None)


# --- the merge join on iterators ---------------------------------------------------------------------------


def test_merge_join_streams_and_pairs_pages_by_id():
    consumed = Counter()

    def endless(side: str, start: int, step: int):
        for page_id in itertools.count(start, step):
            consumed[side] += 1
            if consumed[side] > 10:
                raise AssertionError(f"the join read {side} far ahead of what was asked")
            yield page_id, f"{side}{page_id}".encode()

    # Endless generators: only a lazy join gives the first pages at all, and it reads no further ahead.
    first = list(itertools.islice(merge_join(endless("a", 2, 2), endless("b", 3, 3)), 5))
    assert first == [(2, b"a2", None), (3, None, b"b3"), (4, b"a4", None), (6, b"a6", b"b6"), (8, b"a8", None)]
    assert consumed["a"] <= 5 and consumed["b"] <= 4  # a record of each side beyond the pages returned, at most


def test_page_diffs_classifies_and_counts_on_generators():
    def line(page_id, name, revision, content_hash=None, run_id="", abstract=""):
        record = {"identifier": page_id, "name": name, "version": {"identifier": revision}, "abstract": abstract}
        if content_hash:
            record["wme"] = {"provenance": {"content_hash": content_hash, "run_id": run_id}}
        return page_id, orjson.dumps(record)

    before = (r for r in [line(1, "A", 10), line(2, "B", 20, "sha256:b", "run1"), line(3, "C", 30), line(5, "E", 50)])
    after = (r for r in [line(2, "B", 20, "sha256:b", "run2"), line(3, "C2", 31), line(4, "D", 40), line(5, "E", 50)])
    counts = Counter()
    diffs = list(page_diffs(0, before, after, counts))
    assert [(d.identifier, d.change, d.changes) for d in diffs] == [
        (1, "deleted", []),
        (3, "changed", ["revision", "title", "content"]),
        (4, "added", []),
    ]
    assert diffs[0].before == PageState(name="A", revision=10) and diffs[0].after is None
    # Page 2: only the provenance's run id differs, the content hash is the same: unchanged.
    assert counts == Counter(deleted=1, changed=1, added=1, unchanged=2, revision=1, title=1, content=1)
    same_revision = compare_page(0, 7, line(7, "G", 70, abstract="x")[1], line(7, "G", 70, abstract="y")[1])
    assert same_revision.changes == ["content"]


# --- the command -----------------------------------------------------------------------------------------------


@pytest.fixture
def cli_store(snapshots, s3_env, monkeypatch):
    """`wme` pointed at the store holding the two snapshots."""
    monkeypatch.setenv("WME_S3_PREFIX", snapshots.store.prefix.rstrip("/"))
    monkeypatch.setenv("WME_S3_BUCKET", TEST_BUCKET)
    return snapshots.store


def invoke(*args: str):
    return CliRunner().invoke(app, ["diff", *args], catch_exceptions=False)


def test_wme_diff_prints_counts_first_changes_and_every_change(snapshots, cli_store):
    store = cli_store
    result = invoke(PROJECT, "--from", DAY_1, "--to", DAY_2, "--first", "2")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "bnwiki_namespace_0: 2 added, 4 changed, 2 deleted, " in out
    assert "(changed: 2 revision, 1 title, 4 content)" in out
    assert "bnwiki_namespace_6: 0 added, 0 changed, 0 deleted, 0 unchanged" in out
    assert "first 2 added:" in out and "first 2 changed:" in out and "first 2 deleted:" in out
    assert "(tombstone)" in out
    assert f"full diff: {store.uri(store.key('diffs/bnwiki/20230501-20230502'))}/" in out

    every = invoke(PROJECT, "--from", DAY_1, "--to", DAY_2, "--format", "ndjson")
    assert every.exit_code == 0, every.output
    printed = [PageDiff.model_validate_json(line) for line in every.stdout.splitlines()]
    assert printed == expected_changes(snapshots)

    moved = invoke(PROJECT, "--from", DAY_1, "--to", DAY_2, "--namespace", "0", "--format", "ndjson")
    move = next(PageDiff.model_validate_json(x) for x in moved.stdout.splitlines() if '"title"' in x)
    assert (move.identifier, move.after.name) == MOVED


def test_wme_diff_refuses_bad_input_in_one_line(cli_store):
    missing = invoke(PROJECT, "--from", DAY_1, "--to", "20230503")
    assert missing.exit_code == 1
    (line,) = missing.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: no published snapshot at s3://")
    assert "snapshots/20230503/bnwiki_namespace_0.manifest.json" in line and f"on {DAY_1}, {DAY_2}" in line

    for args, expected in [
        (("--from", "20230532", "--to", DAY_2), "--from must be YYYYMMDD"),
        (("--from", DAY_2, "--to", DAY_1), "--from must be a day before --to"),
        (("--from", DAY_1, "--to", DAY_2, "--namespace", "2"), "--namespace must be one of 0, 6, 10, 14"),
        (("--from", DAY_1, "--to", DAY_2, "--tier", "gold"), "--tier must be paid or free"),
    ]:
        refused = invoke(PROJECT, *args)
        assert refused.exit_code == 2 and expected in refused.stderr, (args, refused.output)
    other = invoke("xxwiki", "--from", DAY_1, "--to", DAY_2)
    assert other.exit_code == 2 and "'xxwiki' is not in Wikimedia's site matrix" in other.stderr


# --- the asset --------------------------------------------------------------------------------------------------


def test_snapshot_diff_asset_compares_with_the_previous_paid_snapshot(snapshots, s3_env):
    from wme_assets.definitions import defs
    from wme_assets.defs.resources import ObjectStorageResource
    from wme_assets.defs.snapshots.diff import snapshot_diff

    job = defs().resolve_job_def("paid_snapshot_job")
    assert "snapshot_diff" in {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    store = snapshots.store
    resource = ObjectStorageResource(
        endpoint_url=store.endpoint_url, bucket=TEST_BUCKET, prefix=store.prefix.rstrip("/"), create_bucket=False
    )

    instance = partitions.instance_with_projects(PROJECT)

    def materialize(date: str) -> dict:
        key = dg.MultiPartitionKey({"date": date, "project": PROJECT})
        result = dg.materialize(
            [snapshot_diff], partition_key=key, resources={"object_storage": resource}, instance=instance
        )
        assert result.success
        (materialization,) = result.asset_materializations_for_node("snapshot_diff")
        return {name: value.value for name, value in materialization.metadata.items()}

    first = materialize(DAY_1)
    assert first["summary"] == f"{PROJECT}: no paid snapshot before {DAY_1}, nothing to compare"
    second = materialize(DAY_2)
    assert second["from"] == DAY_1
    assert (second["added"], second["changed"], second["deleted"]) == (3, 4, 3)
    assert second["uri"] == store.uri(store.key(f"diffs/{PROJECT}/{DAY_1}-{DAY_2}")) + "/"
