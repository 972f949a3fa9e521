"""The base of every record model: scalar types, the serialization rules, and the building blocks shared by
articles, Structured Contents and metadata (project, namespace, language, size, event, ...).

The models follow Enterprise's Go structs field for field (``general/schema/*.go`` in
github.com/wikimedia-enterprise/wikimedia-enterprise: names, nesting, JSON types; key order as in real
records), so what we write is what Enterprise consumers already parse. Serialization rules
(:func:`~wme_assets.schema.serialize.to_json_bytes`):

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
projects (``categories``, ``templates``, ``article_body``, ...); see
:class:`~wme_assets.schema.structured.StructuredContent`.

Fields of our own never mix with Enterprise's: they all live in one object, ``"wme"``
(:class:`~wme_assets.schema.article.WmeExtensions`), which Enterprise consumers can ignore.

``python -m wme_assets.schema --write`` regenerates the committed JSON Schema files of
:data:`RECORD_SCHEMA_VERSION` in ``jsonschema/`` (:mod:`wme_assets.schema.json_schema`); ``--check`` fails when
they are stale.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

RECORD_SCHEMA_VERSION = "1.0.0"
"""Semantic version of *our* serialization of the Enterprise schema (published JSON Schema files).

Major: a field removed, renamed or retyped; minor: a field added; patch: descriptions only."""

EXTENSION_FIELD = "wme"
"""JSON name of the one object holding every field of our own (:class:`~wme_assets.schema.article.WmeExtensions`)."""

RFC3339_UTC_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$"


# --- scalar types ---------------------------------------------------------------------------------


def rfc3339(value: datetime) -> str:
    """RFC 3339 in UTC with `Z`, fractional seconds only when non-zero (Go's `time.RFC3339Nano`)."""
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


def go_float(value: float) -> float | int:
    """A float as Go's encoder writes it: integral values without a fraction."""
    return int(value) if value.is_integer() else value


Timestamp = Annotated[
    datetime,
    PlainSerializer(rfc3339, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339_UTC_PATTERN}),
]
"""A point in time, written as RFC 3339 UTC with `Z` (Go `time.RFC3339Nano` layout)."""

Float64 = Annotated[float, PlainSerializer(go_float, return_type=Any), WithJsonSchema({"type": "number"})]
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
