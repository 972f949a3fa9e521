"""``python -m wme_assets.cli``: the ``wme`` command."""

from wme_assets.cli import app

app()
