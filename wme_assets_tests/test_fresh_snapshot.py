"""Fresh snapshots on real components: a wiki's changes applied by the snapshot itself, exported with the cut point.

A real MediaWiki of this module's own (the enwiki fixture pages) is the wiki, the real SeaweedFS the store. The
base is the wiki's pages through the same fetch and enrichment the application uses (`build_fetched`, with
the revisions' Parsoid HTML as the application fetches it). Then the wiki's admin edits, creates, deletes,
undeletes, moves, protects and revision-deletes, and the paid snapshot of today (the defs' `snapshot_state`,
which the snapshot assets run around the export) polls the wiki, applies the events and exports the pinned
state: snapshot A, with the cut point. A second article store, built from scratch from the wiki's current
revisions, gives snapshot B of the same day: A's archives are B's, byte for byte.

Suppression (`suppress/revision`) is not exercised: the suppression log is private, and the change source
reads logevents without logging in (README, Realtime: planned).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import requests
from typer.testing import CliRunner

from wme_assets.cli import app
from wme_assets.defs.snapshots.fresh import snapshot_state
from wme_assets.enrichment.article import BuiltArticle, Site
from wme_assets.realtime.apply import build_fetched
from wme_assets.realtime.cut_point import cut_point_of
from wme_assets.realtime.event_log import Cursor, EventLog, LoggedEvent, now_rfc3339
from wme_assets.realtime.events import ChangeEvent
from wme_assets.realtime.metadata import same_but_edit_count
from wme_assets.realtime.recentchanges import LOG_KINDS
from wme_assets.realtime.update import AppliedPosition, load_applied
from wme_assets.schema.manifest import CutPoint, SnapshotManifest, StreamPartition
from wme_assets.settings import Settings
from wme_assets.snapshots.run import ExportResult, export_snapshots
from wme_assets.sources.action_api import ActionApiClient, FetchedRevision
from wme_assets.sources.mediawiki import MediaWikiClient, MediaWikiError
from wme_assets.storage import open_object_store
from wme_assets.storage.article_store import ArticleStoreWriter, iter_current_articles, publish_base
from wme_assets.storage.object_store import ObjectStore
from wme_assets_tests import partitions
from wme_assets_tests.mediawiki_server import own_mediawiki
from wme_assets_tests.wiki_admin import WikiAdmin, use_wiki_as_change_source

pytestmark = pytest.mark.integration

EXPORTED = (0, 6, 10, 14)
# Provenance (the `wme` object of each article) names the run that made an article and the read it came from;
# everything else is the Enterprise content. Both paths run under this one run id, so that an article read
# by both is the same bytes; see _source_by_path for the read.
RUN_ID = "fresh-snapshot-test"
BASE_SOURCE = "api:base"


@pytest.fixture(scope="module")
def wiki(request):
    # enwiki: a project of WME_PROJECTS's default, so that the Dagster assets have a partition for it.
    with own_mediawiki(request, "fresh", dbname="enwiki") as server:
        yield server


@pytest.fixture
def project(wiki, s3_env, monkeypatch) -> str:
    return use_wiki_as_change_source(monkeypatch, wiki.base_url)[1]


def _today() -> str:
    return datetime.now(UTC).strftime("%Y%m%d")


def _api(wiki, **params) -> dict:
    params = {"action": "query", "format": "json", "formatversion": "2", **params}
    return requests.get(f"{wiki.base_url}/api.php", params=params, timeout=60).json()


def _exported_titles(wiki) -> list[str]:
    """Every page of the exported namespaces that is not a redirect, as the wiki lists them now."""
    titles = []
    for ns in EXPORTED:
        reply = _api(wiki, list="allpages", apnamespace=ns, apfilterredir="nonredirects", aplimit="max")
        titles += [page["title"] for page in reply["query"]["allpages"]]
    return titles


def _current_revisions(wiki) -> list[FetchedRevision]:
    client = ActionApiClient(f"{wiki.base_url}/api.php", concurrency=2)
    revisions = client.latest_revisions(_exported_titles(wiki)).revisions.values()
    return sorted((r for r in revisions if r.namespace in EXPORTED and not r.is_redirect), key=lambda r: r.page_id)


def _built(wiki, rev: FetchedRevision, source: str, html: MediaWikiClient) -> BuiltArticle:
    """The article the application makes of a revision: its Parsoid HTML when the text is visible, and what the
    API says of it beyond its text."""
    client = ActionApiClient(f"{wiki.base_url}/api.php")
    site = Site.from_siteinfo(client.siteinfo())
    body = None
    if not rev.text_hidden:
        try:
            body = html.revision_html(rev.revision_id)
        except MediaWikiError:
            body = None  # as the application does: enriched from wikitext
    metadata = client.revision_metadata([rev]).get(rev.revision_id)
    client.close()
    return build_fetched(rev, site, run_id=RUN_ID, source=source, html=body, metadata=metadata)


def _publish_articles(store: ObjectStore, project: str, articles: list[BuiltArticle], work: Path, date: str) -> None:
    writer = ArticleStoreWriter(work, project=project, source=BASE_SOURCE, run_id=RUN_ID)
    for built in articles:
        writer.add(
            built.page_id, built.namespace, built.name, built.revision_id, built.date_modified, built.article_json,
            is_disambiguation=built.is_disambiguation,
            structured=built.structured_json.decode() if built.structured_json else None,
        )  # fmt: skip
    writer.close()
    publish_base(store, work, project, date)


def _publish_wiki_base(store, wiki, project, work: Path, date: str) -> dict[int, BuiltArticle]:
    """The base built from the wiki's pages as they are now; returns its articles by page id."""
    with MediaWikiClient(wiki.base_url) as html:
        articles = [_built(wiki, rev, BASE_SOURCE, html) for rev in _current_revisions(wiki)]
    _publish_articles(store, project, articles, work, date)
    return {a.page_id: a for a in articles}


def _add_pages(wiki, count: int) -> list[str]:
    """Pages of the test's own for deleting, undeleting and moving (the fixture has four, some linked from the
    others: deleting a linked page changes the linking pages' HTML without an event of theirs)."""
    admin = WikiAdmin(wiki.base_url)
    titles = []
    for i in range(count):
        title = f"Fresh snapshot {uuid.uuid4().hex[:8]}"
        admin.edit(title, f"Page {i} of the fresh snapshot test. It is a short page of prose.", create=True)
        titles.append(title)
    return titles


def _change_the_wiki(wiki, own: list[str]) -> dict[str, object]:
    """Edit, create, delete, delete and undelete, move, protect and revision-delete; what was done, by title."""
    admin = WikiAdmin(wiki.base_url)
    deleted, undeleted, moved = own
    edited, protected, hidden = sorted(wiki.revisions)[:3]
    edit = admin.edit(edited, wiki.wikitext[edited] + "\n\nA sentence added after the base.", "fresh")
    created = admin.edit("Fresh snapshot page", "A page created after the base. It is short prose.", create=True)
    admin.delete(deleted)
    admin.delete(undeleted)
    admin.undelete(undeleted)
    admin.move(moved, f"{moved} (moved)")
    admin.protect(protected)
    admin.hide(hidden, admin.page(hidden)["lastrevid"], "user|comment")
    return {
        "edited": (edited, edit["newrevid"]), "created": ("Fresh snapshot page", created["newrevid"]),
        "deleted": deleted, "undeleted": undeleted, "moved": (moved, f"{moved} (moved)"), "protected": protected,
        "hidden": hidden,
    }  # fmt: skip


def _source_by_path(base: dict[int, BuiltArticle], hour: str) -> Callable[[BuiltArticle], BuiltArticle | str]:
    """What the applied store holds of an article of the rebuilt store: the base's own article for a page the
    changes left as it was (same revision, same content but for the editor's edit count, which grows with their
    every edit: the application does not rewrite it), else the read its provenance names, the hour's events.
    That is what the applied store holds, and the only bytes that depend on the path."""

    def source(article: BuiltArticle) -> BuiltArticle | str:
        before = base.get(article.page_id)
        if before is not None and before.revision_id == article.revision_id and (
            before.content_hash == article.content_hash
            or same_but_edit_count(orjson.loads(before.article_json), article.article_json)
        ):
            return before
        return f"events:{hour}"

    return source


def _rebuild_from_scratch(store, wiki, project, work: Path, date: str,
                          source: Callable[[BuiltArticle], BuiltArticle | str]) -> None:
    with MediaWikiClient(wiki.base_url) as html:
        articles = []
        for rev in _current_revisions(wiki):
            article = _built(wiki, rev, BASE_SOURCE, html)
            kept = source(article)
            articles.append(kept if isinstance(kept, BuiltArticle) else _built(wiki, rev, kept, html))
    _publish_articles(store, project, articles, work, date)


def _fresh_export(store, project: str, date: str, **kwargs) -> ExportResult:
    with snapshot_state(store, Settings(), project, date, update=True, run_id=RUN_ID, **kwargs) as pinned:
        return export_snapshots(store, project, date, pinned=pinned, log=lambda _: None)


def _archives(result: ExportResult) -> dict[int, str]:
    assert all(n.published is not None for n in result.namespaces), [n.problems for n in result.namespaces]
    return {n.namespace: n.published.manifest.archive.sha256 for n in result.namespaces}


def _manifest(store: ObjectStore, date: str, project: str, namespace: int = 0) -> bytes:
    return store.read_bytes(store.key(f"snapshots/{date}/{project}_namespace_{namespace}.manifest.json"))


def _wiki_last_ids(wiki) -> tuple[int, int]:
    """The newest recentchanges id (edits and creations) and logevents id (of the kinds the source reads)."""
    rc = _api(wiki, list="recentchanges", rctype="edit|new", rcprop="ids", rclimit=1)["query"]["recentchanges"]
    logs = _api(wiki, list="logevents", leprop="ids|type", lelimit="max")["query"]["logevents"]
    return rc[0]["rcid"], max(e["logid"] for e in logs if (e["type"], e["action"]) in LOG_KINDS)


def test_fresh_snapshot_is_the_snapshot_rebuilt_from_scratch(wiki, project, s3_env, monkeypatch, tmp_path):
    today = _today()
    store = open_object_store(Settings())
    own = _add_pages(wiki, 3)
    base = _publish_wiki_base(store, wiki, project, tmp_path / "base", today)
    done = _change_the_wiki(wiki, own)

    fresh = _fresh_export(store, project, today)  # A: the snapshot applies the wiki's changes first

    # Every change is in the article store and the snapshot.
    view = {a["name"]: a for a in (orjson.loads(line) for _, line in
                                   iter_current_articles(store, project, cache_dir=tmp_path / "read"))}  # fmt: skip
    edited, edit_rev = done["edited"]
    assert view[edited]["version"]["identifier"] == edit_rev
    created, created_rev = done["created"]
    assert view[created]["version"]["identifier"] == created_rev
    assert done["deleted"] not in view and done["undeleted"] in view
    old, new = done["moved"]
    assert old not in view and new in view
    # Protection is not an article field here; the wiki's null revision of the protection is the page's version.
    protected_rev = WikiAdmin(wiki.base_url).page(done["protected"])["lastrevid"]
    assert view[done["protected"]]["version"]["identifier"] == protected_rev
    assert view[done["hidden"]]["visibility"] == {"text": True, "editor": False, "comment": False}
    assert len(fresh.deltas) == 1
    assert view[edited]["article_body"].get("html"), "the application enriches from the revision's Parsoid HTML"

    # The cut point: the last recentchanges and logevents ids applied, the wiki's newest ones.
    cut = fresh.cut_point
    assert cut is not None and cut.source == "recentchanges"
    assert (cut.rcid, cut.logid) == _wiki_last_ids(wiki)
    applied = load_applied(store, project)
    assert cut.seq == applied.seq and cut.event_id == applied.position
    manifest = SnapshotManifest.from_json(_manifest(store, today, project))
    assert manifest.inputs.cut_point == cut
    # The realtime stream continues the snapshot from the cut point's feed offsets: the feed holds exactly the
    # applied changes, all before those offsets.
    from wme_assets.realtime.feed import load_head
    from wme_assets_tests.feed_world import feed_records

    head = load_head(store)
    assert head.fed_seq(project) == applied.seq and cut.feed_offsets == dict(enumerate(head.next_offsets))
    fed = feed_records(store)
    assert len(fed) == sum(cut.feed_offsets.values())
    assert {view[edited]["identifier"], view[done["protected"]]["identifier"]} <= {r["identifier"] for r in fed}

    # B: another store, its base rebuilt from scratch from the wiki's current revisions.
    monkeypatch.setenv("WME_S3_PREFIX", f"{s3_env['WME_S3_PREFIX']}-scratch")
    scratch = open_object_store(Settings())
    source = _source_by_path(base, fresh.deltas[0])
    _rebuild_from_scratch(scratch, wiki, project, tmp_path / "scratch", today, source)
    rebuilt = export_snapshots(scratch, project, today, log=lambda _: None)
    assert rebuilt.cut_point is None and rebuilt.deltas == ()
    assert _archives(fresh) == _archives(rebuilt)
    assert fresh.records == rebuilt.records == len(view)


def test_past_date_applies_nothing_and_the_cut_point_survives_a_rerun(wiki, project, tmp_path):
    today = _today()
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y%m%d")
    store = open_object_store(Settings())
    _publish_wiki_base(store, wiki, project, tmp_path / "base", yesterday)
    admin = WikiAdmin(wiki.base_url)
    title = sorted(wiki.revisions)[-1]
    edit = admin.edit(title, wiki.wikitext[title] + "\n\nAnother sentence, for the past-date test.", "fresh")

    # A past day: the state as of its end, nothing polled, nothing applied.
    past = _fresh_export(store, project, yesterday)
    assert past.cut_point is None and past.deltas == ()
    assert load_applied(store, project).seq == -1
    assert not EventLog(store, "recentchanges").segments(project)
    assert b"cut_point" not in _manifest(store, yesterday, project)

    # Today: the changes applied, the cut point recorded; a re-run applies nothing and writes the same snapshot.
    first = _fresh_export(store, project, today)
    assert first.cut_point is not None and first.cut_point.seq >= 0
    manifest = _manifest(store, today, project)
    _shown_by_verify_and_in_metadata(store, today, project, first)
    again = _fresh_export(store, project, today)
    assert again.cut_point == first.cut_point
    assert _archives(again) == _archives(first)
    assert _manifest(store, today, project) == manifest

    # `wme diff` between the two days: the edit, and nothing else.
    diff = CliRunner().invoke(app, ["diff", project, "--from", yesterday, "--to", today, "--format", "ndjson"])
    assert diff.exit_code == 0, diff.output
    changes = [orjson.loads(line) for line in diff.stdout.splitlines() if line.startswith("{")]
    assert [(c["change"], c["after"]["name"], c["after"]["revision"]) for c in changes] == [
        ("changed", title, edit["newrevid"])
    ]

    # Yesterday again: today's delta is not in its state, so where the stream stood then is not known.
    rerun = _fresh_export(store, project, yesterday)
    assert rerun.cut_point is None and _archives(rerun) == _archives(past)


def _shown_by_verify_and_in_metadata(store: ObjectStore, date: str, project: str, result: ExportResult) -> None:
    from wme_assets.defs.snapshots.assets import _cut_point_metadata

    uri = store.uri(store.key(f"snapshots/{date}/{project}_namespace_0.manifest.json"))
    done = CliRunner().invoke(app, ["snapshot", "verify", uri], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    cut = result.cut_point
    assert f"cut point: recentchanges after rcid {cut.rcid}, logevents after logid {cut.logid}" in done.output
    metadata = _cut_point_metadata(result)
    assert metadata["cut_point"].value == cut.model_dump(mode="json")
    assert metadata["cut_point_summary"] == cut.describe()


def test_eventstreams_cut_point_names_every_partition(object_store):
    # The SSE id of the last applied event lists every partition: a consumer sends it as Last-Event-ID.
    ids = [
        '[{"topic":"eqiad.mediawiki.page_change.v1","partition":0,"offset":516188566},'
        '{"topic":"codfw.mediawiki.page_change.v1","partition":0,"timestamp":1764720000000}]',
        '[{"topic":"eqiad.mediawiki.page_change.v1","partition":0,"offset":516188567},'
        '{"topic":"codfw.mediawiki.page_change.v1","partition":0,"timestamp":1764720000000}]',
    ]
    events = [
        LoggedEvent(
            change=ChangeEvent(
                source="eventstreams", event_id=f"meta-{i}", position=sse_id, project="bnwiki", kind="edit",
                dt=f"2026-12-02T00:00:0{i}Z", page_id=1, namespace=0, title="X", revision_id=5 + i,
            ),
            raw="{}", received=now_rfc3339(),
        )  # fmt: skip
        for i, sse_id in enumerate(ids)
    ]
    EventLog(object_store, "eventstreams").append(events, [], Cursor(stream="eventstreams"), {"eventstreams": ids[1]})
    assert cut_point_of(object_store, "eventstreams", "bnwiki", AppliedPosition()) is None
    cut = cut_point_of(object_store, "eventstreams", "bnwiki", AppliedPosition(seq=1, position=ids[1]))
    assert cut == CutPoint(
        source="eventstreams", seq=1, event_id=ids[1], event_dt="2026-12-02T00:00:01Z",
        partitions=[
            StreamPartition(topic="eqiad.mediawiki.page_change.v1", partition=0, offset=516188567),
            StreamPartition(topic="codfw.mediawiki.page_change.v1", partition=0, timestamp=1764720000000),
        ],
    )  # fmt: skip
    assert cut.describe().startswith(
        "EventStreams after eqiad.mediawiki.page_change.v1[0]@offset 516188567, "
        "codfw.mediawiki.page_change.v1[0]@ts 1764720000000 (event log seq 1"
    )


def test_paid_snapshot_assets_apply_the_changes_and_report_the_cut_point(wiki, project, tmp_path):
    import dagster as dg

    from wme_assets.defs.resources import ObjectStorageResource, StageSettingsResource
    from wme_assets.defs.snapshots.assets import paid_snapshot, structured_snapshot

    today = _today()
    store = open_object_store(Settings())
    _publish_wiki_base(store, wiki, project, tmp_path / "base", today)
    title = sorted(wiki.revisions)[1]
    edit = WikiAdmin(wiki.base_url).edit(title, wiki.wikitext[title] + "\n\nA sentence for the assets.", "fresh")

    resource = ObjectStorageResource(endpoint_url=store.endpoint_url, bucket=store.bucket, prefix=store.prefix)
    result = dg.materialize(
        [paid_snapshot, structured_snapshot],
        partition_key=dg.MultiPartitionKey({"date": today, "project": project}),
        resources={"object_storage": resource, "settings": StageSettingsResource()},
        instance=partitions.instance_with_projects(project),
    )
    assert result.success
    view = {a["name"]: a for a in (orjson.loads(line) for _, line in
                                   iter_current_articles(store, project, cache_dir=tmp_path / "read"))}  # fmt: skip
    assert view[title]["version"]["identifier"] == edit["newrevid"]
    applied = load_applied(store, project)
    # The first asset applied the changes; the second found nothing more: both at the same cut point.
    for asset in ("paid_snapshot", "structured_snapshot"):
        metadata = result.asset_materializations_for_node(asset)[0].metadata
        assert metadata["cut_point"].value["seq"] == applied.seq
        assert metadata["cut_point"].value["rcid"] == _wiki_last_ids(wiki)[0]
    structured = store.read_bytes(store.key(f"structured-snapshots/{today}/{project}_namespace_0.manifest.json"))
    assert SnapshotManifest.from_json(structured).inputs.cut_point.seq == applied.seq
    assert SnapshotManifest.from_json(_manifest(store, today, project)).inputs.cut_point.seq == applied.seq
