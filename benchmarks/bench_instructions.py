"""Instructions the enrichment executes on the long real articles, counted by valgrind (a script).

    .venv/bin/python benchmarks/bench_instructions.py [--fixtures ../shared/fixtures] [--repo CHECKOUT]
        [--stage extract|article] [--parts]

Why: on a shared virtual machine the CPU-seconds of the same work moved by up to 2x from one minute to the
next, so a change worth 3 % is invisible in timings. Instructions retired repeat for the same code, input
and hash seed (to within 0.2 %: clock reads differ), whatever else the machine does: this prints them, so a
change to the extractor can be compared before/after (``--repo`` names the checkout to measure) to a fraction
of a percent. They are not seconds: cache misses, page faults and system time are not in them, which is what
``bench_peers.py`` and ``bench_enrichment.py`` measure.

The input: the 70 articles of ``wtf_wikipedia-wikitext`` (``redirect.txt`` left out) and the wikitext of the
Enterprise records of ``wme-articles`` (each with its own wiki's names): the long articles
``bench_peers.py`` repeats into its dump, each once. ``--stage extract`` runs ``extract_wikitext_fields`` on
each; ``--stage article`` also builds its Enterprise article and Structured Contents record (``build_article``).

``--parts`` also prints what each part of the extraction costs (references, tables, sections, the lead and its
abstract, the template lists, the maintenance tags): the count with the part replaced by what a page without it
gives, taken from the full count.

How: the script runs itself twice under ``valgrind --tool=callgrind`` with ``PYTHONHASHSEED=0`` (both at once,
each on one core): once loading the articles and warming the stage on the first one, once doing that and then
the stage on every article. The difference is the stage's own count.
"""

from __future__ import annotations

import argparse
import lzma
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FIXTURES = REPO.parent / "shared" / "fixtures"


def load_articles(fixtures: Path) -> list[tuple[str, str]]:
    """``(dbname, wikitext)`` of the long real articles."""
    import json

    articles = []
    for path in sorted((fixtures / "wtf_wikipedia-wikitext").glob("*.txt")):
        if path.name != "redirect.txt":
            articles.append(("enwiki", path.read_text(encoding="utf-8")))
    for path in sorted((fixtures / "wme-articles").glob("*/*.json.xz")):
        with lzma.open(path, "rt", encoding="utf-8") as fh:
            record = json.load(fh)
        articles.append((record["is_part_of"]["identifier"], record["article_body"]["wikitext"]))
    return articles


# The extraction's parts that --without can leave out: each replaced by a function returning what a page
# without that part would give, so that the count without it, taken from the full count, is what it costs.
PARTS = ("references", "tables", "sections", "lead", "abstract", "templates", "maintenance_tags")


def _leave_out(part: str) -> None:
    import wme_assets.enrichment.wikitext.extract as extract
    import wme_assets.enrichment.wikitext.lead as lead

    if part == "references":
        extract._references = lambda *args, **kwargs: []
    elif part == "tables":
        extract._tables = lambda *args, **kwargs: []
    elif part == "sections":
        extract._build_sections = lambda *args, **kwargs: []
    elif part == "lead":  # abstract, infoboxes, image and short description
        extract._lead_fields = lambda *args, **kwargs: lead._Lead()
    elif part == "abstract":
        lead._lead_abstract = lambda *args, **kwargs: ""
    elif part == "templates":
        extract.template_lists = lambda *args, **kwargs: ([], [])
    elif part == "maintenance_tags":
        extract.maintenance_tags = lambda *args, **kwargs: {}


def run_stage(fixtures: Path, stage: str, measured: bool, without: str | None = None) -> None:
    """Load, warm on the first article, then (``measured``) run ``stage`` on every article."""
    from wme_assets.enrichment.article import Site, build_article
    from wme_assets.enrichment.wikitext import extract_wikitext_fields

    if without:
        _leave_out(without)

    articles = load_articles(fixtures)
    sites = {}
    for dbname, _text in articles:
        if dbname not in sites:
            language = re.sub(r"wik\w+$", "", dbname) or "en"
            sites[dbname] = Site.from_siteinfo(
                {"dbname": dbname, "language": language, "base_url": f"https://{language}.wikipedia.org/",
                 "namespaces": {"0": {"name": ""}, "6": {"name": "File"}, "10": {"name": "Template"},
                                "14": {"name": "Category"}}})

    def one(index: int, dbname: str, text: str) -> None:
        site = sites[dbname]
        fields = extract_wikitext_fields(text, site.names, dbname=dbname)
        if stage == "article":
            row = {"page_id": index + 1, "namespace": 0, "title": f"Article {index}", "revision_id": index + 1,
                   "timestamp": "2026-01-01T00:00:00Z", "text": text, "source_file": "bench"}
            build_article(row, fields, site, run_id="bench")

    one(0, *articles[0])
    if measured:
        for index, (dbname, text) in enumerate(articles):
            one(index, dbname, text)


def _count(args: argparse.Namespace, measured: bool, without: str | None = None) -> int:
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
               "--inner", "1" if measured else "0", "--stage", args.stage, "--fixtures", str(args.fixtures)]
    if without:
        command += ["--without", without]
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=str(args.repo.resolve()))
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        sys.exit(f"valgrind run failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose code is measured")
    parser.add_argument("--stage", choices=("extract", "article"), default="extract")
    parser.add_argument("--parts", action="store_true",
                        help="also what each part of the extraction costs: the count without it, from the full one")
    parser.add_argument("--without", choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--inner", choices=("0", "1"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner is not None:
        run_stage(args.fixtures, args.stage, args.inner == "1", args.without)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    articles = load_articles(args.fixtures)
    mb = sum(len(text.encode("utf-8")) for _db, text in articles) / 1e6
    with ThreadPoolExecutor(2) as pool:
        base, total = pool.map(lambda measured: _count(args, measured), (False, True))
    work = total - base
    print(f"# {args.repo.resolve()}: stage {args.stage}, {len(articles)} long real articles, {mb:.2f} MB of wikitext")
    print(f"instructions: {work / 1e6:,.0f} M ({work / len(articles) / 1e6:,.1f} M per article, "
          f"{work / mb / 1e6:,.0f} M per MB); loading and warm-up {base / 1e6:,.0f} M, not counted")
    if args.parts:
        with ThreadPoolExecutor(2) as pool:
            counts = list(pool.map(lambda part: _count(args, True, part), PARTS))
        print("| part of the extraction | M instructions | share |\n|---|---|---|")
        for part, count in zip(PARTS, counts, strict=True):
            cost = total - count
            print(f"| {part} | {cost / 1e6:,.0f} | {100 * cost / work:.1f} % |")
        print("(abstract is part of lead; a part's count includes what it calls)")


if __name__ == "__main__":
    main()
