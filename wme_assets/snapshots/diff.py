"""What changed between two published article snapshots of a project: pages added, changed and deleted.

A reuser who holds the snapshot of one day needs only the pages to fetch again and the pages to drop to
catch up with a later one. This compares the two published snapshots of every exported namespace, never the
article store behind them: a diff describes exactly what a reuser downloaded.

- **Which snapshots.** Published ones only, found through their manifests
  (``snapshots/{date}/{dbname}_namespace_{ns}{sfx}.manifest.json``) and streamed by
  :func:`~wme_assets.snapshots.read.iter_snapshot_records`, which re-verifies every byte against the
  manifest. A namespace published on only one of the two days is reported (``missing_on``), not diffed; a
  day with none of the namespaces asked for is an error (:class:`MissingSnapshotError`) naming the key
  and the days that do exist.
- **How.** Both archives are in page id order (the reader refuses anything else), so the comparison is a
  streaming merge join (:func:`merge_join`): memory is one record of each side, whatever the snapshot's
  size. A page only in ``to`` is added; only in ``from`` deleted (a tombstone with the last title and
  revision seen); in both it is changed when its revision, title or content differs (content: the
  ``wme.provenance.content_hash`` of both records when they carry it, else the line's bytes), else counted
  as unchanged. A page moved to another exported namespace is deleted in one and added in the other.
- **Output.** ``diffs/{project}/{from}-{to}{sfx}/namespace_{ns}.ndjson.gz`` (one
  :class:`~wme_assets.schema.diff.PageDiff` per line, in page id order; byte-reproducible) and
  ``summary.json`` (:class:`~wme_assets.schema.diff.DiffSummary`), each published atomically
  (:meth:`ObjectStore.publish_file`, :meth:`ObjectStore.put_bytes`), the summary last and only after both
  archives were read to their end and verified. A re-run writes the same bytes; a namespace whose two
  manifests and diff file are those the summary names is not read again.
"""

from __future__ import annotations

import heapq
import io
import itertools
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import orjson
from isal import igzip
from pydantic import ValidationError

from wme_assets.schema.diff import (
    ASPECTS,
    CHANGE_KINDS,
    DiffFile,
    DiffSummary,
    NamespaceDiff,
    PageDiff,
    PageState,
    SnapshotRef,
    zero_counts,
)
from wme_assets.snapshots.layout import parse_dated_key, snapshot_key, suffix
from wme_assets.snapshots.read import (
    SnapshotMismatchError,
    SnapshotNotFoundError,
    SnapshotSource,
    SnapshotSourceError,
    iter_snapshot_records,
    open_snapshot,
)
from wme_assets.snapshots.run import EXPORTED_NAMESPACES
from wme_assets.storage.object_store import ObjectStore
from wme_assets.util.dates import check_yyyymmdd
from wme_assets.util.digests import DigestReader
from wme_assets.util.progress import Progress

Record = tuple[int, bytes]  # (page id, NDJSON line), as the snapshot reader yields them


class SnapshotDiffError(SnapshotSourceError):
    """Two snapshots cannot be compared (bad dates, a snapshot of another project)."""


class MissingSnapshotError(SnapshotDiffError):
    """A day has no published snapshot of any namespace asked for."""


# --- keys ------------------------------------------------------------------------------------------


def snapshot_identifier(project: str, namespace: int) -> str:
    return f"{project}_namespace_{namespace}"


def diff_folder(project: str, from_date: str, to_date: str, tier: str = "paid") -> str:
    """``diffs/{project}/{from}-{to}{sfx}``: every file of one diff (relative to the store's prefix)."""
    return f"diffs/{project}/{from_date}-{to_date}{suffix(tier)}"


def diff_key(project: str, from_date: str, to_date: str, namespace: int, tier: str = "paid") -> str:
    return f"{diff_folder(project, from_date, to_date, tier)}/namespace_{namespace}.ndjson.gz"


def summary_key(project: str, from_date: str, to_date: str, tier: str = "paid") -> str:
    return f"{diff_folder(project, from_date, to_date, tier)}/summary.json"


# --- which snapshots exist -------------------------------------------------------------------------


def published_dates(
    store: ObjectStore, project: str, tier: str = "paid", namespaces: Iterable[int] = EXPORTED_NAMESPACES
) -> list[str]:
    """The days with a published article snapshot (a manifest at its dated key) of any of the namespaces."""
    identifiers = {snapshot_identifier(project, namespace) for namespace in namespaces}
    dates = set()
    for info in store.list(store.key("snapshots") + "/"):
        dated = parse_dated_key(info.key[len(store.prefix) :])
        if (
            dated is not None
            and dated.key.endswith(".manifest.json")
            and (dated.kind, dated.tier) == ("articles", tier)
            and dated.identifier in identifiers
        ):
            dates.add(dated.date)
    return sorted(dates)


def previous_snapshot_date(store: ObjectStore, project: str, date: str, tier: str = "paid") -> str | None:
    """The newest day before ``date`` with a published snapshot of the project, or None."""
    earlier = [day for day in published_dates(store, project, tier) if day < date]
    return earlier[-1] if earlier else None


def _open(store: ObjectStore, project: str, namespace: int, date: str, tier: str) -> SnapshotSource | None:
    """The published snapshot, checked (see :func:`open_snapshot`), or None when it was never published."""
    key = snapshot_key(date, snapshot_identifier(project, namespace), tier, "manifest")
    try:
        source = open_snapshot(store, key)
    except SnapshotNotFoundError:
        return None
    manifest = source.manifest
    if (manifest.is_part_of, manifest.namespace) != (project, namespace):
        raise SnapshotDiffError(
            f"{store.uri(store.key(key))} is a snapshot of {manifest.is_part_of} namespace {manifest.namespace}, "
            f"not of {project} namespace {namespace}"
        )
    return source


def _missing(store: ObjectStore, project: str, date: str, tier: str, namespaces: tuple[int, ...]) -> Exception:
    key = snapshot_key(date, snapshot_identifier(project, namespaces[0]), tier, "manifest")
    dates = published_dates(store, project, tier, namespaces)
    where = f"{project} has {tier} snapshots on {', '.join(dates)}" if dates else f"{project} has no {tier} snapshot"
    return MissingSnapshotError(f"no published snapshot at {store.uri(store.key(key))} ({date}); {where}")


# --- comparing -------------------------------------------------------------------------------------


def merge_join(before: Iterable[Record], after: Iterable[Record]) -> Iterator[tuple[int, bytes | None, bytes | None]]:
    """``(page_id, line before, line after)`` of every page of two streams in ascending page id order.

    Lazy on both sides (``heapq.merge``): it holds one record of each, so memory does not grow with the
    streams. A side without the page gives None.
    """
    tagged = heapq.merge(
        ((page_id, 0, line) for page_id, line in before),
        ((page_id, 1, line) for page_id, line in after),
        key=lambda item: (item[0], item[1]),
    )
    for page_id, group in itertools.groupby(tagged, key=lambda item: item[0]):
        lines: list[bytes | None] = [None, None]
        for _, side, line in group:
            lines[side] = line
        yield page_id, lines[0], lines[1]


def _state(record: dict) -> PageState:
    return PageState(name=record["name"], revision=record["version"]["identifier"])


def _content_hash(record: dict) -> str | None:
    return ((record.get("wme") or {}).get("provenance") or {}).get("content_hash") or None


def compare_page(namespace: int, page_id: int, before: bytes | None, after: bytes | None) -> PageDiff | None:
    """What changed for one page (None: unchanged). ``before``/``after``: its line in each snapshot, or None."""
    if before == after:
        return None
    old = orjson.loads(before) if before is not None else None
    new = orjson.loads(after) if after is not None else None
    if old is None or new is None:
        change = "added" if old is None else "deleted"
        return PageDiff(
            namespace=namespace,
            identifier=page_id,
            change=change,
            before=_state(old) if old is not None else None,
            after=_state(new) if new is not None else None,
        )
    was, now = _state(old), _state(new)
    hashes = (_content_hash(old), _content_hash(new))
    content_changed = hashes[0] != hashes[1] if all(hashes) else True  # the lines differ
    changed = {"revision": was.revision != now.revision, "title": was.name != now.name, "content": content_changed}
    aspects = [aspect for aspect in ASPECTS if changed[aspect]]
    if not aspects:
        return None  # only our own provenance differs (another run wrote the same article)
    return PageDiff(namespace=namespace, identifier=page_id, change="changed", changes=aspects, before=was, after=now)


def page_diffs(
    namespace: int, before: Iterable[Record], after: Iterable[Record], counts: Counter[str]
) -> Iterator[PageDiff]:
    """Every added, changed and deleted page of two page-id-ordered streams; ``counts`` gets every page's
    kind (``unchanged`` too) and every changed aspect."""
    for page_id, old, new in merge_join(before, after):
        diff = compare_page(namespace, page_id, old, new)
        counts[diff.change if diff else "unchanged"] += 1
        if diff is not None:
            counts.update(diff.changes)
            yield diff


def _ref(source: SnapshotSource) -> SnapshotRef:
    return SnapshotRef(
        date=source.date,
        manifest_key=source.manifest_key,
        manifest_sha256=source.manifest_sha256,
        records=source.record_count,
    )


def _diff_namespace(
    store: ObjectStore, key: str, before: SnapshotSource, after: SnapshotSource, log: Callable[[str], None]
) -> NamespaceDiff:
    """Stream both snapshots into a local diff file; publish it once both were read to their end."""
    namespace = after.manifest.namespace
    counts: Counter[str] = Counter()
    progress = Progress(f"diffing {after.identifier}", after.record_count, log, unit="articles")
    new = progress.wrap(iter_snapshot_records(store, after))
    with tempfile.TemporaryDirectory(prefix="wme-diff-") as tmp:
        path = Path(tmp) / "diff.ndjson.gz"
        with path.open("wb") as raw, igzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
            for diff in page_diffs(namespace, iter_snapshot_records(store, before), new, counts):
                out.write(diff.model_dump_json().encode() + b"\n")
        published = store.publish_file(path, store.key(key), content_type="application/gzip")
    return NamespaceDiff(
        namespace=namespace,
        identifier=after.identifier,
        before=_ref(before),
        after=_ref(after),
        counts={kind: counts[kind] for kind in zero_counts()},
        changed={aspect: counts[aspect] for aspect in ASPECTS},
        diff=DiffFile(key=key, bytes=published.size, sha256=published.sha256),
    )


# --- the diff of a project -------------------------------------------------------------------------


def read_summary(
    store: ObjectStore, project: str, from_date: str, to_date: str, tier: str = "paid"
) -> DiffSummary | None:
    """The published summary of a diff, or None (never published, or not a summary)."""
    key = store.key(summary_key(project, from_date, to_date, tier))
    if store.head(key) is None:
        return None
    try:
        return DiffSummary.from_json(store.read_bytes(key))
    except ValidationError:
        return None


def _reusable(
    store: ObjectStore, previous: DiffSummary | None, before: SnapshotSource, after: SnapshotSource
) -> NamespaceDiff | None:
    """The namespace's entry of an earlier run when it compared these very manifests and its file is intact."""
    entry = next((e for e in previous.namespaces if e.identifier == after.identifier), None) if previous else None
    if entry is None or entry.diff is None or entry.before is None or entry.after is None:
        return None
    if (entry.before.manifest_sha256, entry.after.manifest_sha256) != (before.manifest_sha256, after.manifest_sha256):
        return None
    info = store.head(store.key(entry.diff.key))
    return entry if info is not None and (info.size, info.sha256) == (entry.diff.bytes, entry.diff.sha256) else None


def _check_dates(from_date: str, to_date: str) -> None:
    check_yyyymmdd(from_date, "the --from date", SnapshotDiffError)
    check_yyyymmdd(to_date, "the --to date", SnapshotDiffError)
    if from_date >= to_date:
        raise SnapshotDiffError(f"the --from date must be before the --to date, got {from_date} and {to_date}")


def diff_snapshots(
    store: ObjectStore,
    project: str,
    from_date: str,
    to_date: str,
    *,
    tier: str = "paid",
    namespaces: tuple[int, ...] = EXPORTED_NAMESPACES,
    log: Callable[[str], None] = print,
) -> DiffSummary:
    """Compare the published article snapshots of ``project`` on two days, publish the diff and its summary.

    Raises :class:`MissingSnapshotError` when a day has no published snapshot of any of ``namespaces``,
    :class:`SnapshotDiffError` on bad dates or a snapshot of another project, and the reader's errors
    (:class:`~wme_assets.snapshots.read.SnapshotRefusedError`, :class:`SnapshotMismatchError`) when a snapshot
    does not verify; nothing is published then. The summary keeps other namespaces' entries of an earlier run.
    """
    _check_dates(from_date, to_date)
    suffix(tier)
    pairs = {
        ns: (_open(store, project, ns, from_date, tier), _open(store, project, ns, to_date, tier)) for ns in namespaces
    }
    for side, date in enumerate((from_date, to_date)):
        if all(pair[side] is None for pair in pairs.values()):
            raise _missing(store, project, date, tier, namespaces)
    previous = read_summary(store, project, from_date, to_date, tier)
    entries = {}
    for namespace, (before, after) in pairs.items():
        identifier = snapshot_identifier(project, namespace)
        if before is None or after is None:
            missing_on = [date for date, source in ((from_date, before), (to_date, after)) if source is None]
            log(f"{identifier}: no published {tier} snapshot on {', '.join(missing_on)}; not compared")
            entries[namespace] = NamespaceDiff(namespace=namespace, identifier=identifier, missing_on=missing_on)
        else:
            key = diff_key(project, from_date, to_date, namespace, tier)
            entries[namespace] = _reusable(store, previous, before, after) or _diff_namespace(
                store, key, before, after, log
            )
    kept = [entry for entry in (previous.namespaces if previous else []) if entry.namespace not in entries]
    summary = DiffSummary(
        project=project,
        tier=tier,
        from_date=from_date,
        to_date=to_date,
        namespaces=sorted([*kept, *entries.values()], key=lambda entry: entry.namespace),
    )
    store.put_bytes(
        store.key(summary_key(project, from_date, to_date, tier)), summary.to_json(), content_type="application/json"
    )
    return summary


def iter_page_diffs(store: ObjectStore, entry: NamespaceDiff) -> Iterator[PageDiff]:
    """The records of one namespace's published diff file, streamed; its SHA-256 is checked at the end."""
    if entry.diff is None:
        return
    reader = DigestReader(store.iter_chunks(store.key(entry.diff.key)))
    with igzip.GzipFile(fileobj=io.BufferedReader(reader), mode="rb") as lines:
        for line in lines:
            yield PageDiff.model_validate_json(line)
    reader.drain()
    if reader.sha256.hexdigest() != entry.diff.sha256:
        raise SnapshotMismatchError(
            f"{store.uri(store.key(entry.diff.key))}: sha256 is {reader.sha256.hexdigest()}, "
            f"the summary says {entry.diff.sha256}"
        )


__all__ = [
    "CHANGE_KINDS",
    "MissingSnapshotError",
    "SnapshotDiffError",
    "compare_page",
    "diff_folder",
    "diff_key",
    "diff_snapshots",
    "iter_page_diffs",
    "merge_join",
    "page_diffs",
    "previous_snapshot_date",
    "published_dates",
    "read_summary",
    "summary_key",
]
