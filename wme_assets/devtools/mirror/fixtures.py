"""The offline demo mirror: the shared real-data fixtures laid out as dumps runs (``wme mirror fixtures``)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .enterprise import (
    enterprise_dump_date,
    export_xml_from_enterprise_records,
    page_props_from_enterprise_records,
    read_enterprise_records,
    tables_from_enterprise_records,
)
from .run import MirrorRun, build_dumps_mirror

__all__ = ["XZTEXTFILTER_DATE", "XZTEXTFILTER_WIKIS", "build_fixture_mirror"]

# The seven wikis of fixtures/xztextfilter-truncated-dumps, all cut from the 2023-05-01 dumps.
XZTEXTFILTER_WIKIS = ("bnwiki", "elwiki", "hywiki", "jawiki", "mrwiki", "ukwiki", "viwiki")
XZTEXTFILTER_DATE = "20230501"


def build_fixture_mirror(
    root: Path,
    fixtures_dir: Path,
    *,
    date: str = XZTEXTFILTER_DATE,
    wikis: Iterable[str] = XZTEXTFILTER_WIKIS,
    enterprise_wikis: Iterable[str] = ("enwiki",),
    tables: bool = False,
) -> list[MirrorRun]:
    """Build the offline demo mirror under ``root`` from the shared real-data fixtures.

    - The seven xztextfilter wikis (``fixtures_dir/xztextfilter-truncated-dumps``, cut from the
      2023-05-01 dumps) as run ``date``: their complete pages, no page_props rows (the fixtures carry no
      Wikidata ids).
    - Each wiki of ``enterprise_wikis`` from its Wikimedia Enterprise records
      (``fixtures_dir/wme-articles/<wiki>``), with real page_props (page id -> QID), dated by
      :func:`enterprise_dump_date` (enwiki: 20250201, the first run after its newest revision of
      2025-01-30). With ``tables``, its run also has the SQL tables the records' production wiki held
      (:func:`tables_from_enterprise_records`: categories, templates, protection, main image, editors' groups,
      Wikidata entity usage).

    Serve ``root`` with any static web server and set ``WME_DUMPS_URL`` to it; directory listings such
    as ``python -m http.server`` produces stand in for the dumps site's ``/{dbname}/`` date index.
    """
    fixtures_dir = Path(fixtures_dir)
    runs = []
    for wiki in wikis:
        source = fixtures_dir / "xztextfilter-truncated-dumps" / f"{wiki}-truncated-100k.xml.xz"
        runs.append(build_dumps_mirror(root, wiki, date, source))
    for wiki in enterprise_wikis:
        records = read_enterprise_records(fixtures_dir / "wme-articles" / wiki)
        date = enterprise_dump_date(records)
        completed = f"{date[:4]}-{date[4:6]}-{date[6:]}  0:00:00"
        runs.append(
            build_dumps_mirror(
                root,
                wiki,
                date,
                export_xml_from_enterprise_records(records, dbname=wiki),
                page_props=page_props_from_enterprise_records(records),
                tables=tables_from_enterprise_records(records, dbname=wiki, completed=completed) if tables else None,
            )
        )
    return runs
