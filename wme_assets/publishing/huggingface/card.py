"""What the dataset card says: config names, the card's YAML front matter and its body, from manifests only.

Pure functions of the published Parquet manifests (:mod:`wme_assets.publishing.parquet`); nothing here
reads object storage or talks to the hub.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
import yaml

from wme_assets.publishing.parquet import MANIFEST_SUFFIX, ParquetManifest, schema_summary
from wme_assets.publishing.parquet.manifest import manifest_arrow_schema
from wme_assets.schema import RECORD_SCHEMA_VERSION
from wme_assets.snapshots.archive import language_from_dbname

SPLIT = "train"
LICENSES = ["cc-by-sa-4.0", "gfdl"]
TASK_CATEGORIES = ["text-generation", "fill-mask"]
TASK_IDS = ["language-modeling", "masked-language-modeling"]

# Wikimedia language codes that are not language tags the hub knows.
_HUB_LANGUAGE = {"simple": "en"}
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_SIZE_CATEGORIES = [
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"),
    (100_000_000_000, "10B<n<100B"),
    (1_000_000_000_000, "100B<n<1T"),
]


# --------------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------------


def check_repo_id(repo_id: str) -> str:
    if not isinstance(repo_id, str) or not _REPO_ID.match(repo_id) or ".." in repo_id:
        raise ValueError(f"{repo_id!r} is not a Hugging Face repository id (owner/name)")
    return repo_id


def config_name(manifest: ParquetManifest) -> str:
    """``{YYYYMMDD}.{lang}`` for a Wikipedia's articles; see :mod:`wme_assets.publishing.huggingface` for the others."""
    if manifest.date is None:
        raise ValueError(f"{manifest.identifier}: only a published manifest (with its date) has a config")
    project = language_from_dbname(manifest.dbname) if manifest.dbname.endswith("wiki") else manifest.dbname
    name = f"{manifest.date}.{project}"
    if manifest.namespace != 0:
        name += f".namespace_{manifest.namespace}"
    if manifest.kind != "article":
        name += ".structured-contents"
    return name


def data_path(manifest: ParquetManifest, shard_name: str) -> str:
    return f"data/{config_name(manifest)}/{shard_name}"


def manifest_path(manifest: ParquetManifest) -> str:
    return f"manifests/{config_name(manifest)}{MANIFEST_SUFFIX}"


def repo_manifest(manifest: ParquetManifest) -> ParquetManifest:
    """The manifest as it goes into the repository: object-store keys are private, so they stay out."""
    return manifest.model_copy(update={"files": [f.model_copy(update={"key": None}) for f in manifest.files]})


# --------------------------------------------------------------------------------------------------
# The card
# --------------------------------------------------------------------------------------------------


def _dtype(data_type: pa.DataType) -> str:
    if pa.types.is_string(data_type):
        return "string"
    if pa.types.is_boolean(data_type):
        return "bool"
    if pa.types.is_float64(data_type):
        return "float64"
    if pa.types.is_int64(data_type):
        return "int64"
    if pa.types.is_timestamp(data_type):
        return f"timestamp[{data_type.unit}, tz={data_type.tz}]" if data_type.tz else f"timestamp[{data_type.unit}]"
    raise TypeError(f"no datasets dtype written for {data_type}")


def _feature(data_type: pa.DataType) -> dict[str, Any]:
    # The YAML form `datasets` writes (Features._to_yaml_list): a list of a scalar is `list: <dtype>`,
    # a list of structs is `list: [fields]`, a list of lists nests `list: {list: ...}`.
    if pa.types.is_struct(data_type):
        return {"struct": [{"name": f.name, **_feature(f.type)} for f in data_type]}
    if pa.types.is_list(data_type):
        inner = _feature(data_type.value_type)
        if list(inner) == ["dtype"]:
            return {"list": inner["dtype"]}
        if list(inner) == ["struct"]:
            return {"list": inner["struct"]}
        return {"list": inner}
    return {"dtype": _dtype(data_type)}


def hf_features(schema: pa.Schema) -> list[dict[str, Any]]:
    """The ``dataset_info.features`` YAML of a schema, as ``datasets`` reads it back."""
    return [{"name": f.name, **_feature(f.type)} for f in schema]


def size_category(rows: int) -> str:
    for bound, name in _SIZE_CATEGORIES:
        if rows < bound:
            return name
    return "n>1T"


def ordered_manifests(manifests: Iterable[ParquetManifest]) -> list[ParquetManifest]:
    by_config: dict[str, ParquetManifest] = {}
    for manifest in manifests:
        name = config_name(manifest)
        if name in by_config:
            raise ValueError(f"two manifests for config {name}")
        by_config[name] = manifest
    # Newest date first, then project, namespace and kind: the config a reader most likely wants leads.
    return sorted(by_config.values(), key=lambda m: (-int(m.date), m.dbname, m.namespace, m.kind))


def card_metadata(manifests: Sequence[ParquetManifest], *, repo_id: str) -> dict[str, Any]:
    """The card's YAML front matter (as a dict) for every config of ``manifests``."""
    ordered = ordered_manifests(manifests)
    languages = sorted({_HUB_LANGUAGE.get(m.language, m.language) for m in ordered})
    largest = max((m.rows for m in ordered), default=0)
    configs, infos = [], []
    for index, manifest in enumerate(ordered):
        name = config_name(manifest)
        config: dict[str, Any] = {"config_name": name}
        if index == 0:
            config["default"] = True
        config["data_files"] = [{"split": SPLIT, "path": [data_path(manifest, f.name) for f in manifest.files]}]
        configs.append(config)
        uncompressed = sum(f.uncompressed_bytes for f in manifest.files)
        infos.append(
            {
                "config_name": name,
                "features": hf_features(manifest_arrow_schema(manifest)),
                "splits": [{"name": SPLIT, "num_bytes": uncompressed, "num_examples": manifest.rows}],
                "download_size": manifest.bytes,
                "dataset_size": uncompressed,
            }
        )
    return {
        "pretty_name": f"Wikimedia projects in the Wikimedia Enterprise schema ({repo_id})",
        "license": list(LICENSES),
        "language": languages,
        "multilinguality": "multilingual" if len(languages) > 1 else "monolingual",
        "size_categories": [size_category(largest)],
        "task_categories": list(TASK_CATEGORIES),
        "task_ids": list(TASK_IDS),
        "annotations_creators": ["no-annotation"],
        "language_creators": ["crowdsourced"],
        "source_datasets": ["original"],
        "tags": ["wikipedia", "wikimedia-enterprise", "wme"],
        "configs": configs,
        "dataset_info": infos,
    }


def _row(cells: Iterable[Any]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def build_dataset_card(manifests: Sequence[ParquetManifest], *, repo_id: str) -> str:
    """The ``README.md`` of the repository: YAML front matter, then the description, from manifests only."""
    repo_id = check_repo_id(repo_id)
    ordered = ordered_manifests(manifests)
    metadata = card_metadata(ordered, repo_id=repo_id)
    front = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True, width=1000)
    lines = [
        "---",
        front.rstrip("\n"),
        "---",
        "",
        f"# {metadata['pretty_name']}",
        "",
        "Pages of Wikimedia projects as records of the [Wikimedia Enterprise](https://enterprise.wikimedia.com) "
        "article schema, built from the public Wikimedia dumps by wme and published as Parquet with a nested "
        "schema: objects are structs and arrays are lists, nothing is JSON text inside a column. Each config is "
        "one project (and namespace) on one snapshot date, named `{YYYYMMDD}.{language}` like "
        "`wikimedia/wikipedia`; the repository is tagged with each snapshot date.",
        "",
        "## Configs",
        "",
        _row(
            [
                "config",
                "project",
                "namespace",
                "records",
                "kind",
                "files",
                "Parquet bytes",
                "dump date",
                "schema version",
            ]
        ),
        _row(["---"] * 9),
    ]
    for m in ordered:
        lines.append(
            _row(
                [
                    f"`{config_name(m)}`",
                    m.dbname,
                    m.namespace,
                    f"{m.rows:,}",
                    m.kind,
                    len(m.files),
                    f"{m.bytes:,}",
                    m.dump_date or "unknown",
                    m.schema_version,
                ]
            )
        )
    first = config_name(ordered[0]) if ordered else f"YYYYMMDD.{'en'}"
    lines += [
        "",
        "## Loading",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'articles = load_dataset("{repo_id}", "{first}", split="{SPLIT}")',
        "```",
        "",
        "DuckDB reads the files directly:",
        "",
        "```sql",
        "SELECT identifier, name, version.identifier AS revision, len(categories) AS categories",
        f"FROM 'hf://datasets/{repo_id}/data/{first}/*.parquet' LIMIT 10;",
        "```",
        "",
        "## Schema",
        "",
        "The columns are the fields of the Wikimedia Enterprise article (or Structured Contents) record, in its "
        "order, generated from the same models as wme's published JSON Schema "
        f"(record schema version {', '.join(sorted({m.schema_version for m in ordered})) or RECORD_SCHEMA_VERSION}). "
        "A field the record leaves out (Enterprise omits empty values) is null, so every file of a kind has the "
        "same schema. Timestamps are UTC with microseconds; `references[].metadata` is a list of "
        "`{key, value}` pairs (`map_from_entries` in DuckDB makes it a map again).",
        "",
        "Parquet has no recursive types, so the trees of Structured Contents (`infoboxes`, `sections`: "
        "`has_parts` inside `has_parts`) are spelled out to a fixed depth; parts nested deeper are moved, in "
        "document order, into their ancestor at the deepest level, and tables nested deeper are left out. "
        "Every such record is counted below.",
        "",
        _row(
            [
                "config",
                "top-level fields",
                "leaf columns",
                "part depth",
                "table depth",
                "records truncated",
                "parts folded",
                "objects dropped",
            ]
        ),
        _row(["---"] * 8),
    ]
    for m in ordered:
        summary = schema_summary(manifest_arrow_schema(m))
        lines.append(
            _row(
                [
                    f"`{config_name(m)}`",
                    summary["fields"],
                    summary["leaf_columns"],
                    m.max_depth,
                    m.max_table_depth,
                    m.truncation.records,
                    m.truncation.folded_parts,
                    m.truncation.dropped_objects,
                ]
            )
        )
    lines += ["", "## Files", "", "Every file with its records and SHA-256 (also in `manifests/`):", ""]
    for m in ordered:
        lines += [
            f"### `{config_name(m)}`",
            "",
            f"{m.rows:,} records, page ids {m.first_page_id}–{m.last_page_id}, from the "
            f"{m.dbname} dump of {m.dump_date or 'unknown date'}, published {m.date}.",
            "",
            _row(["file", "records", "bytes", "sha256"]),
            _row(["---"] * 4),
        ]
        lines += [_row([f"`{data_path(m, f.name)}`", f"{f.rows:,}", f"{f.bytes:,}", f"`{f.sha256}`"]) for f in m.files]
        lines.append("")
    lines += [
        "## Licensing",
        "",
        "The text of Wikimedia projects is available under the [Creative Commons Attribution-ShareAlike 4.0 "
        "License](https://creativecommons.org/licenses/by-sa/4.0/) and the [GNU Free Documentation "
        "License](https://www.gnu.org/licenses/fdl-1.3.html); every record carries its licence in `license` and "
        "its page in `url`, which is the attribution to give. Some media and text may be under other licences, "
        "stated on their pages.",
        "",
    ]
    return "\n".join(lines)
