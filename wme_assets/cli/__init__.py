"""The ``wme`` command line: start the UI, run the jobs, serve the API, check the configuration.

One module per group of commands, each registering its commands on the one Typer application of
:mod:`wme_assets.cli.base` (which also holds what they share: the environment every command prepares, the
one-line failures, the global options)::

    base.py        the application, global options, prepare_environment, one-line errors
    operations.py  check, ui, instance-config, services stop, storage sweep
    runs.py        demo, ingest, publish, backfill
    snapshots.py   snapshot (and snapshot verify), diff
    catalog.py     catalog refresh | list | sync
    realtime.py    listen, update, batch
    serving.py     serve, accounts create | list | disable | enable | set-tier | usage
    devtools.py    mirror add | fixtures, fidelity

The entry point is ``wme_assets.cli:app``; ``python -m wme_assets.cli`` runs it too.
"""

import importlib

from wme_assets.cli.base import app

# Imported for their commands, in the order `wme --help` lists them.
COMMAND_MODULES = ("operations", "runs", "snapshots", "realtime", "serving", "catalog", "devtools")
for _module in COMMAND_MODULES:
    importlib.import_module(f"wme_assets.cli.{_module}")

__all__ = ["app"]
