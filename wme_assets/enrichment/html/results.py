"""Result types: Enterprise's Go struct names, snake_case as in its JSON tags."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class HtmlRelation:
    """A category or template: ``{"name": "Category:X", "url": "https://…/wiki/Category:X"}``."""

    name: str
    url: str


@dataclass
class HtmlImage:
    content_url: str
    alternative_text: str = ""
    caption: str = ""
    height: int = 0
    width: int = 0


@dataclass
class HtmlLink:
    url: str
    text: str = ""
    images: list[HtmlImage] = field(default_factory=list)


@dataclass
class HtmlPart:
    """One node of ``sections`` / ``infoboxes``: type ``section``, ``paragraph``, ``list``,
    ``list_item``, ``infobox``, ``field`` or ``image``."""

    type: str
    name: str = ""
    value: str = ""
    values: list[str] = field(default_factory=list)
    has_parts: list[HtmlPart] = field(default_factory=list)
    images: list[HtmlImage] = field(default_factory=list)
    links: list[HtmlLink] = field(default_factory=list)


@dataclass
class HtmlFields:
    """Everything :func:`html_fields` derives from one revision's Parsoid HTML.

    ``abstract`` is bounded as on the wikitext path
    (:func:`~wme_assets.enrichment.abstract_rules.bounded_abstract`): ``abstract_withheld`` says why it
    is empty when the lead's text was not prose, ``abstract_truncated`` that it was cut to its bound."""

    abstract: str
    categories: list[HtmlRelation]
    templates: list[HtmlRelation]
    sections: list[HtmlPart]
    infoboxes: list[HtmlPart]
    images: list[HtmlImage]
    links: list[HtmlLink]
    text: str
    abstract_withheld: str | None = None
    abstract_truncated: bool = False

    @property
    def image(self) -> HtmlImage | None:
        """The main image: the first image of the first infobox, else the page's first image."""
        for box in self.infoboxes:
            for img in _iter_part_images(box):
                return img
        return self.images[0] if self.images else None


def _iter_part_images(part: HtmlPart) -> Iterator[HtmlImage]:
    yield from part.images
    for child in part.has_parts:
        yield from _iter_part_images(child)
