"""One schema: the Wikimedia Enterprise Article and Structured Contents records as pydantic models.

The models follow Enterprise's Go structs field for field (``general/schema/*.go`` in
github.com/wikimedia-enterprise/wikimedia-enterprise: names, nesting, JSON types; key order as in real
records), so what we write is what Enterprise consumers already parse. Serialization rules
(:func:`to_json_bytes`):

- Go ``omitempty``: a field is left out when it is zero — ``""``, ``0``, ``0.0``, ``false``, an empty
  list or map, or an absent object. Every model field's default *is* its zero value, so "omit empty"
  is pydantic's ``exclude_defaults``. A present object is written even when all its fields are zero
  (Go pointer semantics), e.g. ``"maintenance_tags": {}`` as in real records.
- Fields Enterprise always writes (no ``omitempty`` tag) have no default and are always written:
  ``namespace.identifier``, the three ``visibility`` booleans, every ``Delta`` field,
  ``reference_risk_score`` and ``reference_need_score``. Go pointer scalars (``event.partition``,
  ``event.offset``, ``confidence_score``) are left out only when absent, so a real ``0`` is written.
- Timestamps are RFC 3339 in UTC with ``Z``, fractional seconds only when non-zero and without
  trailing zeros (Go's ``time.RFC3339Nano``): ``2025-01-24T11:49:16Z``, ``2025-01-24T11:49:25.206589Z``.
  Python keeps microseconds: the nanoseconds of Enterprise's snapshot metadata are truncated.
  Naive datetimes are taken as UTC.
- Floats with an integral value are written as integers, as Go does (``"size":{"value":129374}``).

Unknown input fields are ignored (Enterprise may add fields; our output holds only modelled ones). The
JSON Schema we publish is strict (``additionalProperties: false``): it describes exactly what we write,
and the tests use it to prove every field of the real Enterprise records is modelled.

Structured Contents records also keep what real 2024 responses carry beyond Enterprise's Go struct: the
legacy name ``article_sections`` (we write ``sections``) and article fields seen for non-Wikipedia
projects (``categories``, ``templates``, ``article_body``, ...); see :class:`StructuredContent`.

Fields of our own never mix with Enterprise's: they all live in one object, ``"wme"``
(:class:`WmeExtensions`), which Enterprise consumers can ignore.

``python -m wme_assets.schema --write`` regenerates the committed JSON Schema files of
:data:`SCHEMA_VERSION` in ``schemas/``; ``--check`` fails when they are stale.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from pydantic.json_schema import GenerateJsonSchema

SCHEMA_VERSION = "1.0.0"
"""Semantic version of *our* serialization of the Enterprise schema (published JSON Schema files).

Major: a field removed, renamed or retyped; minor: a field added; patch: descriptions only."""

EXTENSION_FIELD = "wme"
"""JSON name of the one object holding every field of our own (:class:`WmeExtensions`)."""

SCHEMAS_DIR = Path(__file__).parent / "jsonschema"
RFC3339_UTC_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$"


# --- scalar types ---------------------------------------------------------------------------------


def _rfc3339(value: datetime) -> str:
    offset = value.utcoffset()
    if offset:
        value = value - offset
    text = (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def _go_float(value: float) -> float | int:
    return int(value) if value.is_integer() else value


Timestamp = Annotated[
    datetime,
    PlainSerializer(_rfc3339, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339_UTC_PATTERN}),
]
"""A point in time, written as RFC 3339 UTC with `Z` (Go `time.RFC3339Nano` layout)."""

Float64 = Annotated[float, PlainSerializer(_go_float, return_type=Any), WithJsonSchema({"type": "number"})]
"""A Go `float64`: integral values are written without a fraction, as Go's encoder does."""


class EnterpriseModel(BaseModel):
    """Base of every model: field docstrings become JSON Schema descriptions, unknown input is ignored."""

    model_config = ConfigDict(
        extra="ignore",
        use_attribute_docstrings=True,
        json_schema_extra={"additionalProperties": False},
    )


# --- shared building blocks -----------------------------------------------------------------------


class Size(EnterpriseModel):
    """A quantity with its unit (schema.org QuantitativeValue)."""

    value: Float64 = 0.0
    """The amount, e.g. bytes of wikitext or megabytes of a snapshot file."""
    unit_text: str = ""
    """The unit: `B` for revisions and diffs, `MB` (10^6 bytes) for snapshot files."""


class Event(EnterpriseModel):
    """The event envelope: which change produced this record, and when."""

    identifier: str = ""
    """UUID of the event."""
    type: str = ""
    """`update`, `create`, `delete`, `move` or `visibility-change`."""
    date_created: Timestamp | None = None
    """When the event was created."""
    fail_count: int = 0
    """How often processing this event failed and was retried (internal; normally absent)."""
    fail_reason: str = ""
    """Why the last processing attempt failed (internal; normally absent)."""
    date_published: Timestamp | None = None
    """When the event was published to consumers."""
    partition: int | None = None
    """Partition of the realtime stream the event was read from (realtime API only)."""
    offset: int | None = None
    """Offset of the event in that partition (realtime API only)."""


class Namespace(EnterpriseModel):
    """A MediaWiki namespace."""

    name: str = ""
    """Namespace name, e.g. `Articles`, `File`."""
    identifier: int
    """Namespace number (0 articles, 6 files, 10 templates, 14 categories); always written, even 0."""
    alternate_name: str = ""
    """Alternative name of the namespace."""
    description: str = ""
    """What the namespace contains."""
    event: Event | None = None
    """Event that last changed this metadata."""


class Language(EnterpriseModel):
    """The language of a project or page."""

    identifier: str = ""
    """Language code, e.g. `en`, `simple`."""
    name: str = ""
    """English name of the language."""
    alternate_name: str = ""
    """Name of the language in itself (autonym)."""
    direction: str = ""
    """Writing direction, `ltr` or `rtl`."""
    event: Event | None = None
    """Event that last changed this metadata."""


class Project(EnterpriseModel):
    """The wiki a record belongs to (schema.org Project)."""

    name: str = ""
    """Project name, e.g. `Wikipedia`."""
    identifier: str = ""
    """Database name, e.g. `enwiki`."""
    url: str = ""
    """Base URL, e.g. `https://en.wikipedia.org`."""
    version: str = ""
    """Version of the project metadata."""
    additional_type: str = ""
    """Further type of the project."""
    code: str = ""
    """Project family code, e.g. `wiki`, `wiktionary`."""
    namespace: Namespace | None = None
    """Namespace the metadata refers to."""
    date_modified: Timestamp | None = None
    """When the project metadata last changed."""
    in_language: Language | None = None
    """Language of the project."""
    size: Size | None = None
    """Size of the project's data."""
    event: Event | None = None
    """Event that last changed this metadata."""


class Entity(EnterpriseModel):
    """A Wikidata entity used by the page."""

    identifier: str = ""
    """Wikidata item id, e.g. `Q151972`."""
    url: str = ""
    """Wikidata URL of the item."""
    aspects: list[str] = Field(default_factory=list)
    """Entity usage aspects (wbentityusage), e.g. `C`, `D.en`, `O`, `S`, `T`, `L.en`."""


class Relation(EnterpriseModel):
    """A page related to the article: a category, a template or a redirect."""

    name: str = ""
    """Full page title with namespace prefix, e.g. `Category:Singers from St. Louis`."""
    url: str = ""
    """URL of that page."""


class License(EnterpriseModel):
    """The licence of the content (schema.org license)."""

    name: str = ""
    """Licence name, e.g. `Creative Commons Attribution-ShareAlike License 4.0`."""
    identifier: str = ""
    """SPDX identifier, e.g. `CC-BY-SA-4.0`."""
    url: str = ""
    """URL of the licence text."""


class Protection(EnterpriseModel):
    """A page protection (who may edit or move the page)."""

    type: str = ""
    """Protected action, e.g. `edit`, `move`."""
    level: str = ""
    """Group allowed to do it, e.g. `autoconfirmed`, `sysop`."""
    expiry: str = ""
    """When the protection ends: a timestamp or `infinity`."""


class Visibility(EnterpriseModel):
    """Which parts of the revision are visible (false: hidden by revision deletion); always written."""

    text: bool
    """Whether the revision text is visible."""
    editor: bool
    """Whether the editor's name is visible."""
    comment: bool
    """Whether the edit summary is visible."""


class Image(EnterpriseModel):
    """An image (schema.org ImageObject): the page's main image or an image in a part or link."""

    content_url: str = ""
    """URL of the image file."""
    width: int = 0
    """Width in pixels."""
    height: int = 0
    """Height in pixels."""
    alternative_text: str = ""
    """Alternative text of the image."""
    caption: str = ""
    """Caption of the image."""


class ArticleBody(EnterpriseModel):
    """The content of the revision."""

    html: str = ""
    """Parsoid HTML document of the revision."""
    wikitext: str = ""
    """Wikitext of the revision."""


class PreviousVersion(EnterpriseModel):
    """The revision before the current one."""

    identifier: int = 0
    """Revision id."""
    number_of_characters: int = 0
    """Length of its wikitext in characters."""


# --- version: revision, editor, scores, diff ------------------------------------------------------


class Editor(EnterpriseModel):
    """The user who saved the revision."""

    identifier: int = 0
    """User id (absent for anonymous editors)."""
    name: str = ""
    """User name, or IP address of an anonymous editor."""
    edit_count: int = 0
    """Number of edits of the user."""
    groups: list[str] = Field(default_factory=list)
    """User groups, e.g. `bot`, `*`, `user`, `autoconfirmed`."""
    is_bot: bool = False
    """Whether the user is in the bot group."""
    is_anonymous: bool = False
    """Whether the edit was made without an account."""
    is_admin: bool = False
    """Whether the user is an administrator (sysop)."""
    is_patroller: bool = False
    """Whether the user may patrol edits."""
    has_advanced_rights: bool = False
    """Whether the user holds advanced rights."""
    date_started: Timestamp | None = None
    """When the account was registered."""


class Probability(EnterpriseModel):
    """Probabilities of the two classes of a binary model."""

    false: Float64 = 0.0
    """Probability of the negative class."""
    true: Float64 = 0.0
    """Probability of the positive class."""


class ProbabilityScore(EnterpriseModel):
    """Prediction of a binary machine-learning model (ORES, LiftWing)."""

    prediction: bool = False
    """The predicted class."""
    probability: Probability | None = None
    """Class probabilities."""


class ReferenceRisk(EnterpriseModel):
    """LiftWing reference-risk model output."""

    reference_risk_score: Float64
    """Risk that the references of the revision are unreliable (0–1); always written."""


class ReferenceNeed(EnterpriseModel):
    """LiftWing reference-need model output."""

    reference_need_score: Float64
    """Share of sentences that need a citation but have none (0–1); always written."""


class Scores(EnterpriseModel):
    """Machine-learning scores of the revision."""

    damaging: ProbabilityScore | None = None
    """ORES damaging model (deprecated by Enterprise in favour of revertrisk)."""
    goodfaith: ProbabilityScore | None = None
    """ORES good-faith model (deprecated by Enterprise in favour of revertrisk)."""
    revertrisk: ProbabilityScore | None = None
    """LiftWing revert-risk model."""
    referencerisk: ReferenceRisk | None = None
    """LiftWing reference-risk model."""
    referenceneed: ReferenceNeed | None = None
    """LiftWing reference-need model."""


class Delta(EnterpriseModel):
    """Change of one word class between the previous and the current revision; always fully written."""

    increase: int
    """Words of the class added."""
    decrease: int
    """Words of the class removed."""
    sum: int
    """Net change (increase − decrease)."""
    proportional_increase: Float64
    """Increase relative to the previous count."""
    proportional_decrease: Float64
    """Decrease relative to the previous count."""


class Diff(EnterpriseModel):
    """Edit-level signals comparing the revision with its predecessor."""

    longest_new_repeated_character: int = 0
    """Longest run of one repeated character added."""
    dictionary_words: Delta | None = None
    """Change in dictionary words."""
    non_dictionary_words: Delta | None = None
    """Change in non-dictionary words."""
    non_safe_words: Delta | None = None
    """Change in non-safe (offensive) words."""
    informal_words: Delta | None = None
    """Change in informal words."""
    uppercase_words: Delta | None = None
    """Change in all-uppercase words."""
    size: Size | None = None
    """Size of the change."""


class MaintenanceTags(EnterpriseModel):
    """Counts of maintenance templates in the wikitext."""

    citation_needed_count: int = 0
    """`{{citation needed}}` templates."""
    pov_count: int = 0
    """Neutral-point-of-view templates."""
    clarification_needed_count: int = 0
    """`{{clarification needed}}` templates."""
    update_count: int = 0
    """`{{update}}` templates."""


class Version(EnterpriseModel):
    """The revision a record describes."""

    identifier: int = 0
    """Revision id."""
    comment: str = ""
    """Edit summary."""
    tags: list[str] = Field(default_factory=list)
    """Change tags of the revision."""
    is_minor_edit: bool = False
    """Whether the edit was marked minor."""
    is_flagged_stable: bool = False
    """Whether the revision is the stable one under FlaggedRevs."""
    has_tag_needs_citation: bool = False
    """Whether the revision carries a citation-needed tag."""
    scores: Scores | None = None
    """Machine-learning scores."""
    editor: Editor | None = None
    """Who saved the revision."""
    number_of_characters: int = 0
    """Length of the wikitext in characters."""
    size: Size | None = None
    """Size of the wikitext in bytes."""
    event: Event | None = None
    """Event that produced this revision record."""
    diff: Diff | None = None
    """Signals comparing with the previous revision."""
    is_breaking_news: bool = False
    """Whether Enterprise flagged the page as breaking news."""
    noindex: bool = False
    """Whether the page asks search engines not to index it."""
    maintenance_tags: MaintenanceTags | None = None
    """Counts of maintenance templates."""


# --- our own fields -------------------------------------------------------------------------------


class Provenance(EnterpriseModel):
    """Where a record of ours came from and what produced it."""

    dump_file: str = ""
    """Dump file the revision was read from, e.g. `enwiki-20250201-pages-articles-multistream.xml.bz2`."""
    revision_id: int = 0
    """Revision id read from the dump."""
    parser_version: str = ""
    """Version of the wme parser that built the record."""
    schema_version: str = ""
    """Version of the wme schema the record was written with, e.g. `1.0.0`."""
    run_id: str = ""
    """Dagster run id of the run that wrote the record."""
    content_hash: str = ""
    """`sha256:<hex>` of the record's JSON without its `wme` object (wme's `schema.content_hash`)."""


class WmeExtensions(EnterpriseModel):
    """Fields of our own, not part of Wikimedia Enterprise's schema (JSON name `wme`)."""

    is_redirect: bool = False
    """Whether the page is a redirect (always false for articles: redirects are folded into `redirects`)."""
    is_disambiguation: bool = False
    """Whether the page is a disambiguation page."""
    provenance: Provenance | None = None
    """Where the record came from."""


# --- article --------------------------------------------------------------------------------------


class Article(EnterpriseModel):
    """A Wikimedia Enterprise article: one page at its current revision (schema.org Article)."""

    name: str = ""
    """Page title with spaces, e.g. `Josephine Baker`."""
    identifier: int = 0
    """Page id."""
    abstract: str = ""
    """Plain text of the lead section."""
    date_created: Timestamp | None = None
    """When the page was created."""
    date_modified: Timestamp | None = None
    """Timestamp of the current revision."""
    date_previously_modified: Timestamp | None = None
    """Timestamp of the previous revision."""
    protection: list[Protection] = Field(default_factory=list)
    """Page protections."""
    version: Version | None = None
    """The current revision."""
    previous_version: PreviousVersion | None = None
    """The previous revision."""
    url: str = ""
    """Canonical page URL."""
    watchers_count: int = 0
    """Number of users watching the page."""
    namespace: Namespace | None = None
    """Namespace of the page."""
    in_language: Language | None = None
    """Language of the page."""
    main_entity: Entity | None = None
    """Wikidata item of the page."""
    additional_entities: list[Entity] = Field(default_factory=list)
    """Wikidata entities the page uses."""
    categories: list[Relation] = Field(default_factory=list)
    """Categories of the page."""
    templates: list[Relation] = Field(default_factory=list)
    """Templates used by the page."""
    redirects: list[Relation] = Field(default_factory=list)
    """Pages redirecting to this page."""
    is_part_of: Project | None = None
    """The wiki of the page."""
    article_body: ArticleBody | None = None
    """HTML and wikitext of the current revision."""
    license: list[License] = Field(default_factory=list)
    """Licences of the content."""
    visibility: Visibility | None = None
    """Visibility of the revision's parts."""
    event: Event | None = None
    """Event that produced this record."""
    image: Image | None = None
    """Main image of the page."""
    wme: WmeExtensions | None = None
    """Fields of our own (not Wikimedia Enterprise's)."""


# --- structured contents --------------------------------------------------------------------------


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


# --- metadata of published files and projects -----------------------------------------------------


class _FileMetadata(EnterpriseModel):
    name: str = ""
    """Name of the file set."""
    identifier: str = ""
    """Identifier, e.g. `enwiki_namespace_0` or `enwiki_namespace_0_chunk_3`."""
    version: str = ""
    """Hex MD5 of the compressed `.tar.gz` file."""
    date_modified: Timestamp | None = None
    """When the file was written."""
    is_part_of: Project | None = None
    """The wiki of the records."""
    in_language: Language | None = None
    """Language of the records."""
    namespace: Namespace | None = None
    """Namespace of the records."""
    size: Size | None = None
    """Size of the compressed file, in MB (10^6 bytes, 3 decimals)."""


class Snapshot(_FileMetadata):
    """Metadata of a snapshot: one project-namespace as a `.tar.gz` of NDJSON records."""

    chunks: list[str] = Field(default_factory=list)
    """Identifiers of the snapshot's chunks, e.g. `enwiki_namespace_0_chunk_0`."""


class Chunk(_FileMetadata):
    """Metadata of one chunk of a snapshot (a separately downloadable `.tar.gz`)."""


class Batch(_FileMetadata):
    """Metadata of an hourly realtime batch of one project-namespace."""


class Code(EnterpriseModel):
    """A project family (metadata endpoint `/v2/codes`)."""

    identifier: str = ""
    """Family code, e.g. `wiki`, `wiktionary`."""
    name: str = ""
    """Family name, e.g. `Wikipedia`."""
    description: str = ""
    """What the family is."""


TableCell.model_rebuild()


# --- serialization --------------------------------------------------------------------------------


def to_dict(model: BaseModel) -> dict[str, Any]:
    """The record as JSON-ready Python data, empty fields left out (Go `omitempty`)."""
    return model.model_dump(by_alias=True, exclude_defaults=True)


_GO_HTML_ESCAPES = (
    (b"&", b"\\u0026"),
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def to_json_bytes(model: BaseModel, *, escape_html: bool = False) -> bytes:
    """The record as compact UTF-8 JSON (one NDJSON line without the newline).

    `escape_html=True` also escapes `&`, `<`, `>`, U+2028 and U+2029 as Go's encoder does by default,
    which makes the output byte-identical to Enterprise's NDJSON (tested on real records); it costs
    about four times the serialization itself, and parsers see the same JSON either way.
    """
    data = orjson.dumps(model.model_dump(by_alias=True, exclude_defaults=True))
    if escape_html:
        for raw, escaped in _GO_HTML_ESCAPES:
            data = data.replace(raw, escaped)
    return data


def content_hash(model: Article | StructuredContent) -> str:
    """`sha256:<hex>` of the record serialized without its `wme` object (for :class:`Provenance`)."""
    data = model.model_dump(by_alias=True, exclude_defaults=True, exclude={EXTENSION_FIELD})
    return "sha256:" + hashlib.sha256(orjson.dumps(data)).hexdigest()


# --- JSON Schema ----------------------------------------------------------------------------------

SCHEMA_MODELS: dict[str, type[EnterpriseModel]] = {
    "article": Article,
    "structured-content": StructuredContent,
    "snapshot": Snapshot,
}
"""Published JSON Schemas: file stem → model (chunk and batch metadata validate against `snapshot`)."""


class _OutputSchema(GenerateJsonSchema):
    """JSON Schema of what we write: absent instead of null, no per-field titles."""

    def nullable_schema(self, schema):
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema):
        json_schema = super().default_schema(schema)
        if "default" in json_schema and json_schema["default"] is None:
            del json_schema["default"]
        return json_schema

    def field_title_should_be_set(self, schema) -> bool:
        return False


def schema_id(kind: str, version: str = SCHEMA_VERSION) -> str:
    """The `$id` of a published schema, e.g. `urn:wme:schema:article:1.0.0`."""
    return f"urn:wme:schema:{kind}:{version}"


def schema_path(kind: str, version: str = SCHEMA_VERSION) -> Path:
    """Path of a committed schema file, e.g. `schemas/article-1.0.0.schema.json`."""
    return SCHEMAS_DIR / f"{kind}-{version}.schema.json"


def generate_json_schema(kind: str = "article") -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of our serialization of one record kind of :data:`SCHEMA_MODELS`."""
    model = SCHEMA_MODELS[kind]
    body = model.model_json_schema(by_alias=True, mode="serialization", schema_generator=_OutputSchema)
    head = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id(kind),
        "version": SCHEMA_VERSION,
    }
    return head | body


def load_json_schema(kind: str = "article", version: str = SCHEMA_VERSION) -> dict[str, Any]:
    """A committed JSON Schema file."""
    return json.loads(schema_path(kind, version).read_text(encoding="utf-8"))


def _schema_text(kind: str) -> str:
    return json.dumps(generate_json_schema(kind), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wme_assets.schema",
        description=f"Write or check the committed JSON Schema files of version {SCHEMA_VERSION}.",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="(re)generate the schema files")
    action.add_argument("--check", action="store_true", help="fail if a committed file is missing or stale")
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --write: overwrite a differing file of this version (unreleased versions only)",
    )
    args = parser.parse_args(argv)
    problems = []
    for kind in SCHEMA_MODELS:
        path, text = schema_path(kind), _schema_text(kind)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current is not None and json.loads(current) == json.loads(text):
            continue
        if args.check or (current is not None and not args.force):
            state = "missing" if current is None else "differs from the models"
            problems.append(f"{path.name} {state}")
            continue
        SCHEMAS_DIR.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    if problems:
        hint = (
            "a published schema version is immutable: bump SCHEMA_VERSION and run "
            "python -m wme_assets.schema --write (--force rewrites a version never released)"
        )
        print("\n".join(problems) + f"\n{hint}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
