"""The Wikimedia Enterprise Structured Contents record: one page parsed into infoboxes, sections, references, tables.

Follows Enterprise's Go struct, plus what real 2024 responses carry beyond it (see :class:`StructuredContent`).
"""

from __future__ import annotations

from pydantic import Field

from .article import Version, WmeExtensions
from .base import (
    ArticleBody,
    EnterpriseModel,
    Entity,
    Event,
    Float64,
    Image,
    Language,
    License,
    Namespace,
    PreviousVersion,
    Project,
    Relation,
    Timestamp,
    Visibility,
)


class Link(EnterpriseModel):
    """A link in a part or a reference."""

    url: str = ""
    """Target URL."""
    text: str = ""
    """Link text."""
    images: list[Image] = Field(default_factory=list)
    """Images inside the link."""


class Citation(EnterpriseModel):
    """A citation marker in a part, pointing to a reference."""

    identifier: str = ""
    """Identifier of the cited reference."""
    group: str = ""
    """Reference group, e.g. `note`."""
    text: str = ""
    """Text of the marker, e.g. `[1]`."""


class TableReference(EnterpriseModel):
    """A pointer from a part to a table in `tables`."""

    identifier: str = ""
    """Identifier of the table."""
    confidence_score: Float64 | None = None
    """Confidence of the table extraction (written even when 0)."""


class Part(EnterpriseModel):
    """A node of an infobox or section tree."""

    name: str = ""
    """Name of the node: section heading or infobox field label."""
    type: str = ""
    """Node type: `infobox`, `section`, `field`, `list`, `list_item`, `image`, `paragraph`."""
    value: str = ""
    """Plain-text value."""
    values: list[str] = Field(default_factory=list)
    """Values, for nodes with several."""
    images: list[Image] = Field(default_factory=list)
    """Images in the node."""
    links: list[Link] = Field(default_factory=list)
    """Links in the node."""
    has_parts: list[Part] = Field(default_factory=list)
    """Child nodes."""
    citations: list[Citation] = Field(default_factory=list)
    """Citation markers in the node."""
    table_references: list[TableReference] = Field(default_factory=list)
    """Tables referenced from the node."""


class ReferenceText(EnterpriseModel):
    """Text with the links in it."""

    value: str = ""
    """Plain text."""
    links: list[Link] = Field(default_factory=list)
    """Links in the text."""


class Reference(EnterpriseModel):
    """An entry of the page's reference list."""

    identifier: str = ""
    """Identifier the citation markers point to."""
    group: str = ""
    """Reference group."""
    type: str = ""
    """Kind of reference, e.g. `web`, `book`, `journal`."""
    metadata: dict[str, str] = Field(default_factory=dict)
    """Citation-template parameters, e.g. `title`, `url`, `date`."""
    text: ReferenceText | None = None
    """Rendered text of the reference."""
    source: ReferenceText | None = None
    """Source the reference cites."""


class TableCell(EnterpriseModel):
    """A cell of a table."""

    value: str = ""
    """Plain-text content."""
    nested_table: Table | None = None
    """A table inside the cell."""


class Table(EnterpriseModel):
    """A table of the page."""

    identifier: str = ""
    """Identifier parts use in `table_references`."""
    headers: list[list[TableCell]] = Field(default_factory=list)
    """Header rows."""
    rows: list[list[TableCell]] = Field(default_factory=list)
    """Body rows."""
    footers: list[list[TableCell]] = Field(default_factory=list)
    """Footer rows."""
    confidence_score: Float64 | None = None
    """Confidence of the table extraction (written even when 0)."""


class EditorsCount(EnterpriseModel):
    """How many editors worked on the page, relative to a threshold."""

    anonymous_count: str = ""
    """Anonymous editors, as text (e.g. a count or a threshold bucket)."""
    registered_count: str = ""
    """Registered editors, as text."""


class Attribution(EnterpriseModel):
    """Trust signals for attributing the page."""

    editors_count: EditorsCount | None = None
    """Editor counts."""
    parsed_references_count: int = 0
    """Number of references parsed from the page."""
    last_revised: str = ""
    """When the page was last revised."""


class StructuredContent(EnterpriseModel):
    """A Wikimedia Enterprise Structured Contents record: one page parsed into infoboxes, sections, tables."""

    name: str = ""
    """Page title with spaces."""
    identifier: int = 0
    """Page id."""
    abstract: str = ""
    """Plain text of the lead section."""
    version: Version | None = None
    """The current revision."""
    event: Event | None = None
    """Event that produced this record."""
    url: str = ""
    """Canonical page URL."""
    date_created: Timestamp | None = None
    """When the page was created."""
    date_modified: Timestamp | None = None
    """Timestamp of the current revision."""
    main_entity: Entity | None = None
    """Wikidata item of the page."""
    is_part_of: Project | None = None
    """The wiki of the page."""
    additional_entities: list[Entity] = Field(default_factory=list)
    """Wikidata entities the page uses."""
    in_language: Language | None = None
    """Language of the page."""
    image: Image | None = None
    """Main image of the page."""
    visibility: Visibility | None = None
    """Visibility of the revision's parts."""
    license: list[License] = Field(default_factory=list)
    """Licences of the content."""
    description: str = ""
    """Short description of the page."""
    infoboxes: list[Part] = Field(default_factory=list)
    """Infoboxes, each a tree of parts."""
    sections: list[Part] = Field(default_factory=list)
    """Sections, each a tree of parts."""
    references: list[Reference] = Field(default_factory=list)
    """The reference list."""
    tables: list[Table] = Field(default_factory=list)
    """Tables of the page."""
    attribution: Attribution | None = None
    """Attribution trust signals."""
    article_sections: list[Part] = Field(default_factory=list, json_schema_extra={"deprecated": True})
    """Old name of `sections`, in real 2024 responses and read by the Enterprise SDKs; we write `sections`."""
    date_previously_modified: Timestamp | None = None
    """Timestamp of the previous revision (article field, seen in responses for non-Wikipedia projects)."""
    previous_version: PreviousVersion | None = None
    """The previous revision (article field, seen in responses for non-Wikipedia projects)."""
    namespace: Namespace | None = None
    """Namespace of the page (article field, seen in responses for non-Wikipedia projects)."""
    categories: list[Relation] = Field(default_factory=list)
    """Categories of the page (article field, seen in responses for non-Wikipedia projects)."""
    templates: list[Relation] = Field(default_factory=list)
    """Templates used by the page (article field, seen in responses for non-Wikipedia projects)."""
    article_body: ArticleBody | None = None
    """HTML and wikitext (article field, seen in responses for non-Wikipedia projects)."""
    wme: WmeExtensions | None = None
    """Fields of our own (not Wikimedia Enterprise's)."""


TableCell.model_rebuild()
