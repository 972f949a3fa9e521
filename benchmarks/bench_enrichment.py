"""Benchmark of the wikitext extractor on real articles (a script, not a test).

    python benchmarks/bench_enrichment.py [--max-mb-per-dump 4] [--repeat 1] [--fixtures DIR]

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
"""

from __future__ import annotations

import argparse
import json
import logging
import lzma
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import mwparserfromhell  # noqa: E402

from wme_assets.enrichment.wikitext import WikiNames, extract_wikitext_fields  # noqa: E402
from wme_assets.parsing.dump_xml import DumpReader  # noqa: E402

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
    logging.getLogger("wme_assets.parsing.dump_xml").setLevel(logging.ERROR)
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
    args = parser.parse_args()

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
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for i, r in enumerate(table):
        print("  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]))
        if i == 0 or i == len(table) - 2:
            print("  ".join("-" * w for w in widths))
    print()
    print(f"CPU time per core (process_time), best of {args.repeat}; mwparserfromhell {mwparserfromhell.__version__}"
          f" (C tokenizer: {mwparserfromhell.parser.use_c})")
    print(f"peak RSS: {rss_loaded:.0f} MB after loading, {rss_extract:.0f} MB after the extractor pass, "
          f"{rss_parse:.0f} MB after the parse pass")


def _row(name: str, pages: int, mb: float, extract_s: float, parse_s: float) -> tuple[str, ...]:
    return (name, str(pages), f"{mb:.2f}", f"{mb / extract_s:.2f}", f"{pages / extract_s:.0f}",
            f"{mb / parse_s:.2f}", f"{pages / parse_s:.0f}", f"{parse_s / extract_s:.1f}×")


if __name__ == "__main__":
    main()
