"""The executor of every job: Dagster's default, with the run worker registering its liveness.

Runs launched by the daemon (UI, schedules, sensors, backfills) execute in a run worker process whose
executor orchestrates the whole run, whether the steps then run in subprocesses (multiprocess, the default)
or in that same process (``in_process``). Wrapping the executor is therefore the one place that runs in the
run worker for exactly the run's duration, even while steps wait for a pool slot: resources and hooks run
per step, in step processes. ``wme`` commands run ``execute_in_process``, which replaces the executor;
``pipeline.run_partition`` registers those runs itself.
"""

from collections.abc import Iterator

import dagster as dg
from dagster._core.executor.base import Executor

from wme_assets.run_health import run_liveness
from wme_assets.settings import ConfigurationError


class LivenessExecutor(Executor):
    """Delegates everything to Dagster's executor; tags the run with its worker and beats while it executes."""

    def __init__(self, inner: Executor):
        self._inner = inner

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def execute(self, plan_context, execution_plan) -> Iterator[dg.DagsterEvent]:
        with run_liveness(plan_context.instance, plan_context.run_id, tag_run=True):
            yield from self._inner.execute(plan_context, execution_plan)


def with_liveness(base: dg.ExecutorDefinition) -> dg.ExecutorDefinition:
    """``base`` with the same name and config (run configs keep working), its executors wrapped."""
    return dg.ExecutorDefinition(
        name=base.name,
        config_schema=base.config_schema,
        requirements=base.get_requirements,
        executor_creation_fn=lambda init_context: LivenessExecutor(base.executor_creation_fn(init_context)),
        description=base.description,
    )


liveness_executor = with_liveness(dg.multi_or_in_process_executor)


def step_executor(kind: str) -> dg.ExecutorDefinition:
    """The executor of the split job (``WME_STEP_EXECUTOR``): Dagster's multiprocess one, a process per step, or
    dagster-k8s's ``k8s_job_executor``, a Kubernetes Job per step (installed in the image, not in development)."""
    if kind == "k8s":
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError:
            raise ConfigurationError(
                "WME_STEP_EXECUTOR=k8s needs dagster-k8s, which the image installs (infra/image-requirements.in); "
                "outside it: pip install dagster-k8s, or WME_STEP_EXECUTOR=multiprocess"
            ) from None
        return with_liveness(k8s_job_executor)
    return liveness_executor


@dg.definitions
def executor() -> dg.Definitions:
    return dg.Definitions(executor=liveness_executor)
