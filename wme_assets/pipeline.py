"""Running jobs for one project through the Dagster instance, so every run shows in the UI.

The checks every ``wme`` command makes before it runs anything, and :func:`run_partition`, which executes a
job for one partition in this process (``--in-process``), recording the run and its events in the
configured instance. By default the commands submit their runs instead (wme_assets/submission.py); the
summary of a run (:class:`RunSummary`, :func:`failure_reason`) is the same either way.

Dates are checked here before anything runs, against the same partitions definitions Dagster uses, so a
bad ``--date`` is refused with the forms it accepts instead of surfacing as Dagster's unknown-partition error
after other work. A failed run is summed up by its cause (:func:`failure_reason`), not by Dagster's wrappers.
"""

from __future__ import annotations

import copy
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from wme_assets.failures import one_line
from wme_assets.settings import ConfigurationError, load_settings, validate_project
from wme_assets.util.dates import day_problem, parse_day

DAY_FORMS = "YYYYMMDD, a real calendar day, not in the future"
# What each kind of date is, for messages: (partitions definition in defs/partitions.py, the rule in words).
DATE_KINDS = {
    "dump": ("dump_date_partitions", "dump runs start on the 1st and the 20th of a month"),
    "paid": ("paid_snapshot_dates", "paid-tier snapshots exist for every day"),
    "free": (
        "free_snapshot_dates",
        "free-tier snapshots are dated the 2nd and the 21st of a month (a day's opens at 06:00 UTC)",
    ),
}


@dataclass
class RunSummary:
    job: str
    partition: str
    run_id: str
    success: bool
    seconds: float
    outputs: list[str] = field(default_factory=list)
    error: str | None = None


def dumps_client():
    from wme_assets.sources.dumps_client import DumpsClient

    settings = load_settings()
    return DumpsClient(settings.dumps_url, retries=settings.http_retries, backoff=settings.http_backoff)


def check_project(project: str) -> None:
    """Refuse a project the catalogue of projects does not know (see sources.catalog.check_project), before
    any work; the run then adds its partition itself (:func:`ensure_project_partition`)."""
    from wme_assets.sources.catalog import CatalogError
    from wme_assets.sources.catalog import check_project as check_in_catalog

    validate_project(project)
    try:
        check_in_catalog(load_settings(), project)
    except CatalogError as exc:
        raise ConfigurationError(str(exc)) from None


def ensure_project_partition(instance, project: str) -> None:
    """Make ``project`` a partition of the instance if it is not one yet (after :func:`check_project`), so a
    command runs on a fresh instance without a `wme catalog sync` first."""
    from wme_assets.defs.partitions import PROJECT_PARTITIONS, ensure_projects

    if not instance.has_dynamic_partition(PROJECT_PARTITIONS, project):
        check_project(project)
        ensure_projects(instance, [project])


def check_date(value: str, kind: str, option: str = "--date", *, latest: bool = False) -> str:
    """``value`` when it is a partition of ``kind`` ("dump", "paid" or "free"), else a ConfigurationError
    naming the forms accepted and the partitions that exist; ``latest`` lets 'latest' through."""
    import wme_assets.defs.partitions as partitions

    if latest and value == "latest":
        return value
    name, rule = DATE_KINDS[kind]
    definition = getattr(partitions, name)
    # Form, calendar and future first: Dagster cannot even look up a key far in the future (it overflows).
    problem = day_problem(value)
    if problem is None and not definition.has_partition_key(value):
        problem = "not one of them"
    if problem is None:
        return value
    forms = f"'latest' or {DAY_FORMS}" if latest else DAY_FORMS
    known = f"{definition.get_first_partition_key()} to {definition.get_last_partition_key()}"
    raise ConfigurationError(f"{option} must be {forms}; {rule}: {known}. Got {value!r}: {problem}")


def check_since(value: str) -> str:
    """``backfill --since``: a past day as YYYY-MM-DD or YYYYMMDD, returned as YYYY-MM-DD."""
    day = parse_day(value) if re.fullmatch(r"\d{8}|\d{4}-\d{2}-\d{2}", value) else None
    today = datetime.now(UTC).date()
    if day is None or day > today:
        reason = "in the future" if day else "not such a day"
        raise ConfigurationError(
            f"--since must be YYYY-MM-DD (or YYYYMMDD), a real calendar day, not in the future "
            f"(today is {today:%Y-%m-%d}, UTC). Got {value!r}: {reason}"
        )
    return f"{day:%Y-%m-%d}"


def resolve_dump_date(project: str, date: str, echo: Callable[[str], None] = print) -> str:
    """``latest`` becomes the newest finished dump run; a date is checked and kept."""
    check_project(project)
    check_date(date, "dump", latest=True)
    if date == "latest":
        date = dumps_client().resolve_latest(project)
        echo(f"latest finished dump run of {project} at {load_settings().dumps_url}: {date}")
        _check_found(date, project)
    return date


def dump_date_for_snapshot(project: str, snapshot_date: str, echo: Callable[[str], None] = print) -> str:
    """The newest finished dump run on or before a snapshot's day: the articles that snapshot holds."""
    date = dumps_client().resolve_latest(project, on_or_before=snapshot_date)
    echo(f"snapshot {snapshot_date} of {project} holds the dump run of {date}")
    _check_found(date, project)
    return date


def _check_found(date: str, project: str) -> None:
    # A mirror can hold a run on a day Wikimedia does not start one (`wme mirror add` takes any date).
    try:
        check_date(date, "dump", "the dump run found")
    except ConfigurationError as exc:
        raise ConfigurationError(f"{project}: {exc}") from None


def check_partition(job, project: str, date: str, instance) -> None:
    """Refuse a (date, project) that is not a partition of ``job``, naming which dimension is wrong; the dates
    first, then the project, which is made a partition of ``instance`` when the catalogue knows it
    (:func:`ensure_project_partition`)."""
    for dimension in job.partitions_def.partitions_defs:
        if dimension.name == "project":
            continue
        if day_problem(date) is not None:
            raise ConfigurationError(f"job {job.name!r} has no partition for {date!r}: {day_problem(date)}")
        if not dimension.partitions_def.has_partition_key(date):
            first = dimension.partitions_def.get_first_partition_key()
            last = dimension.partitions_def.get_last_partition_key()
            raise ConfigurationError(f"job {job.name!r} has no partition for {date} (its dates: {first} to {last})")
    ensure_project_partition(instance, project)


def run_partition(
    job_name: str,
    *,
    project: str,
    date: str,
    assets: list[str] | None = None,
    echo: Callable[[str], None] = print,
    stack_traces: bool = False,
) -> RunSummary:
    """Execute ``job_name`` (or only its ``assets``) for the (date, project) partition on the current instance.

    The run's log goes to the terminal too, without stack traces unless ``stack_traces`` (``wme --debug``);
    the instance's event log keeps them either way.
    """
    import uuid

    import dagster as dg

    from wme_assets.definitions import defs
    from wme_assets.run_health import run_liveness

    partition_key = dg.MultiPartitionKey({"date": date, "project": project})
    job = defs().resolve_job_def(job_name)
    run_id = str(uuid.uuid4())
    # This process is the run's worker (execute_in_process replaces the job's executor, which registers
    # daemon-launched runs): tagged and beating, so a kill is noticed (wme_assets/run_health.py).
    with dg.DagsterInstance.get() as instance:
        check_partition(job, project, date, instance)
        job = job.with_logger_defs({"console": _make_terminal_logger()})
        echo(f"running job '{job_name}' for partition {partition_key} ...")
        started = time.monotonic()
        with run_liveness(instance, run_id) as worker_tags:
            selection = [dg.AssetKey(name) for name in assets] if assets else None
            result = job.execute_in_process(
                instance=instance,
                partition_key=partition_key,
                raise_on_error=False,
                asset_selection=selection,
                run_id=run_id,
                tags=worker_tags,
                # The stages' own progress lines (INFO) on the terminal; Dagster's per-event DEBUG lines stay
                # in the instance's event log, where the UI shows them.
                run_config={"loggers": {"console": {"config": {"log_level": "INFO", "stack_traces": stack_traces}}}},
            )
            outputs = materialized_outputs(result.all_events)
            error = None if result.success else failure_reason(result.all_events)
    return RunSummary(
        job=job_name,
        partition=str(partition_key),
        run_id=result.run_id,
        success=result.success,
        seconds=time.monotonic() - started,
        outputs=outputs,
        error=error,
    )


def run_snapshot_chain(
    project: str,
    *,
    dump_date: str,
    snapshot_date: str,
    tier: str,
    echo: Callable[[str], None] = print,
    stack_traces: bool = False,
    run: Callable[..., RunSummary] | None = None,
) -> list[RunSummary]:
    """Ingest and enrich a dump run, then export the tier's snapshot of ``snapshot_date``; stops at a failure.

    ``run`` runs one partition (default :func:`run_partition`, in this process; the CLI passes the
    submitting one of wme_assets/submission.py)."""
    run = run or run_partition
    check_date(dump_date, "dump", "the dump date")
    check_date(snapshot_date, tier, "the snapshot date")
    runs = [run("main", project=project, date=dump_date, echo=echo, stack_traces=stack_traces)]
    if runs[-1].success:
        runs.append(
            run(
                f"{tier}_snapshot_job", project=project, date=snapshot_date, echo=echo, stack_traces=stack_traces
            )
        )
    return runs


def materialized_outputs(events) -> list[str]:
    """What a run materialized, one entry per asset: its key and URI, and its summary when it has one."""
    outputs = []
    for event in events:
        if not event.is_step_materialization:
            continue
        materialization = event.event_specific_data.materialization
        uri = materialization.metadata.get("uri")
        summary = materialization.metadata.get("summary")
        outputs.append(
            f"{materialization.asset_key.to_user_string()}: {uri.value if uri else '(no uri)'}"
            + (f"\n      {summary.value}" if summary else "")
        )
    return outputs


# ----- why a run failed ---------------------------------------------------------------------------


def failure_reason(events) -> str:
    """One line per failure of a run: the steps' own descriptions, else the innermost cause of the errors.

    A step that exhausted its retries reports Dagster's "Exceeded max_retries"; the exception that caused it
    sits further down the chain, and that is what is said. A run that failed before any step (its resources
    could not start, e.g. S3 unreachable) has no step failure: its resource or run failure is used.
    """
    steps, resources, runs = [], [], []
    for event in events:
        data = event.event_specific_data
        if event.is_step_failure:
            user = getattr(data, "user_failure_data", None)
            steps.append(one_line(user.description) if user and user.description else innermost_message(data.error))
        elif event.is_resource_init_failure and getattr(data, "error", None):
            resources.append(innermost_message(data.error))
        elif event.is_run_failure and getattr(data, "error", None):
            runs.append(innermost_message(data.error))
    reasons = list(dict.fromkeys(steps or resources or runs))
    return "; ".join(reasons) or "unknown (see the run's events in the Dagster UI)"


def innermost_message(error) -> str:
    """The message of the deepest error in a Dagster error chain that is not one of Dagster's own wrappers."""
    chain = []
    while error is not None:
        chain.append(error)
        error = error.cause
    own = [e for e in chain if not _is_dagster_wrapper(e)]
    message = (own[-1] if own else chain[0]).message if chain else ""
    # "wme_assets.storage.object_store.ObjectStoreError: S3 endpoint ..." -> "S3 endpoint ...": wme's messages
    # say what failed; builtins keep their name ("KeyError: 'x'").
    return one_line(re.sub(r"^(?:[A-Za-z_]\w*\.)+\w+: ", "", message)) or "unknown"


def _is_dagster_wrapper(error) -> bool:
    return (error.cls_name or "").startswith("Dagster") or error.message.startswith(
        ("Exceeded max_retries", "RetryRequested")
    )


# ----- the run's log on the terminal --------------------------------------------------------------

_STACK_TRACE = re.compile(r"\nStack Trace:\n.*?(?=\nThe above exception|\Z)", re.S)
# The exceptions an error was raised from: wme's own errors already carry their cause in their message.
_CAUSE_CHAIN = re.compile(r"\n+The above exception (?:was caused by|occurred during handling of).*\Z", re.S)


class _WithoutStackTraces(logging.Formatter):
    """Formats as ``inner`` does, with the stack traces of Dagster's error messages left out."""

    def __init__(self, inner: logging.Formatter | None):
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        record = copy.copy(record)  # the same record may go to other handlers, with its stack
        message = _CAUSE_CHAIN.sub("", _STACK_TRACE.sub("", record.getMessage()))
        record.msg, record.args = message, None
        return self.inner.format(record)


def terminal_line(entry, *, stack_traces: bool = False) -> str | None:
    """One event-log entry of a run as the terminal shows it (INFO and above, as the in-process log does);
    None for the debug-level events, which the UI shows."""
    if entry.level < logging.INFO:
        return None
    event = entry.dagster_event
    # Some of Dagster's events (the queue's) carry no message: their type says what happened.
    message = entry.user_message or (event and (event.message or event.event_type_value)) or ""
    error = getattr(event.event_specific_data, "error", None) if event else None
    if stack_traces and error is not None and "Stack Trace:" not in message:
        message = f"{message}\n\n{error.to_string()}"
    if not stack_traces:
        message = _CAUSE_CHAIN.sub("", _STACK_TRACE.sub("", message))
    when = datetime.fromtimestamp(entry.timestamp, UTC).strftime("%H:%M:%S")
    step = f" {entry.step_key}" if entry.step_key else ""
    return f"{when} {logging.getLevelName(entry.level)}{step} - {message}"


def _terminal_logger(init_context) -> logging.Logger:
    import dagster as dg

    logger = dg.colored_console_logger.logger_fn(init_context)
    if not init_context.logger_config["stack_traces"]:
        for handler in logger.handlers:
            handler.setFormatter(_WithoutStackTraces(handler.formatter))
    return logger


def _make_terminal_logger():
    import dagster as dg

    return dg.logger(
        config_schema={
            "log_level": dg.Field(str, is_required=False, default_value="INFO"),
            "name": dg.Field(str, is_required=False, default_value="dagster"),
            "stack_traces": dg.Field(bool, is_required=False, default_value=True),
        },
        description="Dagster's colored console logger; stack traces only when asked for (`wme --debug`).",
    )(_terminal_logger)
