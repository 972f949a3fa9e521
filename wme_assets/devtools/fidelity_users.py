"""The "what users see" block of ``wme fidelity``: every category and every template of Enterprise's records
against the lists of wme's articles, per source of those lists.

The other blocks score the extractors' own output, and the wikitext path's headline figure counts only
the names the wikitext states. Users see the articles' ``categories`` and ``templates`` whole, whichever
source filled them, so here each record's article is built by :func:`~wme_assets.enrichment.article.build_article`
three ways and its lists compared with everything Enterprise's record lists:

* **wikitext** — the run without tables or HTML: the categories and top-level templates the wikitext states;
* **tables** — the same run with the SQL tables of the records' production wiki, as the dumps publish them:
  ``categorylinks``, ``templatelinks`` + ``linktarget``, made from the records' own lists
  (:func:`~wme_assets.devtools.mirror.tables_from_enterprise_records`) and taken through the whole path —
  mysqldump reader, Parquet, the on-disk join, the merge with the wikitext's lists. The tables' content is
  the records', so what this measures is the path: a regression in reading, joining, title normalisation or
  merging shows as a drop from 100 %; how complete MediaWiki's own tables are is measured against a real
  MediaWiki (``test_tables_mediawiki.py``);
* **HTML** — the run with each record's own Parsoid HTML (``article_body.html``): the lists Enterprise's
  parser rules read from it, categories added by templates included.

Micro-averaged precision, recall and F1 of names over the records that list each field (the 12 production
records of ``wme-articles`` and the 3 of the SDK's test data). Two kinds of template list exist among them
(see :mod:`.fidelity`): the 2023-2025 records list Parsoid's top-level transclusions, the 2018-2022 ones
(dewiki, simplewiki, the SDK's dewiki) MediaWiki's ``prop=templates`` (every depth, modules too).
"""

from __future__ import annotations

import gzip
import tempfile
from collections import defaultdict
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from wme_assets.devtools.fidelity import _PRF, Metric, RecordResult, Report, _Record, load_records
from wme_assets.enrichment.article import Site, build_article
from wme_assets.enrichment.tables_join import join_tables, table_rows
from wme_assets.enrichment.wikitext import WikiNames, extract_wikitext_fields

__all__ = ["SOURCES", "users_report"]

SOURCES = ("wikitext", "tables", "HTML")
# The tables that decide categories and templates (the others fill other fields).
_LIST_TABLES = ("categorylinks", "templatelinks", "linktarget")
_NOTES = {
    "wikitext": "no tables, no HTML: what the wikitext states",
    "tables": "with production's categorylinks/templatelinks (made from the records; measures the path)",
    "HTML": "with the record's own Parsoid HTML",
}


def _site(record: _Record) -> Site:
    data = record.expected
    base = (data.get("is_part_of") or {}).get("url") or ""
    language = (data.get("in_language") or {}).get("identifier") or "en"
    return Site(dbname=record.wiki, language=language, base_url=base.rstrip("/"),
                names=WikiNames.for_wiki(record.wiki))


def _row(record: _Record) -> dict:
    data = record.expected
    editor = (data.get("version") or {}).get("editor") or {}
    return {
        "page_id": int(data["identifier"]),
        "namespace": record.ns,
        "title": record.title,
        "revision_id": record.revision or 0,
        "timestamp": data.get("date_modified"),
        "text": record.wikitext,
        "contributor_id": editor.get("identifier"),
        "contributor_name": editor.get("name"),
    }


def _lists(record: _Record, site: Site, *, html: str | None = None, tables: dict | None = None) -> dict[str, set]:
    """The names of the categories and templates of the article wme builds for ``record``."""
    fields = extract_wikitext_fields(record.wikitext, site.names, dbname=record.wiki, ns=record.ns)
    built = build_article(_row(record), fields, site, html=html, tables=tables)
    article = orjson.loads(built.article_json)
    return {kind: {x["name"] for x in article.get(kind) or []} for kind in ("categories", "templates")}


def _joined_tables(records: list[_Record], work_dir: Path) -> dict[int, dict]:
    """Per page id, what the run's list tables say of it, through the dump path (reader, join)."""
    from wme_assets.devtools.mirror import tables_from_enterprise_records
    from wme_assets.ingestion.tables import ingest_table

    wiki = records[0].wiki
    sql = tables_from_enterprise_records([r.expected for r in records], dbname=wiki, completed="")
    local = {}
    for table in _LIST_TABLES:
        path = work_dir / f"{wiki}-{table}.sql.gz"
        path.write_bytes(gzip.compress(sql[table]))
        local[table] = ingest_table(path, table, work_dir / f"{wiki}-{table}.parquet").path
    ordered = sorted(records, key=lambda r: int(r.expected["identifier"]))
    pages = work_dir / f"{wiki}-pages.parquet"
    pq.write_table(pa.table({
        "page_id": pa.array([int(r.expected["identifier"]) for r in ordered], pa.int64()),
        "namespace": pa.array([r.ns for r in ordered], pa.int32()),
        "is_redirect": [False] * len(ordered),
        "contributor_id": pa.array([None] * len(ordered), pa.int64()),
    }), pages)
    names = WikiNames.for_wiki(wiki).names
    joined = join_tables([pages], local, names, sorted({r.ns for r in ordered}), work_dir / f"{wiki}-join",
                         date="20000101")
    out = {int(r.expected["identifier"]): {"present": joined.present} for r in ordered}
    for ordinal, fields in table_rows(joined):
        out[int(ordered[ordinal].expected["identifier"])].update(fields)
    return out


def users_report(fixtures_dir: Path) -> Report:
    """Precision, recall and F1 of all categories and all templates, per source, over Enterprise's records."""
    records = load_records(fixtures_dir)
    by_wiki: dict[str, list[_Record]] = defaultdict(list)
    for record in records:
        by_wiki[record.wiki].append(record)
    scores = {(kind, source): _PRF() for kind in ("categories", "templates") for source in SOURCES}
    results: list[RecordResult] = []
    with tempfile.TemporaryDirectory(prefix="wme-fidelity-") as tmp:
        tables: dict[tuple[str, int], dict] = {}
        for wiki, group in by_wiki.items():
            work = Path(tmp) / wiki
            work.mkdir()
            for page_id, joined in _joined_tables(group, work).items():
                tables[(wiki, page_id)] = joined
        for record in records:
            site = _site(record)
            html = (record.expected.get("article_body") or {}).get("html")
            per_source = {
                "wikitext": _lists(record, site),
                "tables": _lists(record, site, tables=tables[(record.wiki, int(record.expected["identifier"]))]),
                "HTML": _lists(record, site, html=html) if html else None,
            }
            result = RecordResult(record.source, record.wiki, record.title)
            for kind in ("categories", "templates"):
                if kind not in record.expected:
                    continue
                expected = {x["name"] for x in record.expected[kind]}
                for source, lists in per_source.items():
                    if lists is None:
                        continue
                    scores[(kind, source)].add(lists[kind], expected)
                    result.checks[f"{kind} ({source}): missing, extra"] = (
                        sorted(expected - lists[kind]), sorted(lists[kind] - expected))
            results.append(result)
    metrics: list[Metric] = []
    for (kind, source), prf in scores.items():
        metrics += prf.metrics(f"{kind}, all ({source})", _NOTES[source], path="users")
    return Report(metrics, results)
