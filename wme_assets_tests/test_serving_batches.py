"""`wme serve`'s hourly batch endpoints against Wikimedia Enterprise's official Python SDK, unchanged.

Once per module: the real bnwiki fixture dump's articles are applied to an empty article store as two hours'
changes (the first hour creates half of them; the second creates the other half and deletes a fifth of the
first hour's), each hour is exported by :func:`~wme_assets.realtime.batches.export_batch` as the ``hourly_batch``
asset does, and `wme serve` runs over that store (the server and accounts of ``api_server``). The SDK
lists, reads, heads, downloads and reads back the batches; the checks read the published manifests.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from wme_assets.devtools.prefetched import PrefetchedRevisions, load  # real dump pages as fetched revisions
from wme_assets.realtime.apply import apply_changes
from wme_assets.realtime.batches import export_batch
from wme_assets.realtime.events import ChangeEvent
from wme_assets.schema.validate import record_validator
from wme_assets.snapshots.layout import batch_key, batches_listing_key, load_manifest
from wme_assets.storage.article_store import ArticleStoreWriter, publish_base
from wme_assets.storage.object_store import ObjectStore
from wme_assets_tests.api_server import PROJECT, APIStatusError, Request, Server, _raw, _status, running_server
from wme_assets_tests.paths import FIXTURES
from wme_assets_tests.servers import new_test_store

pytestmark = pytest.mark.integration

DUMP = FIXTURES / "xztextfilter-truncated-dumps" / f"{PROJECT}-truncated-100k.xml.xz"
QUIET = {"log": lambda _: None}
ID = f"{PROJECT}_namespace_0"
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
FIRST, SECOND = NOW - timedelta(hours=3), NOW - timedelta(hours=2)
OLD = NOW - timedelta(days=8)  # older than the retention (WME_BATCH_RETENTION_DAYS, 7)


def _hour(at: datetime) -> str:
    return at.strftime("%Y%m%d%H")


def _path(at: datetime) -> str:
    return at.strftime("v2/batches/%Y-%m-%d/%H")


def _events(revisions, kind: str) -> list[ChangeEvent]:
    return [
        ChangeEvent("recentchanges", f"{kind}:{r.revision_id}", f"{kind}:{r.revision_id}", PROJECT, kind, r.timestamp,
                    r.page_id, r.namespace, r.title, r.revision_id if kind == "edit" else None)
        for r in revisions
    ]  # fmt: skip


@pytest.fixture(scope="module")
def published(seaweedfs, tmp_path_factory) -> ObjectStore:
    """Two hours of bnwiki's changes, exported as their batches (module docstring)."""
    store = new_test_store(seaweedfs)
    work = tmp_path_factory.mktemp("batches")
    siteinfo, revisions = load(DUMP)
    ArticleStoreWriter(work / "base", project=PROJECT, source="test", run_id="t").close()
    publish_base(store, work / "base", PROJECT, (FIRST - timedelta(days=1)).strftime("%Y%m%d"))
    source = PrefetchedRevisions({r.revision_id: r for r in revisions})
    half = len(revisions) // 2
    hours = (
        (FIRST, _events(revisions[:half], "edit")),
        (SECOND, _events(revisions[half:], "edit") + _events(revisions[:half:5], "delete")),
    )
    for at, events in hours:
        apply_changes(store, PROJECT, events, revisions=source, siteinfo=siteinfo, run_id="serving-batches",
                      hour=_hour(at), time_budget_s=None, work_dir=work, **QUIET)  # fmt: skip
    validator = record_validator("article")
    for at, _ in hours:
        result = export_batch(store, PROJECT, _hour(at), validator=validator, work_dir=work, **QUIET)
        assert result.records and result.listed
    # An hour past the retention whose files are still there (retention runs with the next export): not served.
    listing = store.read_bytes(store.key(batches_listing_key(_hour(SECOND))))
    store.put_bytes(store.key(batches_listing_key(_hour(OLD))), listing)
    return store


@pytest.fixture(scope="module")
def server(published, tmp_path_factory) -> Iterator[Server]:
    with running_server(published, tmp_path_factory.mktemp("serving-home")) as running:
        yield running


@pytest.fixture
def paid(server):
    return server.client("paid-user")


@pytest.fixture
def free(server):
    return server.client("free-user")


def _listing(store: ObjectStore, at: datetime) -> list[dict]:
    return [orjson.loads(line) for line in store.read_bytes(store.key(batches_listing_key(_hour(at)))).splitlines()]


def _manifest(store: ObjectStore, at: datetime, identifier: str = ID):
    manifest = load_manifest(store, batch_key(_hour(at), identifier, "manifest"))
    assert manifest is not None and manifest.published is not None
    return manifest


def _records(archive: bytes, sdk) -> list[dict]:
    """The archive's records as the SDK's own reader gives them."""
    records: list[dict] = []
    sdk.read_all(io.BytesIO(archive), lambda record: records.append(record) or True)
    return records


def test_the_hours_batches_and_one_batch_are_the_published_objects(server, paid):
    for at in (FIRST, SECOND):
        listing = _listing(server.store, at)
        assert {b["identifier"] for b in listing} >= {ID}
        batches = paid.get_batches(at)
        assert sorted(b.identifier for b in batches) == sorted(b["identifier"] for b in listing)
        manifest = _manifest(server.store, at)
        one = paid.get_batch(at, ID)
        assert (one.identifier, one.version) == (ID, manifest.archive.md5)
        assert one.is_part_of.identifier == PROJECT and one.namespace.identifier == 0
        assert one.size.value == round(manifest.archive.bytes / 1e6, 3)
        assert server.get(_path(at) + f"/{ID}", paid.access_token).json() == next(
            b for b in listing if b["identifier"] == ID
        )


def test_fields_filters_limit_and_ndjson_as_the_snapshot_lists(server, paid):
    token = paid.access_token
    listing = _listing(server.store, SECOND)
    fields = Request(fields=["identifier", "version"], filters=[{"field": "namespace.identifier", "value": 0}])
    assert [(b.identifier, b.version, b.size) for b in paid.get_batches(SECOND, fields)] == [
        (b["identifier"], b["version"], None) for b in listing if b["namespace"]["identifier"] == 0
    ]
    posted = httpx.post(f"{server.url}{_path(SECOND)}", json={"limit": 1, "fields": ["identifier"]},
                        headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert posted.status_code == 200 and posted.json() == [{"identifier": listing[0]["identifier"]}]
    ndjson = server.get(_path(SECOND), token, headers={"Accept": "application/x-ndjson"})
    assert ndjson.headers["content-type"].startswith("application/x-ndjson")
    assert [orjson.loads(line) for line in ndjson.content.splitlines()] == listing
    one = server.get(_path(SECOND) + f"/{ID}", token, params={"fields": "version"})
    assert one.json() == {"version": _manifest(server.store, SECOND).archive.md5}


def test_head_and_download_are_the_published_archive(server, paid, tmp_path):
    for at in (FIRST, SECOND):
        manifest = _manifest(server.store, at)
        head = paid.head_batch(at, ID)
        assert head["Content-Length"] == manifest.archive.bytes and head["Content-Type"] == "application/gzip"
        assert head["ETag"] == manifest.archive.md5 and head["Last-Modified"] and head["Accept-Ranges"] == "bytes"
        target = tmp_path / f"{_hour(at)}.tar.gz"
        with target.open("wb") as writer:
            paid.download_batch(at, ID, writer)
        data = target.read_bytes()
        assert hashlib.sha256(data).hexdigest() == manifest.archive.sha256
        assert data == server.store.read_bytes(server.store.key(manifest.archive.key))

    # Ranges as for snapshots: exact, suffix, unsatisfiable.
    url, size = f"{_path(SECOND)}/{ID}/download", _manifest(server.store, SECOND).archive.bytes
    whole = server.store.read_bytes(server.store.key(_manifest(server.store, SECOND).archive.key))
    part = server.get(url, paid.access_token, headers={"Range": "bytes=10-99"})
    assert part.status_code == 206 and part.content == whole[10:100]
    assert part.headers["content-range"] == f"bytes 10-99/{size}"
    assert server.get(url, paid.access_token, headers={"Range": "bytes=-5"}).content == whole[-5:]
    refused = server.get(url, paid.access_token, headers={"Range": f"bytes={size}-"})
    assert refused.status_code == 416 and refused.headers["content-range"] == f"bytes */{size}"


def test_read_batch_sees_every_record_as_published(server, paid):
    for at, kinds in ((FIRST, {"create"}), (SECOND, {"create", "delete"})):
        manifest = _manifest(server.store, at)
        archive = server.store.read_bytes(server.store.key(manifest.archive.key))
        published = _records(archive, paid)
        assert len(published) == manifest.record_count > 0
        assert {r["event"]["type"] for r in published} == kinds
        seen: list = []
        paid.read_batch(at, ID, lambda batch, seen=seen: seen.append(batch.identifier) or True)  # a Batch per line
        assert seen == [r["identifier"] for r in published]
    deleted = [r for r in _records(archive, paid) if r["event"]["type"] == "delete"]
    assert deleted and all(r["namespace"]["identifier"] == 0 for r in deleted)


def test_free_accounts_are_refused(server, free):
    for call in (lambda: free.get_batches(SECOND), lambda: free.get_batch(SECOND, ID),
                 lambda: free.head_batch(SECOND, ID)):  # fmt: skip
        with pytest.raises(APIStatusError) as refused:
            call()
        assert _status(refused) == 403
    response = server.get(f"{_path(SECOND)}/{ID}/download", free.access_token)
    assert response.status_code == 403
    assert response.json() == {"status": 403, "message": "Forbidden: hourly batches are for paid accounts"}


def test_unknown_old_and_malformed_hours(server, paid):
    token = paid.access_token
    with pytest.raises(APIStatusError) as missing:
        paid.get_batches(NOW + timedelta(hours=5))
    assert _status(missing) == 404
    with pytest.raises(APIStatusError) as missing:
        paid.get_batch(SECOND, f"{PROJECT}_namespace_2")
    assert _status(missing) == 404
    old = server.get(_path(OLD), token)
    assert old.status_code == 404 and "kept 7 days" in old.json()["message"]
    assert server.get(_path(NOW + timedelta(hours=5)), token).json()["message"].startswith("Not Found: no batches")
    for path in ("2023-5-2/10", "2023-05-02/24", "2023-05-02/1", "20230502/10", "2023-13-01/00"):
        assert server.get(f"v2/batches/{path}", token).status_code == 422, path
    assert server.get("v2/batches/2023-02-30/10", token).status_code == 404


def test_path_parameters_reach_nothing_outside_the_batches(server, paid):
    token = paid.access_token
    day, hour = SECOND.strftime("%Y-%m-%d"), SECOND.strftime("%H")
    assert _raw(server, f"/v2/batches/{day}/{hour}/{ID}", token) == 200
    attempts = [
        f"/v2/batches/{day}/{hour}/..%2F..%2F..%2Fsnapshots/download",
        f"/v2/batches/{day}/{hour}/{ID}.manifest/download",
        f"/v2/batches/{day}/..%2F{hour}/{ID}/download",
        f"/v2/batches/{day}/{hour}/%2e%2e/download",
        f"/v2/batches/..%2Faggregations/{hour}/{ID}",
        f"/v2/batches/{day}/{hour}/../../../snapshots/{ID}/download",
        f"/v2/batches/{day}/{hour}/{ID.upper()}",
        f"/v2/batches/{day}/{hour}/%00",
    ]
    for path in attempts:
        assert _raw(server, path, token) in (404, 422), path
