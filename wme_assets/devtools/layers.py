"""The package layers of ``wme_assets``: which package may import which, checked against the code.

Arrows point down: a package imports only packages of lower layers (and itself). The record schema is at
the bottom and imports nothing of ours; the stages (ingestion → enrichment → snapshots → publishing, and
realtime) import the layers below them and the stages before them, never one after them; ``defs``
(Dagster) and ``serving`` (the API) sit above the stages, beside each other, the command line on top, and
nothing imports ``devtools`` but the command line and the tests. The README's layout table is this
module's output (``python -m wme_assets.devtools.layers``); a test keeps the two equal and fails on any
import that breaks a rule.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT_PACKAGE = "wme_assets"

# Bottom first. A unit is a subpackage or a top-level module of wme_assets; each may import the units of
# the layers before its own, plus those named in EXTRA (same-layer peers that are not stages).
LAYERS: list[tuple[str, ...]] = [
    ("schema",),
    ("util",),
    ("settings",),
    ("storage", "sources"),
    ("ingestion",),
    ("enrichment",),
    ("snapshots",),
    ("publishing", "realtime"),
    ("instance", "run_health", "failures"),
    ("defs", "serving"),
    ("definitions",),
    ("pipeline", "backfill", "devtools"),
    ("submission",),
    ("cli",),
]
ROLES = {
    "schema": "every record read or written: Enterprise article, Structured Contents, metadata, manifests, page, diffs",
    "util": "one helper per concern: dates, digests, sizes, HTTP session, progress, worker pools",
    "settings": "every setting, from environment variables",
    "storage": "S3 object store, embedded SeaweedFS, key layout, page store, article store, writer leases",
    "sources": "clients of the outside world: dumps site, MediaWiki Action/REST APIs",
    "ingestion": "stage: dumps run → raw zone → page store",
    "enrichment": "stage: page store → Enterprise articles and Structured Contents",
    "snapshots": "stage: article store → verified snapshots in Enterprise's layout, diffs between them",
    "publishing": "stage: snapshots → dumps-site layout, Parquet, Hugging Face",
    "realtime": "stage: change events → the always-current article store, hourly batches",
    "instance": "the Dagster instance (SQLite embedded / PostgreSQL), configuration checks",
    "run_health": "liveness of runs: worker tags, heartbeats, dead STARTED runs marked failed",
    "failures": "why something failed, in one line, and whether a retry can help",
    "defs": "Dagster definitions only, one folder per stage",
    "serving": "the API (`wme serve`): Enterprise's auth, snapshots, batches, metadata, On-demand, the realtime stream",
    "pipeline": "runs the jobs through the instance for the CLI",
    "backfill": "finds the failed partitions to re-run",
    "submission": "submits runs and backfills to the instance (its queue and daemon), follows them to the end",
    "definitions": "the single Dagster entry point",
    "devtools": "mirror builder, fidelity report, parser goldens, this check (never imported by defs)",
    "cli": "the `wme` command",
}
# Units nobody may import, whatever their layer (except the ones listed).
ONLY_IMPORTED_BY = {"devtools": {"cli"}}


def layer_of(unit: str) -> int:
    for index, units in enumerate(LAYERS):
        if unit in units:
            return index
    raise KeyError(f"{unit!r} is in no layer: add it to wme_assets.devtools.layers.LAYERS")


def may_import(importer: str, imported: str) -> bool:
    if importer == imported:
        return True
    if imported in ONLY_IMPORTED_BY and importer not in ONLY_IMPORTED_BY[imported]:
        return False
    return layer_of(imported) < layer_of(importer)


@dataclass(frozen=True)
class Import:
    importer: str  # unit
    imported: str  # unit
    where: str  # path:line


def _unit_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != ROOT_PACKAGE or len(parts) < 2:
        return None
    return parts[1]


def _module_name(path: Path, package_dir: Path) -> str:
    relative = path.relative_to(package_dir.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported_modules(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):  # walks function bodies too: a lazy import is still a dependency
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((name, node.lineno))
    return found


def scan(package_dir: Path | None = None) -> list[Import]:
    """Every import from one unit of ``wme_assets`` to another, with where it is written."""
    package_dir = package_dir or Path(__file__).resolve().parents[1]
    imports = []
    for path in sorted(package_dir.rglob("*.py")):
        module = _module_name(path, package_dir)
        importer = _unit_of(module)
        if importer is None:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name, line in _imported_modules(tree, module, path.name == "__init__.py"):
            imported = _unit_of(name)
            if imported and imported != importer:
                where = f"{path.relative_to(package_dir.parent)}:{line}"
                imports.append(Import(importer, imported, where))
    return imports


def violations(imports: list[Import]) -> list[str]:
    return [
        f"{i.where}: {i.importer} imports {i.imported}, which its layer may not"
        for i in imports
        if not may_import(i.importer, i.imported)
    ]


def table(imports: list[Import]) -> str:
    """The Markdown table of the README's layout section: each unit, what it is, what it imports."""
    uses: dict[str, set[str]] = defaultdict(set)
    for i in imports:
        uses[i.importer].add(i.imported)
    lines = ["| layer | package | what it holds | imports (of ours) |", "|---|---|---|---|"]
    for index, units in enumerate(LAYERS):
        for unit in units:
            imported = ", ".join(sorted(uses[unit], key=lambda u: (layer_of(u), u))) or "—"
            lines.append(f"| {index} | `{unit}` | {ROLES[unit]} | {imported} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    imports = scan()
    problems = violations(imports)
    sys.stdout.write(table(imports))
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
