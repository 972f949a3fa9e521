"""The Wikimedia Enterprise Article record (one page at its current revision) and our ``wme`` extension object.

Follows ``general/schema/article.go`` and ``version.go``; serialization rules in :mod:`wme_assets.schema.base`.
"""

from __future__ import annotations

from pydantic import Field

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
    Protection,
    Relation,
    Size,
    Timestamp,
    Visibility,
)

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
