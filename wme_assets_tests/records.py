"""The real Enterprise records the tests share, grouped by project as NDJSON lines.

``wme-articles`` (12 production articles) and ``wme-sdk-testdata`` (3 SDK articles and Structured Contents
examples), and the Structured Contents wme's enrichment builds from the articles' real wikitext.
"""

from __future__ import annotations

import lzma
from collections import defaultdict
from functools import cache
from pathlib import Path

import orjson

from wme_assets.enrichment.article import Site, build_article
from wme_assets.enrichment.wikitext import WikiNames, extract_wikitext_fields
from wme_assets.schema import Article, StructuredContent, to_json_bytes
from wme_assets_tests.paths import FIXTURES

ARTICLES_DIR = FIXTURES / "wme-articles"
SDK_DIR = FIXTURES / "wme-sdk-testdata"


@cache
def enterprise_article_records() -> list[dict]:
    """Every real Enterprise article record: the production ones, then the SDK's test data."""
    records = [_load(path) for path in sorted(ARTICLES_DIR.glob("*/*.json.xz"))]
    sdk = SDK_DIR / "testdata" / "articles.ndjson"
    return records + [orjson.loads(line) for line in sdk.read_bytes().splitlines() if line.strip()]


def load_real_records() -> dict[str, list[tuple[int, bytes]]]:
    """``{dbname: [(page_id, ndjson_line), ...]}`` ordered by page id: the records as Enterprise wrote them."""
    groups: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
    for record in enterprise_article_records():
        groups[record["is_part_of"]["identifier"]].append((int(record["identifier"]), orjson.dumps(record)))
    return {dbname: sorted(group) for dbname, group in groups.items()}


def _load(path: Path):
    opener = lzma.open if path.suffix == ".xz" else open
    with opener(path, "rb") as fh:
        return orjson.loads(fh.read())


@cache
def real_articles() -> dict[str, list[tuple[int, bytes]]]:
    """dbname → [(page id, Article JSON line)] in page id order: every real Enterprise article record."""
    by_project: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
    for record in enterprise_article_records():
        article = Article.model_validate(record)
        by_project[article.is_part_of.identifier].append((article.identifier, to_json_bytes(article)))
    return {project: sorted(lines) for project, lines in sorted(by_project.items())}


@cache
def enterprise_structured_contents() -> dict[str, list[tuple[int, bytes]]]:
    """dbname → Structured Contents lines of Enterprise's own records (those with a page id)."""
    by_project: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
    examples = sorted((SDK_DIR / "structured-contents-examples").glob("*.xz"))
    paths = [SDK_DIR / "testdata" / "structured-contents.json", *examples]
    for path in paths:
        data = _load(path)
        for record in data if isinstance(data, list) else [data]:
            model = StructuredContent.model_validate(record)
            if model.identifier and model.is_part_of:
                by_project[model.is_part_of.identifier].append((model.identifier, to_json_bytes(model)))
    return {project: sorted(lines) for project, lines in sorted(by_project.items())}


@cache
def wme_structured_contents() -> dict[str, list[tuple[int, bytes]]]:
    """dbname → Structured Contents that wme's enrichment builds from the real wikitext of wme-articles."""
    by_project: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
    for path in sorted(ARTICLES_DIR.glob("*/*.json.xz")):
        record = _load(path)
        dbname = path.parent.name
        names = WikiNames.for_wiki(dbname)
        site = Site(
            dbname=dbname,
            language=record["in_language"]["identifier"],
            base_url=record["is_part_of"].get("url", ""),
            names=names,
        )
        wikitext = record["article_body"]["wikitext"]
        row = {
            "title": record["name"],
            "page_id": record["identifier"],
            "namespace": 0,
            "text": wikitext,
            "revision_id": record["version"]["identifier"],
            "timestamp": record["date_modified"],
        }
        built = build_article(row, extract_wikitext_fields(wikitext, names), site)
        by_project[dbname].append((built.page_id, built.structured_json))
    return {project: sorted(lines) for project, lines in sorted(by_project.items())}
