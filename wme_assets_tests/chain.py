"""The first stages of the chain, run in process for tests that start further down it."""

from __future__ import annotations

from pathlib import Path

from wme_assets.ingestion.download import download_run
from wme_assets.ingestion.run import ingest_pages
from wme_assets.sources.dumps_client import DumpsClient
from wme_assets.storage.object_store import ObjectStore


def ingest_from_mirror(store: ObjectStore, mirror_root: Path, project: str, date: str, *, workers: int = 1) -> None:
    """A dumps run of a local mirror into ``store``: its status and verified files, then the page store."""
    client = DumpsClient(mirror_root.as_uri())
    store.put_bytes(store.key(f"raw/{project}/{date}/dumpstatus.json"), client.fetch_status_bytes(project, date))
    download_run(client, store, project, date)
    ingest_pages(store, project, date, workers=workers, log=lambda _: None)
