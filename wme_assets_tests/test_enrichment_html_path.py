"""Enrichment with a MediaWiki configured: the real loopback wiki's own dump, ingested, enriched from its HTML."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import asdict

import orjson

from wme_assets.devtools.mirror import build_dumps_mirror
from wme_assets.enrichment.html import html_fields
from wme_assets.enrichment.run import enrich_pages
from wme_assets.ingestion.download import download_run
from wme_assets.ingestion.run import ingest_pages
from wme_assets.schema import Part, to_json_bytes
from wme_assets.snapshots.run import iter_current_structured
from wme_assets.sources.dumps_client import DumpsClient
from wme_assets.storage.article_store import iter_current_articles, state_as_of
from wme_assets_tests.mediawiki_server import MW_IP

DATE = "20250201"


def _as_enterprise_parts(parts) -> list[dict]:
    """The parts as they serialize in a Structured Contents record (empty fields omitted)."""
    return [orjson.loads(to_json_bytes(Part.model_validate(asdict(part)))) for part in parts]


def test_articles_carry_parsoid_html_and_its_abstract(mediawiki, object_store, tmp_path):
    # The wiki's own dump (real pages, the wiki's revision ids), laid out as a dumps run.
    env = {**os.environ, "MW_CONFIG_FILE": str(mediawiki.directory / "LocalSettings.php")}
    xml = subprocess.run(
        ["php", str(MW_IP / "maintenance" / "dumpBackup.php"), "--current", "--quiet"],
        env=env, capture_output=True, check=True, timeout=120,
    ).stdout
    build_dumps_mirror(tmp_path / "mirror", "enwiki", DATE, xml)
    client = DumpsClient((tmp_path / "mirror").as_uri())
    status = client.fetch_status_bytes("enwiki", DATE)
    object_store.put_bytes(object_store.key(f"raw/enwiki/{DATE}/dumpstatus.json"), status)
    download_run(client, object_store, "enwiki", DATE)
    ingest_pages(object_store, "enwiki", DATE, workers=1, log=lambda _: None)

    result = enrich_pages(
        object_store, "enwiki", DATE, run_id="html-run", workers=1, mediawiki_url=mediawiki.base_url,
        log=lambda _: None,
    )
    assert result.html_pages == result.articles >= len(mediawiki.revisions)
    assert result.html_missing == 0
    with tempfile.TemporaryDirectory() as cache:
        articles = [orjson.loads(line) for _, line in iter_current_articles(object_store, "enwiki", cache_dir=cache)]
        structured = {
            page_id: orjson.loads(line)
            for page_id, line in iter_current_structured(object_store, "enwiki", cache_dir=cache, state=state_as_of(
                object_store, "enwiki", DATE))
        }
    by_revision = {a["version"]["identifier"]: a for a in articles}
    with_sections = 0
    for title, revision in mediawiki.revisions.items():
        article = by_revision[revision]
        html = article["article_body"]["html"]
        assert html.lstrip().lower().startswith("<!doctype html>") and "mw:" in html  # Parsoid's document
        rendered = html_fields(html, base_url=article["url"].rsplit("/wiki/", 1)[0] + "/wiki/")
        assert article["abstract"] == rendered.abstract
        assert article["article_body"]["wikitext"] == mediawiki.wikitext[title]
        # Structured Contents take their sections and infoboxes from the HTML too.
        contents = structured[article["identifier"]]
        assert contents.get("sections", []) == _as_enterprise_parts(rendered.sections)
        assert contents.get("infoboxes", []) == _as_enterprise_parts(rendered.infoboxes)
        with_sections += bool(rendered.sections)
    assert with_sections, "the wiki's pages should have sections to compare"
