"""The package layers hold: no import points up or sideways, and the README's table is the code's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from wme_assets.devtools import layers

README = Path(__file__).resolve().parents[1] / "README.md"


def test_no_package_imports_a_layer_above_it():
    assert layers.violations(layers.scan()) == []


def test_every_package_has_a_layer():
    package_dir = Path(layers.__file__).resolve().parents[1]
    units = {p.stem if p.is_file() else p.name for p in package_dir.iterdir() if p.suffix == ".py" or p.is_dir()}
    units -= {"__init__", "__pycache__"}
    placed = {unit for layer in layers.LAYERS for unit in layer}
    assert units <= placed, f"put these in wme_assets.devtools.layers.LAYERS: {sorted(units - placed)}"


def test_a_rule_breaking_import_is_named(tmp_path):
    package = tmp_path / "wme_assets"
    (package / "schema").mkdir(parents=True)
    (package / "storage").mkdir()
    (package / "schema" / "__init__.py").write_text("def f():\n    from wme_assets.storage import x\n")
    (package / "storage" / "__init__.py").write_text("from ..schema import Article\n")
    problems = layers.violations(layers.scan(package))
    assert problems == ["wme_assets/schema/__init__.py:2: schema imports storage, which its layer may not"]


def test_the_readme_shows_the_generated_table():
    assert layers.table(layers.scan()) in README.read_text(), (
        "README's layout table is stale: paste the output of `python -m wme_assets.devtools.layers`"
    )


def test_the_code_location_never_loads_dev_tooling():
    code = (
        "import sys, wme_assets.definitions as d; d.defs(); "
        "print(sorted(m for m in sys.modules if m.startswith('wme_assets.devtools')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
