"""One page of the page store into one Wikimedia Enterprise Article (and its Structured Contents record).

The wikitext fields come from :mod:`wme_assets.enrichment.wikitext`; this module adds what the dump
metadata determines (identity, URLs, revision, editor, previous revision, Wikidata id, license,
redirects) and wme's own provenance, then validates and serializes through the schema models.

Everything here is deterministic in its inputs: the same page and run give the same bytes, which is what
makes snapshots byte-reproducible. The event identifier, for example, is a UUID derived from the wiki and
the revision rather than a random one.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from wme_assets.enrichment.wikitext import WikiNames, WikitextFields
from wme_assets.schema import (
    RECORD_SCHEMA_VERSION,
    Article,
    Provenance,
    StructuredContent,
    WmeExtensions,
    content_hash,
)
from wme_assets.schema.plain_records import plain_record_encoder
from wme_assets.schema.serialize import content_json, with_extensions

PARSER_VERSION = "wme-wikitext-1"

LICENSE = {
    "name": "Creative Commons Attribution-ShareAlike License 4.0",
    "identifier": "CC-BY-SA-4.0",
    "url": "https://creativecommons.org/licenses/by-sa/4.0/",
}

# Stable namespace for event UUIDs: uuid5(EVENT_NAMESPACE, "{dbname}:{revision id}").
EVENT_NAMESPACE = uuid.UUID("6b1f7a52-2f0e-4b54-9a53-3c5e2f1d7e10")

# The Structured Contents line straight from the record's plain data, checked against the committed schema:
# building the pydantic model of a long article's parts, references and tables cost more than writing it.
_encode_structured = plain_record_encoder(StructuredContent, "structured-content")


@dataclass(frozen=True)
class Site:
    """What every article of one wiki shares."""

    dbname: str
    language: str
    base_url: str  # "https://bn.wikipedia.org"
    names: WikiNames

    @classmethod
    def from_siteinfo(cls, siteinfo: dict[str, Any]) -> Site:
        """From the ``siteinfo`` record the page store manifest keeps (see ingest_pages.siteinfo_record)."""
        parts = urlsplit(siteinfo.get("base_url") or "")
        base_url = f"{parts.scheme or 'https'}://{parts.netloc}" if parts.netloc else ""
        names = WikiNames.from_namespaces(
            {int(ns): info.get("name") or "" for ns, info in siteinfo.get("namespaces", {}).items()},
            language=siteinfo.get("language") or "en",
            article_url=f"{base_url}/wiki/" if base_url else None,
        )
        return cls(
            dbname=siteinfo["dbname"],
            language=siteinfo.get("language") or "en",
            base_url=base_url,
            names=names,
        )

    def url(self, title: str) -> str:
        return f"{self.base_url}/wiki/{title.replace(' ', '_')}"


@dataclass(frozen=True)
class BuiltArticle:
    page_id: int
    namespace: int
    name: str
    revision_id: int
    date_modified: datetime | None
    article_json: bytes
    structured_json: bytes | None
    content_hash: str
    is_disambiguation: bool
    abstract_withheld: str | None = None  # why the article has no abstract though its lead has text
    abstract_truncated: bool = False


def _editor(row: dict[str, Any]) -> dict[str, Any] | None:
    if row.get("contributor_deleted"):
        return None
    if row.get("contributor_ip"):
        return {"name": row["contributor_ip"], "is_anonymous": True}
    if row.get("contributor_name") or row.get("contributor_id"):
        return {"identifier": row.get("contributor_id") or 0, "name": row.get("contributor_name") or ""}
    return None


def build_article(
    row: dict[str, Any],
    fields: WikitextFields,
    site: Site,
    *,
    redirects: list[str] = (),
    run_id: str = "",
    html: str | None = None,
    tables: dict[str, Any] | None = None,
    api: dict[str, Any] | None = None,
) -> BuiltArticle:
    """The Enterprise records of one page-store row (a dict of its columns).

    With the revision's Parsoid ``html``, the article carries it in ``article_body.html``, and the
    abstract, categories and templates, and the Structured Contents' sections and infoboxes, come from it
    as Enterprise derives them (the HTML knows what templates add, which the wikitext alone does not:
    infobox labels rather than parameter names, template-made sections). Tables still come from the
    wikitext. ``tables`` is what the run's SQL tables say of the page (:mod:`.table_fields`); ``api`` what the
    Action API says of the revision on the realtime path (:mod:`.api_fields`).
    """
    rendered = None
    if html:
        from wme_assets.enrichment.html import html_fields

        rendered = html_fields(html, base_url=f"{site.base_url}/wiki/")
        if row["namespace"] == 0:
            fields.abstract = rendered.abstract
            fields.abstract_withheld = rendered.abstract_withheld
            fields.abstract_truncated = rendered.abstract_truncated
        fields.categories = [c.name for c in rendered.categories]
        fields.templates = [t.name for t in rendered.templates]
    title = row["title"]
    revision_id = row.get("revision_id") or 0
    timestamp = row.get("timestamp")
    version: dict[str, Any] = {
        "identifier": revision_id,
        "comment": "" if row.get("comment_deleted") else (row.get("comment") or ""),
        "is_minor_edit": bool(row.get("is_minor")),
        "editor": _editor(row),
        "number_of_characters": fields.number_of_characters,
        "size": {"value": row.get("size_bytes") or fields.size_bytes, "unit_text": "B"},
    }
    if fields.maintenance_tags is not None:
        version["maintenance_tags"] = {k: v for k, v in fields.maintenance_tags.items() if v}
    record: dict[str, Any] = {
        "name": title,
        "identifier": row["page_id"],
        "abstract": fields.abstract,
        "date_modified": timestamp,
        "version": version,
        "url": site.url(title),
        "namespace": {"identifier": row["namespace"]},
        "in_language": {"identifier": site.language},
        "categories": [{"name": c, "url": site.url(c)} for c in fields.categories],
        "templates": [{"name": t, "url": site.url(t)} for t in fields.templates],
        "redirects": [{"name": r, "url": site.url(r)} for r in redirects],
        "is_part_of": {"identifier": site.dbname, "url": site.base_url},
        "article_body": {"wikitext": row.get("text") or "", "html": html or ""},
        "license": [LICENSE],
        "event": {
            "identifier": str(uuid.uuid5(EVENT_NAMESPACE, f"{site.dbname}:{revision_id}")),
            "type": "update",
            "date_created": timestamp,
        },
    }
    if row.get("parent_revision_id"):
        record["previous_version"] = {"identifier": row["parent_revision_id"]}
    if row.get("wikibase_item"):
        qid = row["wikibase_item"]
        record["main_entity"] = {"identifier": qid, "url": f"https://www.wikidata.org/entity/{qid}"}
    if fields.image and fields.image.get("content_url"):
        record["image"] = {"content_url": fields.image["content_url"]}
    if tables is not None:
        from wme_assets.enrichment.table_fields import apply_table_fields

        apply_table_fields(record, fields, tables, site)
    if api is not None:
        from wme_assets.enrichment.api_fields import apply_api_fields

        apply_api_fields(record, fields, api, site)
    hidden = [row.get("text_deleted"), row.get("contributor_deleted"), row.get("comment_deleted")]
    if any(hidden):
        record["visibility"] = {"text": not hidden[0], "editor": not hidden[1], "comment": not hidden[2]}

    article = Article.model_validate(record)
    content = content_json(article)  # serialized once: hashed here, the article's line once `wme` is added
    digest = content_hash(article, serialized=content)
    # Our own fields go in the `wme` object, outside the Enterprise fields the hash covers.
    article.wme = WmeExtensions(
        is_disambiguation=fields.is_disambiguation,
        provenance=Provenance(
            dump_file=row.get("source_file") or "",
            revision_id=revision_id,
            parser_version=PARSER_VERSION,
            schema_version=RECORD_SCHEMA_VERSION,
            run_id=run_id,
            content_hash=digest,
        ),
    )

    structured = None
    if row["namespace"] == 0:
        structured_record = {
            key: record[key]
            for key in (
                "name",
                "identifier",
                "abstract",
                "url",
                "date_modified",
                "is_part_of",
                "in_language",
                "license",
                "event",
            )
        }
        structured_record["version"] = {k: version[k] for k in ("identifier", "editor") if version.get(k)}
        if "main_entity" in record:
            structured_record["main_entity"] = record["main_entity"]
        if "image" in record:
            structured_record["image"] = record["image"]
        for key in ("date_created", "date_previously_modified"):
            if record.get(key):
                structured_record[key] = record[key]
        if record.get("additional_entities"):  # Structured Contents has the field too
            structured_record["additional_entities"] = record["additional_entities"]
        if fields.description:
            structured_record["description"] = fields.description
        if rendered is not None:
            structured_record["infoboxes"] = [asdict(part) for part in rendered.infoboxes]
            structured_record["sections"] = [asdict(part) for part in rendered.sections]
        else:
            structured_record["infoboxes"] = fields.infoboxes
            structured_record["sections"] = fields.sections
        structured_record["references"] = fields.references
        # from the wikitext, like the sections whose table_references point into them
        structured_record["tables"] = fields.tables
        structured = _encode_structured(structured_record)

    return BuiltArticle(
        page_id=row["page_id"],
        namespace=row["namespace"],
        name=title,
        revision_id=revision_id,
        date_modified=timestamp,
        article_json=with_extensions(content, article),
        structured_json=structured,
        content_hash=digest,
        is_disambiguation=fields.is_disambiguation,
        abstract_withheld=fields.abstract_withheld,
        abstract_truncated=fields.abstract_truncated,
    )
