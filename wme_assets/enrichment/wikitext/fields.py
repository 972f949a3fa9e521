"""The result: the Enterprise article fields one revision's wikitext determines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .names import WikiNames


@dataclass(slots=True)
class WikitextFields:
    """The Enterprise article fields one revision's wikitext determines (Enterprise names).

    ``categories``/``templates`` are full titles in the wiki's own namespace names
    (``"Catégorie:Calvi"``, ``"Modèle:Infobox Commune de France"``). ``sections`` and ``infoboxes``
    are Enterprise ``Part``-like dicts (``type``, ``name``, ``value``, ``links``, ``has_parts``).
    ``tables`` are Enterprise Structured Contents tables (``identifier``, ``headers``, ``rows``,
    ``footers``, ``confidence_score``); the section holding a table lists it in ``table_references``.
    ``templates`` are Enterprise's (the top-level transclusions Parsoid reports);
    ``transcluded_templates`` what MediaWiki's ``templatelinks`` record of the wikitext: every depth,
    template redirects' targets (see :mod:`.transclusions`).
    ``maintenance_tags`` is ``None`` where Enterprise omits it (not ns 0 of a ``*wiki`` project).
    ``abstract_withheld`` is why ``abstract`` is empty though the lead has text (the lead did not render
    into prose: a :func:`~wme_assets.enrichment.abstract_rules.leftover_markup` reason);
    ``abstract_truncated`` is set when the abstract was cut to its bound.
    ``image`` is ``{"name", "content_url"}`` — the URL assumes the file is on Commons (local files
    live under ``/wikipedia/<lang>/``; the wikitext does not say which).
    """

    abstract: str = ""
    abstract_withheld: str | None = None
    abstract_truncated: bool = False
    description: str | None = None
    categories: list[str] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    transcluded_templates: list[str] = field(default_factory=list)
    sections: list[dict] = field(default_factory=list)
    infoboxes: list[dict] = field(default_factory=list)
    references: list[dict] = field(default_factory=list)
    tables: list[dict] = field(default_factory=list)
    image: dict | None = None
    maintenance_tags: dict[str, int] | None = None
    number_of_characters: int = 0
    size_bytes: int = 0
    is_disambiguation: bool = False
    redirect_target: str | None = None

    @property
    def citation_needed_count(self) -> int:
        return (self.maintenance_tags or {}).get("citation_needed_count", 0)

    @property
    def pov_count(self) -> int:
        return (self.maintenance_tags or {}).get("pov_count", 0)

    @property
    def clarification_needed_count(self) -> int:
        return (self.maintenance_tags or {}).get("clarification_needed_count", 0)

    @property
    def update_count(self) -> int:
        return (self.maintenance_tags or {}).get("update_count", 0)

    def to_enterprise(self, names: WikiNames | None = None) -> dict:
        """These fields shaped as (part of) an Enterprise article record: ``categories`` and
        ``templates`` as ``{"name", "url"}``, zero maintenance counts omitted as Enterprise does."""
        url = (names or WikiNames.for_wiki("enwiki")).url
        record: dict[str, Any] = {
            "abstract": self.abstract,
            "categories": [{"name": c, "url": url(c)} for c in self.categories],
            "templates": [{"name": t, "url": url(t)} for t in self.templates],
            "sections": self.sections,
            "infoboxes": self.infoboxes,
            "references": self.references,
            "tables": self.tables,
            "version": {
                "number_of_characters": self.number_of_characters,
                "size": {"value": self.size_bytes, "unit_text": "B"},
            },
        }
        if self.description:
            record["description"] = self.description
        if self.image:
            record["image"] = {"content_url": self.image["content_url"]}
        if self.maintenance_tags is not None:
            record["version"]["maintenance_tags"] = {k: v for k, v in self.maintenance_tags.items() if v}
        return record
