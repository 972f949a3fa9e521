"""Hugging Face dataset trees and cards (wme_assets.publishing.huggingface), read back with the real clients.

The tree and the card are pure functions of the Parquet manifests, so they are tested in full: the card is
parsed by ``huggingface_hub``, every config is loaded by ``datasets`` (offline, with a temporary cache) and
read by DuckDB, and the counts, features and SHA-256s are compared with the card and with the records the
shards were written from (the real Enterprise records of test_publishing_parquet). The dry run (no token)
is tested against the real SeaweedFS. The network upload itself cannot run here (no internet): the thin
function that does it is run against a recording stand-in for ``HfApi``, to check the commit it would make.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import httpx2
import pyarrow.parquet as pq
import pytest
import yaml
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, DatasetCard
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from pydantic import SecretStr

from wme_assets.publishing.huggingface import (
    DEFAULT_DRY_RUN_REPO,
    LICENSES,
    build_dataset_card,
    build_repo_tree,
    card_metadata,
    config_name,
    dry_run_prefix,
    hf_features,
    materialize_tree,
    publish_to_hub,
    read_repo_manifests,
    repo_manifest,
    size_category,
    upload_tree,
    with_retries,
)
from wme_assets.publishing.parquet import (
    ParquetManifest,
    ParquetShards,
    publish_parquet,
    write_parquet_shards,
)
from wme_assets.publishing.parquet.manifest import manifest_arrow_schema
from wme_assets_tests.records import real_articles, wme_structured_contents

DATE = "20250203"
EARLIER = "20250115"
DUMP_DATE = "20250201"
REPO = "wme-test/wikipedia"


# --------------------------------------------------------------------------------------------------
# Fixtures: shards of real records, several projects and one Structured Contents config
# --------------------------------------------------------------------------------------------------


def as_published(shards: ParquetShards, date: str) -> ParquetManifest:
    """The manifest as publish_parquet returns it (dated, keys under parquet/), for the pure tests."""
    prefix = f"parquet/{date}/{shards.identifier}"
    files = [s.model_copy(update={"key": f"{prefix}/{s.name}"}) for s in shards.manifest.files]
    return shards.manifest.model_copy(update={"date": date, "files": files})


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> list[ParquetShards]:
    """Shards of every project of the real records (at most 2 records a shard, so configs have several
    files), plus wme's Structured Contents of enwiki."""
    root = tmp_path_factory.mktemp("shards")
    result = []
    for project, lines in real_articles().items():
        if project == "ruwiki":
            continue  # one Squirrel is enough; keeps the card's language list short to read
        result.append(
            write_parquet_shards(lines, root / project, dbname=project, namespace=0, max_rows=2, dump_date=DUMP_DATE)
        )
    result.append(
        write_parquet_shards(
            wme_structured_contents()["enwiki"],
            root / "enwiki-sc",
            dbname="enwiki",
            namespace=0,
            kind="structured-content",
            max_rows=2,
            dump_date=DUMP_DATE,
        )
    )
    return result


@pytest.fixture(scope="module")
def manifests(written) -> list[ParquetManifest]:
    return [as_published(s, DATE) for s in written]


@pytest.fixture(scope="module")
def tree(manifests):
    return build_repo_tree(manifests, repo_id=REPO)


@pytest.fixture(scope="module")
def repo_dir(tree, written, tmp_path_factory) -> Path:
    return materialize_tree(tree, tmp_path_factory.mktemp("repo"), local_dirs=[s.out_dir for s in written])


@pytest.fixture
def offline_datasets(tmp_path, monkeypatch):
    """`datasets`, offline, with its caches in tmp_path (nothing goes to ~/.cache or the network)."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    import datasets
    import datasets.config

    # The library reads these at import; another test may have imported it first.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", Path(tmp_path / "hf-datasets"))
    datasets.disable_progress_bars()
    return datasets


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("\n---\n", 1)[0][4:])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------------
# Names and the card
# --------------------------------------------------------------------------------------------------


def test_config_names_follow_wikimedia_wikipedia(manifests):
    names = {(m.dbname, m.kind): config_name(m) for m in manifests}
    assert names[("enwiki", "article")] == f"{DATE}.en"
    assert names[("simplewiki", "article")] == f"{DATE}.simple"
    assert names[("dewiki", "article")] == f"{DATE}.de"
    assert names[("enwikiversity", "article")] == f"{DATE}.enwikiversity"  # not a second `.en`
    assert names[("enwiki", "structured-content")] == f"{DATE}.en.structured-contents"
    categories = manifests[0].model_copy(update={"namespace": 14, "identifier": "dewiki_namespace_14"})
    assert config_name(categories) == f"{DATE}.de.namespace_14"
    with pytest.raises(ValueError, match="published"):
        config_name(manifests[0].model_copy(update={"date": None}))


def test_tree_layout(tree, manifests):
    shards = [f.path for f in tree.files if f.source_key]
    assert shards == [
        f"data/{config_name(m)}/{s.name}"
        for m in sorted(manifests, key=lambda m: (m.dbname, m.namespace, m.kind))
        for s in m.files
    ]
    assert {f.path for f in tree.files if not f.source_key} == {
        "README.md",
        *(f"manifests/{config_name(m)}.parquet-manifest.json" for m in manifests),
    }
    assert tree.date == DATE and sorted(tree.configs) == sorted(config_name(m) for m in manifests)
    # No store keys in what goes public.
    for item in tree.files:
        if item.path.startswith("manifests/"):
            assert b'"key": null' in item.content and b"parquet/" not in item.content


def test_card_front_matter(tree, manifests):
    card = DatasetCard(tree.card)  # the hub client's own parser
    data = card.data.to_dict()
    assert data["license"] == LICENSES == ["cc-by-sa-4.0", "gfdl"]
    assert data["language"] == ["de", "en", "fr", "pt"]  # simplewiki is English; enwikiversity too
    assert data["size_categories"] == ["n<1K"]
    assert data["task_categories"] == ["text-generation", "fill-mask"]
    configs = {c["config_name"]: c for c in data["configs"]}
    infos = {i["config_name"]: i for i in data["dataset_info"]}
    assert set(configs) == set(infos) == {config_name(m) for m in manifests}
    assert sum(bool(c.get("default")) for c in configs.values()) == 1
    for manifest in manifests:
        name = config_name(manifest)
        (files,) = configs[name]["data_files"]
        assert files["split"] == "train"
        assert files["path"] == [f"data/{name}/{s.name}" for s in manifest.files]
        (split,) = infos[name]["splits"]
        assert split["num_examples"] == manifest.rows
        assert infos[name]["download_size"] == manifest.bytes
        assert infos[name]["features"] == hf_features(manifest_arrow_schema(manifest))
    body = card.text
    for manifest in manifests:
        assert f"`{config_name(manifest)}` | {manifest.dbname} | 0 | {manifest.rows:,} |" in body
        for shard in manifest.files:
            assert f"`{shard.sha256}`" in body
    assert DUMP_DATE in body and "record schema version 1.0.0" in body
    assert "Creative Commons Attribution-ShareAlike 4.0" in body and "GNU Free Documentation" in body


def test_size_categories():
    assert [size_category(n) for n in (0, 999, 1_000, 6_543_210, 10**12)] == [
        "n<1K",
        "n<1K",
        "1K<n<10K",
        "1M<n<10M",
        "n>1T",
    ]


def test_card_keeps_the_configs_of_earlier_dates(manifests, written, tmp_path):
    earlier = [as_published(s, EARLIER) for s in written[:2]]
    tree = build_repo_tree(manifests, repo_id=REPO, previous=[repo_manifest(m) for m in earlier])
    data = _front_matter(tree.card)
    names = [c["config_name"] for c in data["configs"]]
    assert names[0].startswith(DATE) and data["configs"][0].get("default")  # newest first
    assert {config_name(m) for m in earlier} <= set(names)
    assert len(names) == len(manifests) + len(earlier)
    # The commit only carries the new date's files (the earlier ones are in the repository already).
    assert not any(f.path.startswith(f"data/{EARLIER}") for f in tree.files)
    # A re-run of the same date replaces its configs instead of listing them twice.
    again = build_repo_tree(manifests, repo_id=REPO, previous=[repo_manifest(m) for m in manifests])
    assert len(_front_matter(again.card)["configs"]) == len(manifests)


def test_tree_needs_published_manifests_of_one_date(manifests, written):
    with pytest.raises(ValueError, match="one published snapshot date"):
        build_repo_tree([manifests[0], as_published(written[1], EARLIER)], repo_id=REPO)
    with pytest.raises(ValueError, match="never published"):
        build_repo_tree([written[0].manifest.model_copy(update={"date": DATE})], repo_id=REPO)
    with pytest.raises(ValueError, match="two manifests"):
        build_repo_tree([manifests[0], manifests[0]], repo_id=REPO)
    with pytest.raises(ValueError, match="repository id"):
        build_repo_tree(manifests, repo_id="../escape")


# --------------------------------------------------------------------------------------------------
# The tree read back with the real clients
# --------------------------------------------------------------------------------------------------


def test_every_config_loads_with_datasets_and_duckdb_as_the_card_says(repo_dir, tree, written, offline_datasets):
    datasets = offline_datasets
    data = _front_matter(tree.card)
    infos = {i["config_name"]: i for i in data["dataset_info"]}
    sources = {config_name(as_published(s, DATE)): s for s in written}
    cache = repo_dir.parent / "datasets-cache"
    for config in data["configs"]:
        name = config["config_name"]
        paths = [str(repo_dir / p) for p in config["data_files"][0]["path"]]
        claimed = infos[name]["splits"][0]["num_examples"]
        manifest = sources[name].manifest
        lines = (real_articles() if manifest.kind == "article" else wme_structured_contents())[manifest.dbname]
        expected_ids = [page_id for page_id, _ in lines]  # the records the shards were written from

        by_files = datasets.load_dataset("parquet", data_files=paths, split="train", cache_dir=str(cache))
        assert by_files.num_rows == claimed == sources[name].manifest.rows
        assert by_files.features == datasets.Features._from_yaml_list(infos[name]["features"])
        assert by_files["identifier"] == expected_ids

        # The repository as the hub serves it: the card's config, its files and its split sizes.
        by_config = datasets.load_dataset(str(repo_dir), name, split="train", cache_dir=str(cache))
        assert by_config.num_rows == claimed
        assert by_config["identifier"] == expected_ids

        count, distinct = duckdb.sql(
            f"SELECT count(*), count(DISTINCT identifier) FROM read_parquet({paths!r})"
        ).fetchall()[0]
        assert count == distinct == claimed
        schema = manifest_arrow_schema(sources[name].manifest)
        for path in paths:
            assert pq.read_schema(path).equals(schema, check_metadata=True)
        columns = [row[0] for row in duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet({paths!r})").fetchall()]
        assert columns == schema.names
    # Every file the tree holds is byte for byte the shard its manifest lists.
    for item in tree.files:
        assert (repo_dir / item.path).stat().st_size == item.bytes
        assert _sha256(repo_dir / item.path) == item.sha256
    assert read_repo_manifests(repo_dir) == sorted(
        (repo_manifest(as_published(s, DATE)) for s in written), key=lambda m: config_name(m)
    )


def test_a_card_that_claims_rows_the_files_lack_does_not_load(manifests, written, tmp_path, offline_datasets):
    """`datasets` checks the card's num_examples against the files: the card must never overstate."""
    lying = manifests[0].model_copy(update={"rows": manifests[0].rows + 1})
    tree = build_repo_tree([lying], repo_id=REPO)
    root = materialize_tree(tree, tmp_path / "repo", local_dirs=[written[0].out_dir])
    with pytest.raises(offline_datasets.exceptions.NonMatchingSplitsSizesError):
        offline_datasets.load_dataset(str(root), config_name(lying), split="train", cache_dir=str(tmp_path / "c"))


def test_card_is_built_from_the_manifests_only(manifests):
    assert build_dataset_card(manifests, repo_id=REPO) == build_dataset_card(list(reversed(manifests)), repo_id=REPO)
    metadata = card_metadata(manifests, repo_id=REPO)
    assert sum(i["splits"][0]["num_examples"] for i in metadata["dataset_info"]) == sum(m.rows for m in manifests)


# --------------------------------------------------------------------------------------------------
# Without a token: the dry run in object storage (real SeaweedFS)
# --------------------------------------------------------------------------------------------------


def test_dry_run_writes_the_tree_to_object_storage(object_store, written, tmp_path, offline_datasets):
    published = [publish_parquet(object_store, shards, date=DATE) for shards in written[:3]]
    result = publish_to_hub(object_store, published, work_dir=tmp_path / "work", repo_id=REPO)
    assert result.mode == "dry-run" and result.upload is None
    prefix = object_store.key(dry_run_prefix(REPO, DATE))
    assert prefix.endswith(f"hf-dry-run/{REPO}/{DATE}")
    assert result.location == object_store.uri(prefix)
    listed = {info.key[len(prefix) + 1 :]: info for info in object_store.list(prefix + "/")}
    assert set(listed) == result.tree.paths()
    for item in result.tree.files:
        assert listed[item.path].size == item.bytes
        if item.source_key:
            assert object_store.head(listed[item.path].key).sha256 == item.sha256  # copied with its digest

    # What an operator inspecting the dry run gets: download the folder and load it like the hub would.
    local = tmp_path / "inspect"
    for path, info in listed.items():
        object_store.download_file(info.key, local / path)
    assert (local / "README.md").read_text(encoding="utf-8") == result.tree.card
    for manifest in published:
        loaded = offline_datasets.load_dataset(
            str(local), config_name(manifest), split="train", cache_dir=str(tmp_path / "cache")
        )
        assert loaded.num_rows == manifest.rows
        for shard in manifest.files:
            assert _sha256(local / f"data/{config_name(manifest)}/{shard.name}") == shard.sha256

    # A re-run of the date with fewer configs leaves exactly the new tree.
    again = publish_to_hub(object_store, published[:1], work_dir=tmp_path / "work2", repo_id=REPO)
    remaining = {info.key[len(prefix) + 1 :] for info in object_store.list(prefix + "/")}
    assert remaining == again.tree.paths()


def test_dry_run_without_a_repository_name_uses_the_default(object_store, written, tmp_path, monkeypatch):
    # Token and repository are passed in (wme's settings read them), never taken from the environment here.
    monkeypatch.setenv("HF_TOKEN", "hf_from_the_environment")
    monkeypatch.setenv("WME_HF_REPO", "someone/else")
    published = [publish_parquet(object_store, written[0], date=DATE)]
    result = publish_to_hub(object_store, published, work_dir=tmp_path)
    assert result.mode == "dry-run" and result.repo_id == DEFAULT_DRY_RUN_REPO
    assert object_store.exists(object_store.key(dry_run_prefix(DEFAULT_DRY_RUN_REPO, DATE), "README.md"))


# --------------------------------------------------------------------------------------------------
# With a token: the commit the thin upload makes (recorded, not sent)
# --------------------------------------------------------------------------------------------------


def _http_error(status: int) -> HfHubHTTPError:
    request = httpx2.Request("POST", "https://huggingface.co/api/datasets/x/commit/main")
    return HfHubHTTPError(f"{status}", response=httpx2.Response(status, request=request))


class RecordingHub:
    """Stands in for HfApi: records calls, serves a repository state, fails the first commit with a 503."""

    def __init__(self, existing: list[str], tags: list[str], downloads: dict[str, Path] | None = None):
        self.existing = existing
        self.tags = tags
        self.downloads = downloads or {}
        self.calls: list[tuple[str, tuple, dict]] = []
        self.commit_failures = 1

    def _record(self, name, *args, **kwargs):
        self.calls.append((name, args, kwargs))

    def create_repo(self, *args, **kwargs):
        self._record("create_repo", *args, **kwargs)

    def list_repo_files(self, *args, **kwargs):
        self._record("list_repo_files", *args, **kwargs)
        return list(self.existing)

    def hf_hub_download(self, repo_id, filename, **kwargs):
        self._record("hf_hub_download", repo_id, filename, **kwargs)
        return str(self.downloads[filename])

    def create_commit(self, repo_id, operations, **kwargs):
        self._record("create_commit", repo_id, list(operations), **kwargs)
        if self.commit_failures:
            self.commit_failures -= 1
            raise _http_error(503)
        return type("CommitInfo", (), {"oid": "c0ffee" * 6 + "abcd", "commit_url": f"https://hub/{repo_id}/c0ffee"})

    def list_repo_refs(self, *args, **kwargs):
        self._record("list_repo_refs", *args, **kwargs)
        return type("Refs", (), {"tags": [type("Ref", (), {"name": t}) for t in self.tags]})

    def delete_tag(self, *args, **kwargs):
        self._record("delete_tag", *args, **kwargs)

    def create_tag(self, *args, **kwargs):
        self._record("create_tag", *args, **kwargs)


def test_upload_is_one_commit_with_a_tag(tree, repo_dir):
    config = tree.configs[0]
    stale = f"data/{config}/old_00009.parquet"
    other = f"data/{EARLIER}.en/enwiki_namespace_0_00000.parquet"
    hub = RecordingHub(existing=[stale, other, "README.md", ".gitattributes"], tags=[DATE])
    upload = upload_tree(tree, repo_dir, token="hf_test", api=hub, backoff=0)
    commits = [c for c in hub.calls if c[0] == "create_commit"]
    assert len(commits) == 2  # the 503, then the retry that went through
    operations = commits[-1][1][1]
    adds = [op for op in operations if isinstance(op, CommitOperationAdd)]
    deletes = [op for op in operations if isinstance(op, CommitOperationDelete)]
    assert [op.path_in_repo for op in adds] == [f.path for f in tree.files]
    assert all(Path(op.path_or_fileobj) == repo_dir / op.path_in_repo for op in adds)
    assert [op.path_in_repo for op in deletes] == [stale]  # the other date's files stay
    assert commits[-1][2]["repo_type"] == "dataset" and DATE in commits[-1][2]["commit_message"]
    names = [c[0] for c in hub.calls]
    assert names.index("delete_tag") < names.index("create_tag")  # a re-run moves its date's tag
    (tag_call,) = [c for c in hub.calls if c[0] == "create_tag"]
    assert tag_call[2]["tag"] == DATE and tag_call[2]["revision"] == upload.commit
    assert upload.deleted == [stale] and upload.tag == DATE


def test_publish_to_hub_with_a_token_keeps_earlier_configs(object_store, written, tmp_path):
    earlier = repo_manifest(as_published(written[0], EARLIER))
    manifest_file = tmp_path / "earlier.json"
    manifest_file.write_bytes(earlier.to_json())
    earlier_path = f"manifests/{config_name(earlier)}.parquet-manifest.json"
    hub = RecordingHub(existing=[earlier_path], tags=[], downloads={earlier_path: manifest_file})
    published = [publish_parquet(object_store, written[1], date=DATE)]
    result = publish_to_hub(
        object_store,
        published,
        work_dir=tmp_path / "work",
        token=SecretStr("hf_test"),
        repo_id=REPO,
        api=hub,
        backoff=0,
    )
    assert result.mode == "hub" and result.upload.tag == DATE
    names = [c["config_name"] for c in _front_matter(result.tree.card)["configs"]]
    assert names == [config_name(published[0]), config_name(earlier)]
    # The shards were downloaded from the store (no local_dirs given) and verified.
    for item in result.tree.files:
        assert _sha256(tmp_path / "work" / "tree" / item.path) == item.sha256
    with pytest.raises(ValueError, match="WME_HF_REPO"):
        publish_to_hub(object_store, published, work_dir=tmp_path / "w3", token="hf_test", api=hub)


def test_retries_only_what_is_transient():
    attempts = []

    def flaky(errors):
        def call():
            attempts.append(1)
            if errors:
                raise errors.pop(0)
            return "ok"

        return call

    assert with_retries(flaky([_http_error(503), _http_error(429), ConnectionError()]), backoff=0) == "ok"
    assert len(attempts) == 4
    attempts.clear()
    with pytest.raises(HfHubHTTPError):
        with_retries(flaky([_http_error(403)]), backoff=0)
    assert len(attempts) == 1
    with pytest.raises(HfHubHTTPError):
        with_retries(flaky([_http_error(500)] * 5), retries=2, backoff=0)
    delays = []
    with_retries(flaky([httpx2.ConnectError("refused")]), backoff=0.5, sleep=delays.append)
    assert delays == [0.5]
    assert issubclass(RepositoryNotFoundError, HfHubHTTPError)  # a missing repo is an answer, not retried


def test_settings_read_the_token_as_a_secret_and_the_repository(monkeypatch):
    from wme_assets.defs.resources import PublishingResource
    from wme_assets.settings import load_settings

    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    monkeypatch.setenv("WME_HF_REPO", REPO)
    settings = load_settings()
    assert settings.hf_repo == REPO and settings.hf_token.get_secret_value() == "hf_secret_value"
    assert "hf_secret_value" not in repr(settings)
    # The resource refers to the variable by name; its value is resolved only in a run.
    resource = PublishingResource.from_settings(settings)
    assert resource.hf_repo == REPO and "hf_secret_value" not in repr(resource)
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.delenv("WME_HF_REPO")
    assert load_settings().hf_token is None and PublishingResource.from_settings(load_settings()).hf_token is None
