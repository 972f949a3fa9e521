"""Talking to the Hugging Face Hub: retries, the upload of a tree as one tagged commit, and the entry point.

:func:`publish_to_hub` uploads when it has a token (or an ``api``), else writes the dry run to object
storage; the token and repository are passed in (wme's settings: ``HF_TOKEN``, ``WME_HF_REPO``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import SecretStr

from wme_assets.publishing.huggingface.tree import (
    DryRun,
    RepoTree,
    build_repo_tree,
    materialize_tree,
    write_dry_run,
)
from wme_assets.publishing.parquet import MANIFEST_SUFFIX, ParquetManifest
from wme_assets.storage.object_store import ObjectStore

log = logging.getLogger(__name__)

TOKEN_ENV = "HF_TOKEN"
REPO_ENV = "WME_HF_REPO"
DEFAULT_DRY_RUN_REPO = "wme/wikimedia-snapshots"  # names the dry-run folder when WME_HF_REPO is unset
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})

T = TypeVar("T")


def _transient(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if status is not None:
        return status in RETRY_STATUS
    # The hub client's transport errors (httpx's TransportError family) or the OS's.
    return isinstance(exc, ConnectionError | TimeoutError) or any(
        cls.__name__ == "TransportError" for cls in type(exc).__mro__
    )


def with_retries(
    call: Callable[..., T],
    *args: Any,
    retries: int = 4,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    **kwargs: Any,
) -> T:
    """``call(*args, **kwargs)``, retried ``retries`` times on 429/5xx and connection errors."""
    for attempt in range(retries + 1):
        try:
            return call(*args, **kwargs)
        except Exception as exc:
            if attempt == retries or not _transient(exc):
                raise
            delay = backoff * 2**attempt
            log.warning(
                "%s failed (%s), retry %d/%d in %.1fs",
                getattr(call, "__name__", call),
                exc,
                attempt + 1,
                retries,
                delay,
            )
            sleep(delay)
    raise AssertionError("unreachable")


@dataclass
class HubUpload:
    repo_id: str
    date: str
    commit: str  # the commit id
    commit_url: str
    tag: str
    added: list[str]
    deleted: list[str]


def upload_tree(
    tree: RepoTree,
    local_root: str | os.PathLike[str],
    *,
    token: str,
    api: Any = None,
    private: bool | None = None,
    retries: int = 4,
    backoff: float = 1.0,
) -> HubUpload:
    """Upload a materialized tree as one commit and tag it with the snapshot date.

    ``api`` defaults to ``huggingface_hub.HfApi(token=token)``. Shards of a replaced config that the new
    tree no longer has are deleted in the same commit, so a config's folder holds exactly its files. A tag
    of the same date (a re-run) is moved to the new commit.

    Large files: ``create_commit`` uploads the Parquet shards to the hub's large-file storage first (in
    parts, several in parallel) and commits only once every file is there, so an interrupted upload never
    leaves a half commit. A retry or a re-run asks the hub which blobs it already holds (by SHA-256) and
    uploads only the missing ones: the upload resumes at file granularity. A re-run with nothing changed
    makes no new commit (huggingface_hub skips a commit whose files are all unchanged).
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    api = api if api is not None else HfApi(token=token)
    root = Path(local_root)

    def hub(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return with_retries(call, *args, retries=retries, backoff=backoff, **kwargs)

    hub(api.create_repo, tree.repo_id, repo_type="dataset", exist_ok=True, private=private)
    existing = set(hub(api.list_repo_files, tree.repo_id, repo_type="dataset"))
    replaced = tuple(f"data/{name}/" for name in tree.configs)
    stale = sorted(p for p in existing if p.startswith(replaced) and p not in tree.paths())
    operations: list[Any] = [
        CommitOperationAdd(path_in_repo=item.path, path_or_fileobj=str(root / item.path)) for item in tree.files
    ]
    operations += [CommitOperationDelete(path_in_repo=path) for path in stale]
    rows = sum(item.rows or 0 for item in tree.files)
    commit = hub(
        api.create_commit,
        tree.repo_id,
        operations,
        commit_message=f"Snapshot {tree.date}: {', '.join(tree.configs)}",
        commit_description=f"{rows:,} records in {sum(1 for f in tree.files if f.source_key)} Parquet files, "
        "published by wme.",
        repo_type="dataset",
    )
    tag = tree.date
    refs = hub(api.list_repo_refs, tree.repo_id, repo_type="dataset")
    if any(ref.name == tag for ref in refs.tags):
        hub(api.delete_tag, tree.repo_id, tag=tag, repo_type="dataset")
    hub(
        api.create_tag,
        tree.repo_id,
        tag=tag,
        revision=commit.oid,
        repo_type="dataset",
        tag_message=f"wme snapshot {tree.date}",
    )
    return HubUpload(
        repo_id=tree.repo_id,
        date=tree.date,
        commit=commit.oid,
        commit_url=commit.commit_url,
        tag=tag,
        added=[item.path for item in tree.files],
        deleted=stale,
    )


def fetch_repo_manifests(
    api: Any, repo_id: str, *, cache_dir: str | os.PathLike[str], retries: int = 4, backoff: float = 1.0
) -> list[ParquetManifest]:
    """The manifests already in the hub repository (none when it does not exist yet)."""
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        files = with_retries(api.list_repo_files, repo_id, repo_type="dataset", retries=retries, backoff=backoff)
    except RepositoryNotFoundError:
        return []
    manifests = []
    for path in sorted(p for p in files if p.startswith("manifests/") and p.endswith(MANIFEST_SUFFIX)):
        local = with_retries(
            api.hf_hub_download,
            repo_id,
            path,
            repo_type="dataset",
            cache_dir=str(cache_dir),
            retries=retries,
            backoff=backoff,
        )
        manifests.append(ParquetManifest.from_json(Path(local).read_bytes()))
    return manifests


@dataclass
class HubPublication:
    mode: Literal["hub", "dry-run"]
    repo_id: str
    date: str
    configs: list[str]
    files: int
    rows: int
    location: str  # the commit URL, or the dry run's s3:// prefix
    upload: HubUpload | None = None
    dry_run: DryRun | None = None
    tree: RepoTree | None = field(default=None, repr=False)

    @classmethod
    def of(cls, tree: RepoTree, *, rows: int, **outcome: Any) -> HubPublication:
        """The publication of ``tree``; ``outcome`` is the mode, the location and the upload or dry run."""
        return cls(
            repo_id=tree.repo_id,
            date=tree.date,
            configs=tree.configs,
            files=len(tree.files),
            rows=rows,
            tree=tree,
            **outcome,
        )


def publish_to_hub(
    store: ObjectStore,
    manifests: Sequence[ParquetManifest],
    *,
    work_dir: str | os.PathLike[str],
    repo_id: str | None = None,
    token: str | SecretStr | None = None,
    local_dirs: Sequence[str | os.PathLike[str]] = (),
    api: Any = None,
    private: bool | None = None,
    retries: int = 4,
    backoff: float = 1.0,
) -> HubPublication:
    """Publish one snapshot date's Parquet manifests as a Hugging Face dataset commit, or dry-run it.

    ``token`` and ``repo_id`` come from the caller (wme's settings read them from ``HF_TOKEN`` and
    ``WME_HF_REPO``). With a token (or an ``api``) the tree goes to the hub (:func:`upload_tree`, the card
    keeping the configs already there); without one it is written to object storage
    (:func:`write_dry_run`), under ``repo_id`` or :data:`DEFAULT_DRY_RUN_REPO`.
    """
    if isinstance(token, SecretStr):
        token = token.get_secret_value()
    token = token or None
    repo_id = repo_id or None
    rows = sum(m.rows for m in manifests)
    if token is None and api is None:
        tree = build_repo_tree(manifests, repo_id=repo_id or DEFAULT_DRY_RUN_REPO)
        dry = write_dry_run(store, tree)
        log.info("no %s: wrote the dataset tree of %s to %s", TOKEN_ENV, tree.date, dry.uri)
        return HubPublication.of(tree, rows=rows, mode="dry-run", location=dry.uri, dry_run=dry)
    if repo_id is None:
        raise ValueError(f"set {REPO_ENV} (owner/name of the dataset repository) to upload to the hub")
    from huggingface_hub import HfApi

    api = api if api is not None else HfApi(token=token)
    work = Path(work_dir)
    previous = fetch_repo_manifests(api, repo_id, cache_dir=work / "hub-cache", retries=retries, backoff=backoff)
    tree = build_repo_tree(manifests, repo_id=repo_id, previous=previous)
    local_root = materialize_tree(tree, work / "tree", store=store, local_dirs=local_dirs)
    upload = upload_tree(tree, local_root, token=token, api=api, private=private, retries=retries, backoff=backoff)
    return HubPublication.of(tree, rows=rows, mode="hub", location=upload.commit_url, upload=upload)
