"""The version of the installed distribution, recorded in every manifest wme writes and printed by ``wme --version``."""

from __future__ import annotations

from importlib import metadata as package_metadata

# The command and the import package are `wme`/`wme_assets`; the distribution has a name of its own, because
# `wme` on the package index belongs to another project.
DISTRIBUTION = "wme-platform"


def package_version() -> str:
    """``0+unknown`` when the code runs from a checkout that was never installed (a bare PYTHONPATH)."""
    try:
        return package_metadata.version(DISTRIBUTION)
    except package_metadata.PackageNotFoundError:
        return "0+unknown"
