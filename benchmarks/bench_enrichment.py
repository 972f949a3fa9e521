"""Benchmark of the enrichment on real articles: the wikitext extractor, then the whole stage (a script).

    python benchmarks/bench_enrichment.py [--max-mb-per-dump 4] [--repeat 1] [--fixtures DIR] [--no-stage]

Corpora (all real wikitext from ../shared/fixtures, loaded before any timing):
    wme-articles     the 12 Enterprise article records (en/fr/pt/de/simple, mostly long articles)
    wtf_wikipedia    70 articles (infoboxes, references, tables, lists)
    <wiki> × 7       ns-0, non-redirect pages of the truncated bn/el/hy/ja/mr/uk/vi dumps (up to
                     --max-mb-per-dump MB each; namespace names from each dump's <siteinfo>)

For each corpus the same pages go through ``extract_wikitext_fields`` and, in the same run, through
bare ``mwparserfromhell.parse`` (the tree alone, no field extraction). Throughput is per core: MB of
wikitext (UTF-8, 10^6 bytes) and articles per CPU second of this process. "ratio" is extractor MB/s
over parse MB/s (> 1: the whole extraction stage is faster than building mwparserfromhell's tree
once). Peak memory is ru_maxrss after each phase. The issue's target is ≥ 2 MB/s per core.

The whole stage (second table): the pages enrich_pages would enrich (namespaces 0, 6, 10, 14, not redirects,
up to --max-mb-per-dump MB per dump) of the 7 dumps and of the 12 Enterprise records, written into a real
page store with PageStoreWriter and read back as its rows, redirects attached by the same DuckDB join (all
of that untimed). Timed per page, as an enrichment worker does it: extract_wikitext_fields, build_article
(the article and its Structured Contents, validated by their models) and their serialization to JSON bytes
— beside bare mwparserfromhell.parse of the same pages' wikitext in the same run. "ratio" is stage MB/s over
parse MB/s; "JSON MB" the article + Structured Contents JSON produced.
"""

from __future__ import annotations

import argparse
import json
import logging
import lzma
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import mwparserfromhell  # noqa: E402

from wme_assets.enrichment.article import Site, build_article  # noqa: E402
from wme_assets.enrichment.run import (  # noqa: E402
    EXPORTED_NAMESPACES,
    EnrichResult,
    _eligible_rows,
    join_redirects,
    redirect_lists,
)
from wme_assets.enrichment.wikitext import WikiNames, extract_wikitext_fields  # noqa: E402
from wme_assets.ingestion.dump_xml import DumpReader  # noqa: E402
from wme_assets.ingestion.run import siteinfo_record  # noqa: E402
from wme_assets.storage.page_store import PageStoreWriter  # noqa: E402

DEFAULT_FIXTURES = REPO.parent / "shared" / "fixtures"


@dataclass
class Corpus:
    name: str
    pages: list[tuple[str, str, WikiNames]]  # (dbname, wikitext, names)

    @property
    def megabytes(self) -> float:
        return sum(len(text.encode("utf-8")) for _db, text, _n in self.pages) / 1e6


# --------------------------------------------------------------------------------------------------
# Loading (not timed)
# --------------------------------------------------------------------------------------------------


def load_corpora(fixtures: Path, max_mb_per_dump: float) -> list[Corpus]:
    corpora = [_wme_articles(fixtures), _wtf_wikipedia(fixtures)]
    logging.getLogger("wme_assets.ingestion.dump_xml").setLevel(logging.ERROR)
    for path in sorted((fixtures / "xztextfilter-truncated-dumps").glob("*-truncated-100k.xml.xz")):
        corpora.append(_dump(path, max_mb_per_dump))
    return [c for c in corpora if c.pages]


def _wme_articles(fixtures: Path) -> Corpus:
    pages = []
    for path in sorted((fixtures / "wme-articles").glob("*/*.json.xz")):
        with lzma.open(path, "rt", encoding="utf-8") as fh:
            record = json.load(fh)
        wiki = record["is_part_of"]["identifier"]
        pages.append((wiki, record["article_body"]["wikitext"], WikiNames.for_wiki(wiki)))
    return Corpus("wme-articles", pages)


def _wtf_wikipedia(fixtures: Path) -> Corpus:
    en, de = WikiNames.for_wiki("enwiki"), WikiNames.for_wiki("dewiki")
    pages = []
    for path in sorted((fixtures / "wtf_wikipedia-wikitext").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        german = "[[Kategorie:" in text
        pages.append(("dewiki" if german else "enwiki", text, de if german else en))
    return Corpus("wtf_wikipedia", pages)


def _dump(path: Path, max_mb: float) -> Corpus:
    pages = []
    size = 0
    with DumpReader(path, keep_partial=True) as reader:
        names = WikiNames.from_siteinfo(reader.siteinfo)
        dbname = reader.siteinfo.dbname
        for page in reader:
            text = page.latest.text if page.latest else None
            if page.ns != 0 or page.redirect_target or not text:
                continue
            pages.append((dbname, text, names))
            size += len(text.encode("utf-8"))
            if size >= max_mb * 1e6:
                break
    return Corpus(dbname, pages)


@dataclass
class StageCorpus:
    name: str
    site: Site
    rows: list[dict]  # page store rows, with their "_redirects"

    @property
    def megabytes(self) -> float:
        return sum(len((row["text"] or "").encode("utf-8")) for row in self.rows) / 1e6


def load_stage_corpora(fixtures: Path, max_mb_per_dump: float, work_dir: Path) -> list[StageCorpus]:
    exports = [
        (f"{path.name.split('-')[0]}", path)
        for path in sorted((fixtures / "xztextfilter-truncated-dumps").glob("*-truncated-100k.xml.xz"))
    ]
    exports += _enterprise_exports(fixtures, work_dir)
    corpora = []
    for name, path in exports:
        with DumpReader(path, keep_partial=True) as reader:
            siteinfo = siteinfo_record(reader.siteinfo)
            out_dir = work_dir / f"pages-{name}"
            with PageStoreWriter(out_dir, project=reader.siteinfo.dbname, dump_date="20230501") as writer:
                for page in reader:
                    writer.add(page, source_file=path.name)
        files = sorted(out_dir.glob("part-*.parquet"))
        joined = join_redirects(files, EXPORTED_NAMESPACES, work_dir / f"join-{name}")
        rows, size = [], 0
        result = EnrichResult(siteinfo["dbname"], "20230501")
        for row in _eligible_rows(files, redirect_lists(joined.path), set(EXPORTED_NAMESPACES), result):
            rows.append(row)
            size += len((row["text"] or "").encode("utf-8"))
            if size >= max_mb_per_dump * 1e6:
                break
        corpora.append(StageCorpus(name, Site.from_siteinfo(siteinfo), rows))
    return corpora


def _enterprise_exports(fixtures: Path, work_dir: Path) -> list[tuple[str, Path]]:
    """The 12 Enterprise records as one MediaWiki export per wiki (real wikitext, ids and metadata)."""
    from wme_assets.devtools.mirror import export_xml_from_enterprise_records

    records = []
    for path in sorted((fixtures / "wme-articles").glob("*/*.json.xz")):
        with lzma.open(path, "rt", encoding="utf-8") as fh:
            records.append(json.load(fh))
    exports = []
    key = lambda r: r["is_part_of"]["identifier"]  # noqa: E731
    for wiki, group in groupby(sorted(records, key=key), key=key):
        path = work_dir / f"{wiki}-enterprise.xml"
        path.write_bytes(export_xml_from_enterprise_records(list(group), dbname=wiki))
        exports.append((f"{wiki} (wme)", path))
    return exports


def stage_seconds(corpus: StageCorpus, repeat: int) -> tuple[float, int]:
    """CPU seconds of page row -> article + Structured Contents JSON bytes, best of ``repeat``; JSON bytes."""
    best, produced = float("inf"), 0
    site, names, dbname = corpus.site, corpus.site.names, corpus.site.dbname
    for _ in range(repeat):
        produced = 0
        started = time.process_time()
        for row in corpus.rows:
            fields = extract_wikitext_fields(row["text"] or "", names, dbname=dbname, ns=row["namespace"])
            built = build_article(row, fields, site, redirects=row["_redirects"], run_id="bench")
            produced += len(built.article_json) + len(built.structured_json or b"")
        best = min(best, time.process_time() - started)
    return best, produced


def parse_seconds(corpus: StageCorpus, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for row in corpus.rows:
            mwparserfromhell.parse(row["text"] or "")
        best = min(best, time.process_time() - started)
    return best


def run_stage(args) -> None:
    with tempfile.TemporaryDirectory(prefix="wme-bench-enrichment-") as tmp:
        corpora = load_stage_corpora(args.fixtures, args.max_mb_per_dump, Path(tmp))
    rss_loaded = peak_rss_mb()
    timed = [(corpus, *stage_seconds(corpus, args.repeat)) for corpus in corpora]
    rss_stage = peak_rss_mb()
    header = ("corpus", "pages", "MB", "stage MB/s", "stage art/s", "parse MB/s", "parse art/s", "ratio", "JSON MB")
    table = [header]
    totals = [0, 0.0, 0.0, 0.0, 0]
    for corpus, stage_s, produced in timed:
        parse_s = parse_seconds(corpus, args.repeat)
        pages, mb = len(corpus.rows), corpus.megabytes
        table.append(_stage_row(corpus.name, pages, mb, stage_s, parse_s, produced))
        for i, value in enumerate((pages, mb, stage_s, parse_s, produced)):
            totals[i] += value
    table.append(_stage_row("all", *totals))
    print()
    print("Whole stage: page store row -> article JSON + Structured Contents JSON (one core)")
    _print_table(table)
    print(
        f"peak RSS: {rss_loaded:.0f} MB after loading the rows, {rss_stage:.0f} MB after the stage pass, "
        f"{peak_rss_mb():.0f} MB after the parse pass"
    )


def _stage_row(name, pages, mb, stage_s, parse_s, produced) -> tuple[str, ...]:
    return (
        name,
        str(pages),
        f"{mb:.2f}",
        f"{mb / stage_s:.2f}",
        f"{pages / stage_s:.0f}",
        f"{mb / parse_s:.2f}",
        f"{pages / parse_s:.0f}",
        f"{parse_s / stage_s:.2f}×",
        f"{produced / 1e6:.1f}",
    )


def _print_table(table: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for i, r in enumerate(table):
        print("  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]))
        if i == 0 or i == len(table) - 2:
            print("  ".join("-" * w for w in widths))


# --------------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------------


def cpu_seconds(run, pages, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for dbname, text, names in pages:
            run(dbname, text, names)
        best = min(best, time.process_time() - started)
    return best


def run_extractor(dbname: str, text: str, names: WikiNames) -> None:
    extract_wikitext_fields(text, names, dbname=dbname)


def run_parse(_dbname: str, text: str, _names: WikiNames) -> None:
    mwparserfromhell.parse(text)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    parser.add_argument("--max-mb-per-dump", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs per corpus")
    parser.add_argument("--no-stage", dest="stage", action="store_false", help="the extractor table only")
    parser.add_argument("--stage-only", action="store_true", help="the whole-stage table only")
    args = parser.parse_args()
    if not args.stage_only:
        run_extractor_table(args)
    if args.stage:
        run_stage(args)


def run_extractor_table(args) -> None:

    corpora = load_corpora(args.fixtures, args.max_mb_per_dump)
    rss_loaded = peak_rss_mb()
    rows = []
    totals = {"pages": 0, "mb": 0.0, "extract": 0.0, "parse": 0.0}
    for corpus in corpora:
        extract_s = cpu_seconds(run_extractor, corpus.pages, args.repeat)
        rows.append((corpus, extract_s))
    rss_extract = peak_rss_mb()
    results = []
    for corpus, extract_s in rows:
        parse_s = cpu_seconds(run_parse, corpus.pages, args.repeat)
        results.append((corpus, extract_s, parse_s))
        totals["pages"] += len(corpus.pages)
        totals["mb"] += corpus.megabytes
        totals["extract"] += extract_s
        totals["parse"] += parse_s
    rss_parse = peak_rss_mb()

    header = ("corpus", "pages", "MB", "extract MB/s", "extract art/s", "parse MB/s", "parse art/s", "ratio")
    table = [header]
    for corpus, extract_s, parse_s in results:
        table.append(_row(corpus.name, len(corpus.pages), corpus.megabytes, extract_s, parse_s))
    table.append(_row("all", totals["pages"], totals["mb"], totals["extract"], totals["parse"]))
    print("Wikitext extractor (extract_wikitext_fields), ns-0 pages (one core)")
    _print_table(table)
    print()
    print(
        f"CPU time per core (process_time), best of {args.repeat}; mwparserfromhell {mwparserfromhell.__version__}"
        f" (C tokenizer: {mwparserfromhell.parser.use_c})"
    )
    print(
        f"peak RSS: {rss_loaded:.0f} MB after loading, {rss_extract:.0f} MB after the extractor pass, "
        f"{rss_parse:.0f} MB after the parse pass"
    )


def _row(name: str, pages: int, mb: float, extract_s: float, parse_s: float) -> tuple[str, ...]:
    return (
        name,
        str(pages),
        f"{mb:.2f}",
        f"{mb / extract_s:.2f}",
        f"{pages / extract_s:.0f}",
        f"{mb / parse_s:.2f}",
        f"{pages / parse_s:.0f}",
        f"{parse_s / extract_s:.1f}×",
    )


if __name__ == "__main__":
    main()
