"""Exporting from the article store: a snapshot whose lines break the schema is not published."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from wme_assets.snapshots.publish import read_latest
from wme_assets.snapshots.run import export_snapshots
from wme_assets.storage.article_store import ArticleStoreWriter, publish_base


def test_invalid_article_blocks_publishing_and_is_reported(object_store, tmp_path):
    # Bad input: a record whose `name` is a number, which the article schema forbids.
    bad = orjson.dumps({"name": 123, "identifier": 7, "namespace": {"identifier": 0}})
    with ArticleStoreWriter(tmp_path / "base", project="bnwiki", source="dump:20230501", run_id="r") as writer:
        writer.add(7, 0, "Seven", 70, datetime(2023, 5, 1, tzinfo=UTC), bad)
    publish_base(object_store, tmp_path / "base", "bnwiki", "20230501")

    result = export_snapshots(object_store, "bnwiki", "20230501", namespaces=(0,), log=lambda _: None)
    (namespace,) = result.namespaces
    assert namespace.published is None
    assert any("name" in problem for problem in namespace.problems), namespace.problems
    assert read_latest(object_store, "bnwiki_namespace_0") is None
    assert not list(object_store.list(object_store.key("snapshots/20230501") + "/"))
