"""How every asset fails: with its cause in one line, retried only when retrying can help.

``fails_clearly`` wraps an asset's body. A deterministic failure (checksum mismatch, parse or schema error,
bad configuration, a bug) becomes ``dg.Failure(allow_retries=False)`` at once; a transient one (connection,
timeout, 5xx, throttling) is raised again for the asset's retry policy, and on the last attempt it too
becomes a ``dg.Failure`` naming the cause, so the run ends on the reason rather than "Exceeded max_retries".
Which is which is decided in :mod:`wme_assets.failures`.
"""

import functools
import inspect
from collections.abc import Callable

import dagster as dg

from wme_assets.defs.partitions import project_and_date
from wme_assets.defs.resources import SETTINGS_AT_LOAD
from wme_assets.failures import explain

# The retry policy of every step that talks to the network or the store: WME_STEP_RETRIES attempts more,
# WME_STEP_RETRY_DELAY seconds before the first, doubling. Only transient failures reach it.
TRANSIENT_RETRY = dg.RetryPolicy(
    max_retries=SETTINGS_AT_LOAD.step_retries,
    delay=SETTINGS_AT_LOAD.step_retry_delay,
    backoff=dg.Backoff.EXPONENTIAL,
    jitter=dg.Jitter.PLUS_MINUS,
)


class TransientStepError(RuntimeError):
    """A transient failure, raised for the step's retry policy; the message names the cause."""


def fails_clearly(fn: Callable) -> Callable:
    """Wrap an asset's body so its failures name their cause and only transient ones are retried (a generator
    body too: the split job's publishing ops yield the materialization and check evaluations they record)."""

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def events(context, *args, **kwargs):
            try:
                yield from fn(context, *args, **kwargs)
            except (dg.Failure, dg.RetryRequested, TransientStepError):
                raise
            except Exception as exc:
                raise step_failure(context, exc) from exc

        return events

    @functools.wraps(fn)
    def body(context, *args, **kwargs):
        try:
            return fn(context, *args, **kwargs)
        except (dg.Failure, dg.RetryRequested, TransientStepError):
            raise  # already decided
        except Exception as exc:
            raise step_failure(context, exc) from exc

    return body


def step_failure(context: dg.AssetExecutionContext, exc: BaseException) -> Exception:
    """The exception that ends this attempt of the step: a ``dg.Failure`` unless a retry may help."""
    cause = explain(exc)
    project, date = project_and_date(context)
    partition = f"{project} {date}"
    # wme's own messages mostly start with the partition already.
    message = cause.message if cause.message.startswith(partition) else f"{partition}: {cause.message}"
    # An asset's step names its asset; an op's (the split job's steps) its op and mapping key.
    if context.has_assets_def:
        name = context.asset_key.to_user_string()
    else:
        name = context.get_step_execution_context().step.key
    description = f"{name}: {message}"
    if not cause.transient:
        return dg.Failure(description=description, metadata={"retryable": False}, allow_retries=False)
    policy = context.op_def.retry_policy
    attempt = context.retry_number + 1
    if policy is None or context.retry_number >= policy.max_retries:
        return dg.Failure(
            description=f"{description} (transient; gave up after {attempt} attempt{'s' if attempt > 1 else ''})",
            metadata={"retryable": True, "attempts": attempt},
            allow_retries=False,
        )
    context.log.warning(f"attempt {attempt} of {policy.max_retries + 1} failed, will retry: {description}")
    return TransientStepError(description)
