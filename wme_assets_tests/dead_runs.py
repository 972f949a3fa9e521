"""Exports that die: a real export in a child process, stopped at a chosen request, and what it leaves.

The child runs :func:`~wme_assets.snapshots.run.export_snapshots` against a real SeaweedFS. A ``Pause`` holds
it at the N-th request of one kind to a matching key (a botocore ``before-send`` hook on its real client: the
request is delayed, not replaced), after writing a marker file; the test then SIGKILLs the child (or the
server) at exactly that point. Nothing in wme is changed or mocked.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY
from wme_assets.storage.article_store import ArticleStoreWriter, publish_base
from wme_assets.storage.object_store import STAGING_DIR, ObjectStore
from wme_assets_tests.records import load_real_records

PROJECT = "enwiki"
IDENTIFIER = "enwiki_namespace_0"
COPIES = 3  # the real records, each repeated under fresh page ids: enough chunks to stop between them
MEMBER_BYTES = 1  # every article is a member (and a chunk) of its own


def write_base(store: ObjectStore, tmp_path: Path, date: str) -> int:
    """An article-store base of real Enterprise records (all projects' records, re-keyed as enwiki pages)."""
    records = [line for group in load_real_records().values() for _, line in group]
    modified = datetime.strptime(date, "%Y%m%d").replace(tzinfo=UTC)
    count = 0
    with ArticleStoreWriter(tmp_path / f"base-{date}", project=PROJECT, source=f"dump:{date}", run_id="r") as writer:
        for copy in range(COPIES):
            for index, line in enumerate(records):
                record = orjson.loads(line)
                page_id = 1_000 * (copy + 1) + index
                record["identifier"] = page_id
                record["namespace"] = {"identifier": 0}
                record["name"] = f"{record['name']} ({copy})"
                record["date_modified"] = f"{modified:%Y-%m-%dT%H:%M:%SZ}"
                writer.add(page_id, 0, record["name"], 1, modified, orjson.dumps(record))
                count += 1
    publish_base(store, tmp_path / f"base-{date}", PROJECT, date)
    return count


@dataclass(frozen=True)
class Pause:
    """Hold the child at its ``nth`` ``operation`` (S3 API name) whose URL contains ``url_part``."""

    operation: str
    url_part: str
    nth: int = 1


def export_in_child(
    store: ObjectStore, date: str, work_dir: Path, *, pause: Pause | None = None, max_attempts: int = 5
) -> tuple[subprocess.Popen, Path, Path]:
    """Start the export; returns the child, the marker it writes when paused, and the file that resumes it."""
    marker, resume = work_dir / "paused", work_dir / "resume"
    script = textwrap.dedent(
        f"""
        import threading, time
        from pathlib import Path
        from wme_assets.snapshots.run import export_snapshots
        from wme_assets.storage.object_store import ObjectStore
        store = ObjectStore(bucket={store.bucket!r}, prefix={store.prefix!r}, endpoint_url={store.endpoint_url!r},
                            access_key={EMBEDDED_ACCESS_KEY!r}, secret_key={EMBEDDED_SECRET_KEY!r},
                            max_attempts={max_attempts!r}, connect_timeout=2)
        pause = {None if pause is None else (pause.operation, pause.url_part, pause.nth)!r}
        if pause:
            operation, url_part, nth = pause
            seen, lock = [0], threading.Lock()

            def hold(request, **kwargs):
                if url_part not in request.url:
                    return None
                with lock:
                    seen[0] += 1
                    reached = seen[0] >= nth
                if reached:
                    Path({str(marker)!r}).touch()
                    while not Path({str(resume)!r}).exists():
                        time.sleep(0.05)
                return None  # the request goes on unchanged

            store.client.meta.events.register("before-send.s3." + operation, hold)
        export_snapshots(store, {PROJECT!r}, {date!r}, namespaces=(0,), max_member_bytes={MEMBER_BYTES},
                         work_dir={str(work_dir)!r}, log=lambda _: None)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    return child, marker, resume


def wait_for(path: Path, child: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert child.poll() is None, f"the export ended (code {child.returncode}) before it reached the pause"
        assert time.monotonic() < deadline, f"the export did not reach the pause within {timeout}s"
        time.sleep(0.02)


def staging_objects_and_uploads(store: ObjectStore) -> tuple[list[str], list[str]]:
    """The keys of the objects and of the unfinished multipart uploads under the store's staging."""
    prefix = store.prefix + STAGING_DIR + "/"
    objects = [info.key for info in store.list(prefix, include_staging=True)]
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=prefix).get("Uploads", [])
    return objects, [upload["Key"] for upload in uploads]


def staging_left(store: ObjectStore) -> list[str]:
    """Objects and unfinished multipart uploads under the store's staging."""
    objects, uploads = staging_objects_and_uploads(store)
    return objects + uploads


def dated_keys(store: ObjectStore, date: str) -> set[str]:
    """Every object at the dated keys of ``date`` (snapshots and chunks), relative to the store's prefix."""
    keys = set()
    for top in ("snapshots", "chunks"):
        keys |= {info.key[len(store.prefix) :] for info in store.list(store.key(top, date) + "/")}
    return keys
