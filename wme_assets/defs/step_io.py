"""Where the split job's steps hand each other their outputs (``WME_STEP_IO``).

Dagster passes each op's outputs to the ops after it through an IO manager. Its default keeps them on the run's
disk, which the Kubernetes Jobs of ``k8s_job_executor`` do not share: there each step is a pod of its own. With
``WME_STEP_IO=s3`` (the default with ``WME_STEP_EXECUTOR=k8s``) the outputs are pickled into the object store,
at ``runs/{run_id}/{step_key}/{output}[/{mapping_key}]``, so any pod can read them, and a re-execution from
failure reads what the failed run's successful steps left there. The outputs are small (plans, object keys,
figures): the steps' files are in the object store already (``steps/{project}/{date}/``), and a local path in
an output is refused, since another pod could not open it. The main_split job's last op removes its run's
objects (and those of the runs it re-executed) once everything else has succeeded; a failed run keeps them.

Not dagster-aws's S3PickleIOManager: it needs an S3Resource of its own (endpoint, and for the embedded SeaweedFS
its keys, in the run's config), and knows neither wme's store (prefix, embedded server, failure classes) nor
the removal of a run's outputs. This is a few lines on :class:`~wme_assets.storage.ObjectStore`.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import PurePath

import dagster as dg

from wme_assets.defs.resources import ObjectStorageResource
from wme_assets.failures import explain
from wme_assets.settings import load_settings
from wme_assets.storage.keys import run_key

STEP_IO_KEY = "step_io"
PICKLE_CONTENT_TYPE = "application/x-python-pickle"


class _NoLocalPaths(pickle.Pickler):
    def reducer_override(self, obj):
        if isinstance(obj, PurePath):
            raise ValueError(
                f"a step output holds the local path {obj}, which a step on another machine cannot open: "
                "publish the file to the object store and hand over its key"
            )
        return NotImplemented


def dump_step_output(obj) -> bytes:
    """``obj`` pickled, refusing any local path in it."""
    buffer = io.BytesIO()
    _NoLocalPaths(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


@contextmanager
def _retried_if_transient(what: str) -> Iterator[None]:
    """A step's retry policy retries whatever its IO manager raises: only what may go away is left to it."""
    try:
        yield
    except Exception as exc:
        cause = explain(exc)
        if cause.transient:
            raise
        raise dg.Failure(description=f"{what}: {cause.message}", allow_retries=False) from exc


class ObjectStoreStepIO(dg.ConfigurableIOManager):
    """Each step output pickled to ``runs/{run_id}/...`` in the object store (one PUT: complete or absent)."""

    object_storage: ObjectStorageResource

    def _key(self, identifier: list[str]) -> str:
        run_id, *names = identifier  # the run that wrote the output: a re-execution reads its parent's
        return self.object_storage.store.key(run_key(run_id, "/".join(names)))

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        with _retried_if_transient(f"{context.step_key}: storing its output {context.name!r}"):
            store = self.object_storage.store
            key = self._key(context.get_identifier())
            store.put_whole(key, dump_step_output(obj), content_type=PICKLE_CONTENT_TYPE)
        context.add_output_metadata({"uri": dg.MetadataValue.path(store.uri(key))})

    def load_input(self, context: dg.InputContext):
        upstream = context.upstream_output
        with _retried_if_transient(f"reading the output {upstream.name!r} of {upstream.step_key}"):
            store = self.object_storage.store
            key = self._key(upstream.get_identifier())
            if store.head(key) is None:
                raise FileNotFoundError(
                    f"it is not at {store.uri(key)} (run {upstream.run_id}): removed when that run succeeded? "
                    "Start a new run rather than re-executing it"
                )
            return pickle.loads(store.read_bytes(key))

    def remove_runs(self, run_ids: Iterable[str]) -> int:
        """Every step output of these runs removed; how many objects were."""
        store = self.object_storage.store
        return sum(store.delete_prefix(store.key(run_key(run_id, "")) + "/") for run_id in run_ids)


def run_lineage(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The run and the runs it re-executed, parent first to root: every run whose step outputs it may read."""
    lineage = [run_id]
    run = instance.get_run_by_id(run_id)
    while run is not None and run.parent_run_id and run.parent_run_id not in lineage:
        lineage.append(run.parent_run_id)
        run = instance.get_run_by_id(run.parent_run_id)
    return lineage


def step_io_manager(
    kind: str, object_storage: ObjectStorageResource
) -> ObjectStoreStepIO | dg.FilesystemIOManager:
    """The IO manager of the split job's steps: in the object store (``s3``) or Dagster's default one on the
    run's local storage directory (``local``)."""
    if kind == "s3":
        return ObjectStoreStepIO(object_storage=object_storage)
    return dg.FilesystemIOManager()


@dg.definitions
def step_io() -> dg.Definitions:
    # Read when the definitions load, as the resources are: every step process (or pod) loads them alike.
    settings = load_settings()
    object_storage = ObjectStorageResource.from_settings(settings)
    return dg.Definitions(resources={STEP_IO_KEY: step_io_manager(settings.step_io_kind, object_storage)})
