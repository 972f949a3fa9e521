"""``wme serve`` and ``wme accounts``: the Enterprise-compatible API and its accounts."""

from __future__ import annotations

import sys

import typer

from wme_assets.cli.base import app, fail, guarded, prepare_environment
from wme_assets.settings import ConfigurationError, load_settings

# ----- serving: the API and its accounts -----------------------------------------------------------------

accounts_app = typer.Typer(
    help="Accounts of the API (`wme serve`): in PostgreSQL when WME_PG_HOST is set, else under WME_HOME.",
    no_args_is_help=True,
)
app.add_typer(accounts_app, name="accounts")


def _accounts():
    from wme_assets.serving.accounts import AccountStore

    settings = guarded(load_settings)
    try:
        return AccountStore.open(settings)
    except ConfigurationError as exc:
        fail(str(exc), exc)


def _account_change(change):
    from wme_assets.serving.accounts import AccountError

    store = _accounts()
    try:
        return change(store)
    except AccountError as exc:
        fail(str(exc), exc)
    finally:
        store.close()


def _read_password() -> str:
    """The password from standard input: typed twice at a terminal, else its first line (scripts, pipes)."""
    if sys.stdin.isatty():
        return typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")


@accounts_app.command("create")
def accounts_create(
    name: str = typer.Argument(..., help="The account's username (what clients send as WME_USERNAME)."),
    tier: str = typer.Option(
        "free", "--tier", help="free (twice-monthly snapshots) or paid (daily, Structured Contents)."
    ),
) -> None:
    """Create an account; its password is read from standard input (never from the command line)."""
    password = _read_password()
    account = _account_change(lambda store: store.create(name, password, tier))
    typer.echo(f"created account {account.name} ({account.tier})")


@accounts_app.command("list")
def accounts_list() -> None:
    """List the accounts: name, tier, enabled or disabled, when created."""
    for account in _account_change(lambda store: store.list()):
        state = "disabled" if account.disabled else "enabled"
        typer.echo(f"{account.name}\t{account.tier}\t{state}\t{account.created_at}")


@accounts_app.command("disable")
def accounts_disable(name: str = typer.Argument(..., help="The account to disable.")) -> None:
    """Disable an account: its tokens stop working at once and it can no longer log in."""
    _account_change(lambda store: store.disable(name))
    typer.echo(f"disabled account {name}; its tokens no longer work")


@accounts_app.command("enable")
def accounts_enable(name: str = typer.Argument(..., help="The account to enable again.")) -> None:
    """Enable a disabled account: it can log in again (the tokens it held before stay invalid)."""
    _account_change(lambda store: store.enable(name))
    typer.echo(f"enabled account {name}")


@accounts_app.command("set-tier")
def accounts_set_tier(
    name: str = typer.Argument(..., help="The account."),
    tier: str = typer.Argument(..., help="free or paid."),
) -> None:
    """Move an account to another tier; its next request already sees that tier's snapshots."""
    account = _account_change(lambda store: store.set_tier(name, tier))
    typer.echo(f"account {account.name} is now {account.tier}")


@accounts_app.command("usage")
def accounts_usage(
    name: str | None = typer.Argument(None, help="One account (default: all)."),
    month: str | None = typer.Option(None, "--month", help="YYYY-MM (default: every month kept)."),
) -> None:
    """Requests counted against monthly quotas, per account, month and group, with the free tier's cap."""
    from wme_assets.serving.quotas import Quotas

    settings = guarded(load_settings)

    def print_usage(store):
        quotas = Quotas.for_settings(store, settings)
        for row in quotas.usage(name, month):
            account = store.get(row.account)
            tier = account.tier if account else "?"
            cap = quotas.cap(tier, row.api_group)
            typer.echo(f"{row.account}\t{tier}\t{row.month}\t{row.api_group}\t{row.requests}\t{cap or 'no cap'}")

    _account_change(print_usage)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address the API binds to."),
    port: int = typer.Option(8080, help="Port of the API."),
    workers: int = typer.Option(1, min=1, help="Server processes on the port (uvicorn workers)."),
) -> None:
    """Serve the published snapshots with Wikimedia Enterprise's API (its SDKs work unchanged against it)."""
    from wme_assets.serving.app import serve as serve_api
    from wme_assets.storage import open_object_store

    env = prepare_environment()
    store = open_object_store(env.settings)
    typer.echo(f"API: http://{host}:{port}/  (snapshots from s3://{env.settings.s3_bucket}/{env.settings.s3_prefix})")
    try:
        serve_api(env.settings, store, host=host, port=port, workers=workers)
    except ConfigurationError as exc:
        fail(str(exc), exc)
