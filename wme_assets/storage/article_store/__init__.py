"""The article store: the enriched articles of one project as Parquet, a base plus hourly deltas.

What the enrichment stage leaves for the exports: every article of a project as the Wikimedia Enterprise
Article JSON line the snapshot export writes (so a snapshot is a concatenation of stored lines), keyed by
page id, with its revision id and a content hash. It is built so that hourly changes can upsert and
delete articles without rewriting everything:

Layout (keys relative to the store's prefix)::

    articles/{project}/base/{YYYYMMDD}/part-*.parquet      a full set, ordered by page id, no deletes
    articles/{project}/base/{YYYYMMDD}/_manifest.json
    articles/{project}/deltas/{YYYYMMDDHH}/part-*.parquet  one hour of changes: upserts and deletes, any order
    articles/{project}/deltas/{YYYYMMDDHH}/_manifest.json
    articles/{project}/current.json                        the pointer: which base, which deltas on top

A base comes either from a dump (:func:`publish_base`) or from :func:`compact`, which folds the deltas
into a new base. Each base and delta is a :mod:`~wme_assets.storage.parquet_dataset` (files first, the
manifest last). ``current.json`` is what readers start from; it is replaced (``put_bytes``: staged,
verified, copied) only after the new files and manifest have been checked in the store, so a reader sees
the previous state or the new one, never a half-published delta. A crash before the pointer moves leaves
the files unreferenced and the view unchanged; the retry publishes them again and moves the pointer.

Rows (:data:`ARTICLE_SCHEMA`): ``page_id``, ``namespace``, ``name``, ``revision_id``, ``date_modified``,
``content_hash`` (``sha256:<hex>`` of the article line), ``op`` (``upsert`` or ``delete``),
``is_disambiguation``, ``article`` (the JSON line, bytes, no newline), ``structured`` (Structured
Contents JSON, optional) and provenance: ``project``, ``source`` (``dump:20230501``,
``events:2026112803``, ``compaction:20230508``…) and ``run_id``. A delete carries only the page id,
namespace and, when known, the revision id.

The current view (:func:`iter_current_articles`, :func:`iter_current_batches`): the base, then the deltas
in hour order, last write wins per page id. Inside one hour the higher revision id wins; a delete wins
over an upsert of the same revision, and a delete without revision id wins within its hour (a page is
deleted after its last edit). Deleted pages are dropped. A page moved to another namespace keeps its
page id, so the winner is decided over all namespaces before a namespace filter applies.

Reading is memory-bounded and streaming. The base is read row group by row group in its page id order
(no sort). The deltas are small next to the base; DuckDB picks the winner per page id among them and
sorts the winners by page id (spilling to disk beyond ``memory_limit``). The two sorted streams are then
merged batch by batch with Arrow compute. The files are read from a local content-addressed cache
(DuckDB's httpfs extension is not assumed).

Compaction writes the current view as a new base ``base/{date}`` whose manifest lists the deltas folded
into it (``folded_deltas``, cumulative since the last dump base) and the newest of them
(``deltas_after``): readers skip a delta at or before that hour even if a pointer still names it, and
:func:`publish_delta` refuses one, because applying an old delta on top of a base that already holds
later changes would undo them. The old base stays until retention removes it. Publishing a new dump base
keeps the deltas (folded or not) from its date on, so changes after the dump are not lost.

One writer per project at a time is the rule: the pointer is read-modify-write. Today every asset that
writes an article store declares the Dagster pool ``wme_article_store`` (``ARTICLE_STORE_POOL`` in
``wme_assets/instance.py``), which bounds concurrent writers deployment-wide, not per project (Dagster
pools are not per partition; a limit of 1 makes it one writer in total). Pointer updates re-read it just
before writing and refuse to drop deltas published in between, which narrows the window but does not
replace the rule.

Republishing a base or delta in place replaces it when its manifest is written; a reader downloading
its files at that moment gets a sha256 mismatch (an error, never a mix of two versions).

The package, module by module:

- :mod:`.layout`: the row schema, manifest formats, key layout and date checks;
- :mod:`.writer`: :class:`ArticleStoreWriter`, rows to local part files;
- :mod:`.state`: ``current.json``, the manifests it names, :func:`state_as_of` a past day;
- :mod:`.publish`: :func:`publish_base`, :func:`publish_delta`, and the records a stage keeps beside a base;
- :mod:`.read`: the merged current view, :func:`iter_current_batches` and :func:`iter_current_articles`, one
  delta's changes (:func:`iter_delta_changes`, what an hourly batch exports), and :func:`lookup_current` (the
  winning rows of a few pages, for writers that compare before they write);
- :mod:`.compact`: :func:`compact`, deltas folded into a new base.
"""

from __future__ import annotations

from wme_assets.storage.article_store.compact import compact
from wme_assets.storage.article_store.layout import (
    ARTICLE_SCHEMA,
    ARTICLE_STORE_SCHEMA_VERSION,
    BASE_FORMAT,
    CURRENT_FORMAT,
    DELETE,
    DELTA_FORMAT,
    SCHEMA_FINGERPRINT,
    UPSERT,
    article_hash,
    base_prefix,
    current_key,
    delta_prefix,
    store_prefix,
)
from wme_assets.storage.article_store.publish import (
    INPUTS_NAME,
    ArticleStorePublish,
    combine_stats,
    publish_base,
    publish_base_parts,
    publish_delta,
    read_inputs_record,
    scan_parts,
    write_inputs_record,
)
from wme_assets.storage.article_store.read import (
    iter_current_articles,
    iter_current_batches,
    iter_delta_changes,
    lookup_current,
)
from wme_assets.storage.article_store.state import (
    ArticleStoreNotFound,
    CurrentState,
    delta_exists,
    list_bases,
    read_base_manifest,
    read_current,
    read_delta_manifest,
    state_as_of,
    state_before,
)
from wme_assets.storage.article_store.writer import ArticleStoreSummary, ArticleStoreWriter

__all__ = [
    "ARTICLE_SCHEMA",
    "BASE_FORMAT",
    "CURRENT_FORMAT",
    "DELETE",
    "DELTA_FORMAT",
    "INPUTS_NAME",
    "SCHEMA_FINGERPRINT",
    "ARTICLE_STORE_SCHEMA_VERSION",
    "UPSERT",
    "ArticleStoreNotFound",
    "ArticleStorePublish",
    "ArticleStoreSummary",
    "ArticleStoreWriter",
    "CurrentState",
    "article_hash",
    "base_prefix",
    "compact",
    "current_key",
    "delta_exists",
    "delta_prefix",
    "iter_current_articles",
    "iter_current_batches",
    "iter_delta_changes",
    "list_bases",
    "lookup_current",
    "combine_stats",
    "publish_base",
    "publish_base_parts",
    "scan_parts",
    "publish_delta",
    "read_base_manifest",
    "read_current",
    "read_delta_manifest",
    "read_inputs_record",
    "state_as_of",
    "state_before",
    "store_prefix",
    "write_inputs_record",
]
