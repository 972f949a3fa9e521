"""Wikimedia Enterprise article records -> a MediaWiki XML export 0.11 and its page_props.

Real Enterprise records carry wikitext, revision metadata and the Wikidata QID, which is all a dumps
run needs; :func:`export_xml_from_enterprise_records` writes them as the dump scripts would.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from datetime import date as Date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wme_assets.ingestion.decompress import open_decompressed

__all__ = [
    "enterprise_dump_date",
    "export_xml_from_enterprise_records",
    "mediawiki_sha1",
    "page_props_from_enterprise_records",
    "read_enterprise_records",
]

# Core namespaces with their canonical English names (ns 4/5 take the site name, as MediaWiki does).
_CORE_NAMESPACES = (
    (-2, "first-letter", "Media"),
    (-1, "first-letter", "Special"),
    (0, "first-letter", ""),
    (1, "first-letter", "Talk"),
    (2, "first-letter", "User"),
    (3, "first-letter", "User talk"),
    (4, "first-letter", "{site}"),
    (5, "first-letter", "{site} talk"),
    (6, "first-letter", "File"),
    (7, "first-letter", "File talk"),
    (8, "first-letter", "MediaWiki"),
    (9, "first-letter", "MediaWiki talk"),
    (10, "first-letter", "Template"),
    (11, "first-letter", "Template talk"),
    (12, "first-letter", "Help"),
    (13, "first-letter", "Help talk"),
    (14, "first-letter", "Category"),
    (15, "first-letter", "Category talk"),
    (710, "first-letter", "TimedText"),
    (711, "first-letter", "TimedText talk"),
    (828, "first-letter", "Module"),
    (829, "first-letter", "Module talk"),
    (2300, "case-sensitive", "Gadget"),
    (2301, "case-sensitive", "Gadget talk"),
    (2302, "case-sensitive", "Gadget definition"),
    (2303, "case-sensitive", "Gadget definition talk"),
)

_SITE_NAMES = {
    "wiktionary": "Wiktionary",
    "wikibooks": "Wikibooks",
    "wikinews": "Wikinews",
    "wikiquote": "Wikiquote",
    "wikisource": "Wikisource",
    "wikiversity": "Wikiversity",
    "wikivoyage": "Wikivoyage",
    "wiki": "Wikipedia",
}

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def mediawiki_sha1(text: str | bytes) -> str:
    """MediaWiki's revision sha1: the SHA-1 of the UTF-8 text in base 36, zero-padded to 31 digits."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    number = int(hashlib.sha1(data).hexdigest(), 16)
    digits = []
    while number:
        number, rest = divmod(number, 36)
        digits.append(_BASE36[rest])
    return "".join(reversed(digits)).rjust(31, "0")


def _xml_text(value: str) -> str:
    # MediaWiki escapes element content with htmlspecialchars: & < > and " (the dumps show &quot;).
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _export_timestamp(value: str) -> str:
    """ISO 8601 (``2025-01-21T17:03:22Z``, fractions and offsets allowed) as the dumps write it."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _site_name(dbname: str, records: Sequence[Mapping[str, Any]]) -> str:
    for record in records:
        name = (record.get("is_part_of") or {}).get("name")
        if name:
            return str(name)
    for suffix, name in _SITE_NAMES.items():
        if dbname.endswith(suffix):
            return name
    return dbname


def _site_root(records: Sequence[Mapping[str, Any]]) -> str:
    for record in records:
        for url in ((record.get("is_part_of") or {}).get("url"), record.get("url")):
            if url:
                parts = urlsplit(str(url))
                if parts.scheme and parts.netloc:
                    return f"{parts.scheme}://{parts.netloc}"
    raise ValueError("no record carries a url or is_part_of.url to derive the site's <base> from")


def _contributor_xml(editor: Mapping[str, Any] | None) -> list[str]:
    if not editor or not editor.get("name"):
        return ['      <contributor deleted="deleted" />']
    name = str(editor["name"])
    if not editor.get("identifier") and _is_ip(name):
        return ["      <contributor>", f"        <ip>{_xml_text(name)}</ip>", "      </contributor>"]
    lines = ["      <contributor>", f"        <username>{_xml_text(name)}</username>"]
    if editor.get("identifier") is not None:
        lines.append(f"        <id>{int(editor['identifier'])}</id>")
    lines.append("      </contributor>")
    return lines


def _page_xml(record: Mapping[str, Any]) -> str:
    page_id = int(record["identifier"])
    wikitext = (record.get("article_body") or {}).get("wikitext")
    if wikitext is None:
        raise ValueError(f"record for page {page_id} ({record.get('name')!r}) has no article_body.wikitext")
    version = record.get("version") or {}
    revision_id = int(version["identifier"])
    parent_id = (record.get("previous_version") or {}).get("identifier")
    timestamp = record.get("date_modified")
    if not timestamp:
        raise ValueError(f"record for page {page_id} has no date_modified (the revision timestamp)")
    namespace = int((record.get("namespace") or {}).get("identifier", 0))
    sha1 = mediawiki_sha1(wikitext)
    lines = [
        "  <page>",
        f"    <title>{_xml_text(str(record['name']))}</title>",
        f"    <ns>{namespace}</ns>",
        f"    <id>{page_id}</id>",
        "    <revision>",
        f"      <id>{revision_id}</id>",
    ]
    if parent_id:
        lines.append(f"      <parentid>{int(parent_id)}</parentid>")
    lines.append(f"      <timestamp>{_export_timestamp(str(timestamp))}</timestamp>")
    lines += _contributor_xml(version.get("editor"))
    if version.get("is_minor_edit"):
        lines.append("      <minor />")
    if version.get("comment"):
        lines.append(f"      <comment>{_xml_text(str(version['comment']))}</comment>")
    lines += [
        f"      <origin>{revision_id}</origin>",
        "      <model>wikitext</model>",
        "      <format>text/x-wiki</format>",
        (
            f'      <text bytes="{len(wikitext.encode("utf-8"))}" sha1="{sha1}" xml:space="preserve">'
            f"{_xml_text(wikitext)}</text>"
        ),
        f"      <sha1>{sha1}</sha1>",
        "    </revision>",
        "  </page>",
    ]
    return "\n".join(lines) + "\n"


def export_xml_from_enterprise_records(records: Iterable[Mapping[str, Any]], *, dbname: str) -> bytes:
    """A MediaWiki export-0.11 document of one wiki's Wikimedia Enterprise article records.

    One ``<page>`` with one ``<revision>`` per record, in page id order (the order of the dumps): title
    ``name``, id ``identifier``, ns ``namespace.identifier``, revision ``version.identifier``, parent
    ``previous_version.identifier``, timestamp ``date_modified``, contributor ``version.editor`` (an
    editor without id whose name is an IP address becomes ``<ip>``), ``version.comment``,
    ``version.is_minor_edit``, text ``article_body.wikitext`` with ``bytes`` = its UTF-8 length and
    ``sha1`` = MediaWiki's base-36 SHA-1. The siteinfo carries the dbname, ``<base>`` built from the
    records' url as ``{site}/wiki/Main_Page`` (the English main page title: fine for a mirror, not
    necessarily the wiki's real one), ``case`` first-letter and the core namespaces with their canonical
    English names. Records of another wiki (``is_part_of.identifier``) are refused.
    """
    records = sorted(records, key=lambda r: int(r["identifier"]))
    if not records:
        raise ValueError("no records")
    for record in records:
        wiki = (record.get("is_part_of") or {}).get("identifier")
        if wiki and wiki != dbname:
            raise ValueError(f"record {record.get('name')!r} belongs to {wiki}, not {dbname}")
    site = _site_name(dbname, records)
    language = next(
        (
            str(r["in_language"]["identifier"])
            for r in records
            if (r.get("in_language") or {}).get("identifier")
        ),
        re.sub(r"wik\w*$", "", dbname) or "en",
    )
    out = [
        (
            '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://www.mediawiki.org/xml/export-0.11/ '
            'http://www.mediawiki.org/xml/export-0.11.xsd" '
            f'version="0.11" xml:lang="{_xml_text(language)}">\n'
        ),
        "  <siteinfo>\n",
        f"    <sitename>{_xml_text(site)}</sitename>\n",
        f"    <dbname>{_xml_text(dbname)}</dbname>\n",
        f"    <base>{_xml_text(_site_root(records))}/wiki/Main_Page</base>\n",
        "    <generator>wme dumps_mirror (from Wikimedia Enterprise article records)</generator>\n",
        "    <case>first-letter</case>\n",
        "    <namespaces>\n",
    ]
    for key, case, name in _CORE_NAMESPACES:
        name = name.format(site=site)
        if name:
            out.append(f'      <namespace key="{key}" case="{case}">{_xml_text(name)}</namespace>\n')
        else:
            out.append(f'      <namespace key="{key}" case="{case}" />\n')
    out += ["    </namespaces>\n", "  </siteinfo>\n"]
    out += [_page_xml(record) for record in records]
    out.append("</mediawiki>\n")
    return "".join(out).encode("utf-8")


def page_props_from_enterprise_records(records: Iterable[Mapping[str, Any]]) -> dict[int, str]:
    """Page id -> Wikidata QID (``main_entity.identifier``) of the records that have one."""
    props = {}
    for record in records:
        qid = (record.get("main_entity") or {}).get("identifier")
        if qid and re.fullmatch(r"Q[1-9][0-9]*", str(qid)):
            props[int(record["identifier"])] = str(qid)
    return props


# Groups every account has (MediaWiki's implicit groups): user_groups holds only the others.
_IMPLICIT_GROUPS = frozenset(("*", "user", "autoconfirmed"))


def tables_from_enterprise_records(
    records: Sequence[Mapping[str, Any]], *, dbname: str, completed: str
) -> dict[str, bytes]:
    """The SQL tables of a run as the records' production wiki held them, as mysqldumps: ``categorylinks``
    (names in the row) and ``templatelinks`` + ``linktarget`` (today's shape) from the records' categories and
    templates, ``page_restrictions`` from their protection, ``page_props`` (the Wikidata item, and the main
    image as ``page_image_free``), ``user_groups`` (the editors' explicit groups) and ``wbc_entity_usage`` (the
    entities and aspects of their ``additional_entities``)."""
    from urllib.parse import unquote

    from wme_assets.enrichment.wikitext import WikiNames

    from .sql_tables import mysqldump_table

    names = WikiNames.for_wiki(dbname)
    rows: dict[str, list[dict[str, Any]]] = {t: [] for t in ("categorylinks", "templatelinks", "page_restrictions",
                                                             "page_props", "user_groups", "wbc_entity_usage")}
    targets: dict[tuple[int, str], int] = {}
    groups: dict[int, list[str]] = {}
    for record in sorted(records, key=lambda r: int(r["identifier"])):
        page = int(record["identifier"])
        for category in sorted({c["name"].split(":", 1)[1].replace(" ", "_") for c in record.get("categories", [])}):
            rows["categorylinks"].append({"cl_from": page, "cl_to": category, "cl_type": "page"})
        page_targets = set()
        for template in record.get("templates", []):
            ns, title = names.split_title(template["name"])
            page_targets.add(targets.setdefault((ns, title.replace(" ", "_")), len(targets) + 1))
        rows["templatelinks"] += [
            {"tl_from": page, "tl_target_id": t, "tl_from_namespace": 0} for t in sorted(page_targets)
        ]
        for protection in record.get("protection", []):
            expiry = protection.get("expiry") or "infinity"
            if expiry != "infinity":
                expiry = re.sub(r"\D", "", expiry)[:14]
            rows["page_restrictions"].append({"pr_page": page, "pr_type": protection["type"],
                                              "pr_level": protection["level"], "pr_cascade": 0, "pr_expiry": expiry,
                                              "pr_id": len(rows["page_restrictions"]) + 1})
        props = {}
        qid = (record.get("main_entity") or {}).get("identifier")
        if qid:
            props["wikibase_item"] = qid
        image = (record.get("image") or {}).get("content_url")
        if image:
            props["page_image_free"] = unquote(image.rsplit("/", 1)[-1])
        rows["page_props"] += [{"pp_page": page, "pp_propname": k, "pp_value": v} for k, v in sorted(props.items())]
        for entity in record.get("additional_entities") or []:
            rows["wbc_entity_usage"] += [{"eu_page_id": page, "eu_entity_id": entity["identifier"], "eu_aspect": a}
                                         for a in entity.get("aspects") or []]
        editor = (record.get("version") or {}).get("editor") or {}
        if editor.get("identifier"):
            groups[int(editor["identifier"])] = sorted(set(editor.get("groups") or []) - _IMPLICIT_GROUPS)
    rows["user_groups"] = [{"ug_user": user, "ug_group": g} for user in sorted(groups) for g in groups[user]]
    # the primary key's order (row ids in insertion order), as mysqldump writes it
    rows["wbc_entity_usage"] = [{"eu_row_id": n, **row} for n, row in enumerate(rows["wbc_entity_usage"], 1)]
    linktarget = [{"lt_id": i, "lt_namespace": ns, "lt_title": t} for (ns, t), i in targets.items()]
    out = {table: mysqldump_table(dbname, table, table_rows, completed,
                                  shape="linktarget" if table == "templatelinks" else "names")
           for table, table_rows in rows.items()}
    out["linktarget"] = mysqldump_table(dbname, "linktarget", linktarget, completed)
    return out


def read_enterprise_records(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The article records of a folder of ``*.json`` files (plain, xz, bz2 or gzip), in file name order."""
    records = []
    for path in sorted(Path(folder).iterdir()):
        if path.is_file() and ".json" in path.name:
            with open_decompressed(path) as stream:
                records.append(json.load(stream))
    if not records:
        raise ValueError(f"no *.json records in {folder}")
    return records


def enterprise_dump_date(records: Iterable[Mapping[str, Any]]) -> str:
    """The date of the first dumps run that contains every record's revision, as ``YYYYMMDD``.

    The full dumps start on the 1st and the 20th of each month and hold the revisions saved before the
    run started, so the mirror run of a set of records is dated on the first of those days after the
    newest ``date_modified`` day: the enwiki fixture records (newest 2025-01-30) give ``20250201``.
    """
    newest = max(datetime.fromisoformat(str(r["date_modified"])).date() for r in records)
    if newest.day < 20:
        return newest.replace(day=20).strftime("%Y%m%d")
    year, month = (newest.year + 1, 1) if newest.month == 12 else (newest.year, newest.month + 1)
    return Date(year, month, 1).strftime("%Y%m%d")

