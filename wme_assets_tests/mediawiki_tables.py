"""A test MediaWiki's own tables and pages, exported as a dumps run has them.

mysqldump does not read SQLite, so the tables are read from the wiki's SQLite database here and written in
mysqldump's format by the mirror's writer (:func:`wme_assets.devtools.mirror.mysqldump_table`, the
production ``CREATE TABLE``\\ s). MediaWiki 1.39 keeps ``templatelinks`` in the ``linktarget`` shape only and
``categorylinks`` with names in the row; the other shape of each is derived from the same rows — the
names joined in from ``linktarget``, or ids given to category titles as MediaWiki 1.45's migration does —
so both shapes carry MediaWiki's own truth. The pages come from ``dumpBackup.php --current``: the wiki's
own export, with the page, revision and user ids its tables use.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wme_assets.devtools.mirror import mysqldump_table
from wme_assets_tests.mediawiki_server import MW_IP, MediaWikiServer

TABLES = ("categorylinks", "templatelinks", "linktarget", "page_restrictions", "page_props", "user_groups")


def _text(value):
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def _database(server: MediaWikiServer) -> Path:
    # {dbname}.sqlite, beside wikicache.sqlite and {dbname}_jobqueue / _l10n_cache
    [path] = [p for p in (server.directory / "data").glob("*.sqlite") if "_" not in p.stem and p.stem != "wikicache"]
    return path


def read_table(server: MediaWikiServer, query: str) -> list[dict]:
    """Rows of a query on the wiki's database, as column -> value (bytes as text)."""
    with sqlite3.connect(f"file:{_database(server)}?mode=ro", uri=True) as con:
        con.row_factory = sqlite3.Row
        return [{k: _text(row[k]) for k in row.keys()} for row in con.execute(query)]  # noqa: SIM118


_QUERIES = {
    "categorylinks": "SELECT * FROM categorylinks ORDER BY cl_from, cl_to",
    "templatelinks": "SELECT * FROM templatelinks ORDER BY tl_from, tl_target_id",
    "linktarget": "SELECT * FROM linktarget ORDER BY lt_id",
    "page_restrictions": "SELECT * FROM page_restrictions ORDER BY pr_id",
    "page_props": "SELECT * FROM page_props ORDER BY pp_page, pp_propname",
    "user_groups": "SELECT * FROM user_groups ORDER BY ug_user, ug_group",
}


def table_rows(server: MediaWikiServer) -> dict[str, list[dict]]:
    """Every table wme reads, as MediaWiki holds it."""
    return {table: read_table(server, query) for table, query in _QUERIES.items()}


def export_tables(
    server: MediaWikiServer, dbname: str, completed: str, *, shape: str = "linktarget"
) -> dict[str, bytes]:
    """The tables as mysqldumps, the link tables in ``shape``: ``linktarget`` (ids into ``linktarget``, today's
    dumps) or ``names`` (namespace and title in the row, the dumps before 2023)."""
    rows = table_rows(server)
    targets = {lt["lt_id"]: lt for lt in rows["linktarget"]}
    categories, templates, linktarget = rows["categorylinks"], rows["templatelinks"], rows["linktarget"]
    if shape == "names":
        templates = [
            {
                **tl,
                "tl_namespace": targets[tl["tl_target_id"]]["lt_namespace"],
                "tl_title": targets[tl["tl_target_id"]]["lt_title"],
            }
            for tl in templates
        ]
    else:
        ids = {(lt["lt_namespace"], lt["lt_title"]): lt["lt_id"] for lt in linktarget}
        linktarget = list(linktarget)
        for cl in categories:
            if (14, cl["cl_to"]) not in ids:
                ids[(14, cl["cl_to"])] = max(ids.values(), default=0) + 1
                linktarget.append({"lt_id": ids[(14, cl["cl_to"])], "lt_namespace": 14, "lt_title": cl["cl_to"]})
        categories = [{**cl, "cl_target_id": ids[(14, cl["cl_to"])]} for cl in categories]
    sql = {
        "categorylinks": mysqldump_table(dbname, "categorylinks", categories, completed, shape=shape),
        "templatelinks": mysqldump_table(dbname, "templatelinks", templates, completed, shape=shape),
        "page_restrictions": mysqldump_table(dbname, "page_restrictions", rows["page_restrictions"], completed),
        "page_props": mysqldump_table(dbname, "page_props", rows["page_props"], completed),
        "user_groups": mysqldump_table(dbname, "user_groups", rows["user_groups"], completed),
    }
    if shape == "linktarget":
        sql["linktarget"] = mysqldump_table(dbname, "linktarget", linktarget, completed)
    return sql


def export_pages(server: MediaWikiServer) -> bytes:
    """The wiki's current revisions as its own XML export (its page, revision and user ids)."""
    env = {**os.environ, "MW_CONFIG_FILE": str(server.directory / "LocalSettings.php")}
    proc = subprocess.run(
        ["php", str(MW_IP / "maintenance" / "dumpBackup.php"), "--current", "--quiet"],
        capture_output=True,
        env=env,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dumpBackup.php failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    return proc.stdout


def maintenance(server: MediaWikiServer, script: str, *args: str, stdin: bytes | None = None) -> str:
    """Run a maintenance script on the wiki; its output."""
    env = {**os.environ, "MW_CONFIG_FILE": str(server.directory / "LocalSettings.php")}
    proc = subprocess.run(
        ["php", str(MW_IP / "maintenance" / script), *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{script} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-2000:]}"
            f"{proc.stdout.decode(errors='replace')[-2000:]}"
        )
    return proc.stdout.decode(errors="replace")


def page_ids(server: MediaWikiServer) -> Iterator[tuple[int, int, str]]:
    """(page id, namespace, title with spaces) of every page of the wiki."""
    for row in read_table(server, "SELECT page_id, page_namespace, page_title FROM page ORDER BY page_id"):
        yield row["page_id"], row["page_namespace"], row["page_title"].replace("_", " ")


# ==================================================================================================
# The wiki of the table tests: real viwiki pages with the templates and categories they use
# ==================================================================================================

VIWIKI = "viwiki-truncated-100k.xml.xz"
HIDDEN_CATEGORY = "Thể loại:Wme ẩn"
MAINTENANCE_TEMPLATE = "Bản mẫu:Wme bảo trì"
# Page props a Wikibase client, PageImages with files and Disambiguator would set; this wiki has none of them,
# so a parser hook (below) sets them, the way those extensions do: on the page's links update.
_PROPS_HOOK = """
$wgHooks['ContentAlterParserOutput'][] = static function ( $content, $title, $output ) {
    $props = json_decode( file_get_contents( __DIR__ . '/page_props.json' ), true );
    foreach ( $props[$title->getPrefixedText()] ?? [] as $name => $value ) {
        $output->setPageProperty( $name, $value );
    }
};
"""


def _page_xml(title: str, ns: int, text: str) -> str:
    from xml.sax.saxutils import escape

    return (
        f"<page><title>{escape(title)}</title><ns>{ns}</ns><revision><timestamp>2023-05-01T00:00:00Z"
        f"</timestamp><contributor><username>Fixture</username></contributor><model>wikitext</model>"
        f'<format>text/x-wiki</format><text xml:space="preserve">{escape(text)}</text></revision></page>'
    )


def viwiki_pages(fixtures: Path, max_articles: int = 60) -> tuple[list[tuple[int, str, str]], dict[str, str]]:
    """The viwiki dump's templates and categories, and the articles that use any of them: (ns, title, text)
    in import order (templates and categories first, so the articles' link updates see them)."""
    from wme_assets.enrichment.wikitext import WikiNames, extract_wikitext_fields
    from wme_assets.ingestion.dump_xml import DumpReader

    with DumpReader(fixtures / "xztextfilter-truncated-dumps" / VIWIKI, keep_partial=True) as reader:
        names = WikiNames.from_siteinfo(reader.siteinfo)
        pages = [(p.ns, p.title, p.latest.text or "") for p in reader if p.latest]
    used = {title for ns, title, _ in pages if ns in (10, 14)}
    articles = {}
    for ns, title, text in pages:
        if ns != 0 or text.lstrip().startswith("#") or len(articles) >= max_articles:
            continue
        fields = extract_wikitext_fields(text, names)
        if used & ({*fields.transcluded_templates} | {f"{names.names[14]}:{c}" for c in fields.categories}):
            articles[title] = text
    ordered = [p for p in pages if p[0] in (10, 14)] + [(0, t, text) for t, text in articles.items()]
    return ordered, articles


def start_tables_wiki(directory: Path, fixtures: Path):
    """Install the wiki of the table tests in ``directory``, import the pages with link updates and change a
    few as an admin with the bot flag (a hidden category a template adds, __NOINDEX__, protections, page
    props); every job run. Returns ``(server, process, facts)``; ``facts`` names the changed pages."""
    import json

    from wme_assets_tests.mediawiki_server import start_mediawiki

    fixtures = Path(fixtures)
    pages, articles = viwiki_pages(fixtures)
    xml = (
        '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="vi">'
        + "".join(_page_xml(t, ns, text) for ns, t, text in pages)
        + "</mediawiki>"
    ).encode()
    server, proc = start_mediawiki(directory, xml, articles, link_updates=True, lang="vi", dbname="viwiki")
    try:
        titles = list(articles)
        facts = {
            "hidden": titles[:3],  # get {{Wme bảo trì}}: a hidden category from a template
            "noindex": titles[0],
            "protected": titles[3],
            "semiprotected": titles[4],
            "props": {
                titles[1]: {
                    "wikibase_item": "Q1",
                    "wikibase-shortdesc": "Một mô tả ngắn",
                    "page_image_free": "Ví_dụ.jpg",
                },
                titles[2]: {"disambiguation": "", "page_image": "Không_tự_do.png"},
            },
        }
        (directory / "page_props.json").write_text(json.dumps(facts["props"], ensure_ascii=False), encoding="utf-8")
        with open(directory / "LocalSettings.php", "a", encoding="utf-8") as fh:
            fh.write(_PROPS_HOOK)
        maintenance(server, "createAndPromote.php", "--force", "--bot", "Admin")
        edit = ("edit.php", "--user", "Admin", "--bot", "--summary", "wme test")
        maintenance(server, *edit, HIDDEN_CATEGORY, stdin=b"__HIDDENCAT__")
        maintenance(server, *edit, MAINTENANCE_TEMPLATE, stdin=f"[[{HIDDEN_CATEGORY}]]".encode())
        for title in facts["hidden"]:
            extra = "\n{{Wme bảo trì}}" + ("\n__NOINDEX__" if title == facts["noindex"] else "")
            maintenance(server, *edit, title, stdin=(articles[title] + extra).encode())
        maintenance(server, "protect.php", "--user", "Admin", "--reason", "wme test", facts["protected"])
        maintenance(
            server, "protect.php", "--user", "Admin", "--semiprotect", "--reason", "wme test", facts["semiprotected"]
        )
        maintenance(server, "runJobs.php")
    except BaseException:
        proc.terminate()
        raise
    return server, proc, facts


@contextmanager
def running_tables_wiki(request, fixtures: Path, prefix: str):
    """A tables wiki (:func:`start_tables_wiki`) of a test module's own, in a throwaway directory (in memory where
    /dev/shm is writable), stopped and removed on exit: ``(server, facts)``."""
    import pytest

    from wme_assets_tests.mediawiki_server import ensure_installed
    from wme_assets_tests.servers import refuse_outside_integration

    refuse_outside_integration(request, "MediaWiki")
    if not (fixtures / "xztextfilter-truncated-dumps").is_dir():
        pytest.skip("fixtures missing")
    ensure_installed()
    parent = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    proc = None
    try:
        server, proc, facts = start_tables_wiki(directory, fixtures)
        yield server, facts
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)
