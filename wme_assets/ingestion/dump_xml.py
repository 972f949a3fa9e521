"""Streaming parser for MediaWiki XML export dumps (``pages-articles``, ``pages-meta-history``, …).

Supported input
    * Export schema 0.10 and 0.11 (what Wikimedia dumps and MediaWiki's ``Special:Export`` write today)
      and the old 0.3 … 0.9 layouts (no ``<ns>``, no ``<dbname>``, ``<redirect />`` without a title).
    * UTF-8, or UTF-16 with a byte-order mark (libxml2 detects the encoding itself).
    * Plain, gzip, bzip2 (one stream or Wikimedia's *multistream*, i.e. concatenated bz2 streams) and
      xz — detected from the magic bytes, never from the file name.

Memory stays flat however large the dump is: lxml's pull parser is fed fixed-size chunks of the
decompressed stream; each ``<revision>`` and ``<page>`` is turned into plain Python objects as soon
as its end tag arrives, then the element is cleared and the already-processed siblings are deleted,
so the in-memory tree never holds more than the current page (and, with ``latest_only=True``, never
more than two revisions of it, however long the history).

Security: dumps are untrusted input. The parser never loads a DTD, never resolves entities and never
touches the network, and a document carrying a ``<!DOCTYPE …>`` declaration is rejected outright —
MediaWiki exports never have one, so its presence means a crafted file (billion laughs, external
entities such as ``file:///etc/passwd``).

Errors: a truncated or corrupt input raises :class:`DumpParseError` (a :class:`ValueError`) naming
the file, the byte offset (and which stream it counts in) and the id of the last complete page.
Keeping the good part of a damaged file is an explicit operator choice (``keep_partial=True``).

Typical use::

    with DumpReader("bnwiki-20230501-pages-articles.xml.bz2") as reader:
        print(reader.siteinfo.dbname, reader.siteinfo.language)
        for page in reader:
            rev = page.revisions[-1]
            ...
"""

from __future__ import annotations

import bz2
import gzip
import io
import logging
import lzma
import os
import re
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import IO, ClassVar, Self
from urllib.parse import urlsplit

from lxml import etree

try:  # ISA-L's gzip is several times faster than zlib's and is already a project dependency.
    from isal import igzip as _igzip
    from isal.isal_zlib import error as _IsalError
except ImportError:  # pragma: no cover - isal is a declared dependency, this is only a fallback
    _igzip = None
    _IsalError = zlib.error

__all__ = [
    "DecompressedStream",
    "DumpParseError",
    "DumpReader",
    "Namespace",
    "Page",
    "Revision",
    "SiteInfo",
    "Slot",
    "detect_compression",
    "iter_pages",
    "open_decompressed",
]

log = logging.getLogger(__name__)

Source = str | os.PathLike | IO[bytes]

# Bytes handed to libxml2 per feed(). 256 KiB measured as fast as larger chunks while keeping the
# "current chunk" (kept for error offsets) small.
DEFAULT_CHUNK_SIZE = 1 << 18


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


class DumpParseError(ValueError):
    """A dump is truncated, corrupt, malformed or unsafe.

    Attributes (all optional, ``None`` when unknown):
        name:         the file name (or the label given by the caller)
        offset:       byte offset of the failure
        offset_kind:  ``"decompressed"`` (offset into the decompressed XML) or ``"compressed"``
                      (offset into the file as stored)
        last_page_id: id of the last page that was parsed completely
        line, column: position reported by libxml2 (line in the decompressed XML)
    """

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        offset: int | None = None,
        offset_kind: str | None = None,
        last_page_id: int | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.name = name
        self.offset = offset
        self.offset_kind = offset_kind
        self.last_page_id = last_page_id
        self.line = line
        self.column = column

    def __reduce__(self):
        # Keyword-only attributes would be lost when the error crosses a process boundary
        # (multistream workers), because the default reduce only replays ``args``.
        return (_rebuild_error, (type(self), self.args[0] if self.args else "", self.__dict__))


def _rebuild_error(cls, message, state):
    err = cls(message)
    err.__dict__.update(state)
    return err


# --------------------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Namespace:
    """One ``<namespace key=… case=…>name</namespace>`` of ``<siteinfo>``.

    ``name`` is ``""`` for the main (article) namespace; ``case`` is ``"first-letter"`` or
    ``"case-sensitive"`` (``None`` in old exports that lack the attribute).
    """

    id: int
    name: str
    case: str | None = None


@dataclass(slots=True)
class SiteInfo:
    """The ``<siteinfo>`` header plus the root element's attributes.

    ``language`` is the root's ``xml:lang`` (MediaWiki writes the content language there); when absent
    it is derived from the ``<base>`` host (``bn.wikipedia.org`` → ``bn``) or the dbname
    (``bnwiki`` → ``bn``). ``dbname`` is ``None`` in exports older than 0.5, which lack it.
    """

    dbname: str | None
    sitename: str | None
    base_url: str | None
    generator: str | None
    case: str | None
    language: str | None
    namespaces: dict[int, Namespace]
    schema_version: str | None = None  # root ``version`` attribute, e.g. "0.10"
    xml_namespace: str | None = None  # e.g. "http://www.mediawiki.org/xml/export-0.10/"

    def namespace_name(self, ns: int) -> str | None:
        found = self.namespaces.get(ns)
        return found.name if found else None


@dataclass(slots=True)
class Slot:
    """An extra content slot of a revision (export 0.11 ``<content>``; e.g. Commons ``mediainfo``).

    The main slot is not repeated here: it is flattened into :class:`Revision` (``model``, ``text``…).
    """

    role: str | None
    origin: int | None
    model: str | None
    format: str | None
    text: str | None
    text_deleted: bool = False
    size: int | None = None
    text_sha1: str | None = None


@dataclass(slots=True)
class Revision:
    """One ``<revision>``.

    * ``timestamp`` stays the dump's RFC 3339 string (``2023-04-30T10:11:12Z``): parsing it per
      revision costs more than most consumers need, and it sorts correctly as text.
    * A suppressed/deleted field (``deleted="deleted"`` on ``<contributor>``, ``<comment>`` or
      ``<text>``) has its ``*_deleted`` flag set and its value(s) ``None``.
    * ``text`` is ``""`` for an empty text and ``None`` only when deleted (or absent, as in stub dumps).
    * ``size`` is ``<text bytes=…>`` (UTF-8 length); ``None`` when absent or reported as ``-1``
      (MediaWiki writes ``-1`` for deleted text).
    * ``sha1`` is the ``<sha1>`` element (base-36), ``text_sha1`` the 0.11 ``<text sha1=…>`` attribute.
    """

    id: int
    timestamp: str | None = None
    parent_id: int | None = None
    contributor_name: str | None = None
    contributor_id: int | None = None
    contributor_ip: str | None = None
    contributor_deleted: bool = False
    minor: bool = False
    comment: str | None = None
    comment_deleted: bool = False
    origin: int | None = None
    model: str | None = None
    format: str | None = None
    text: str | None = None
    text_deleted: bool = False
    size: int | None = None
    sha1: str | None = None
    text_sha1: str | None = None
    text_id: str | None = None  # stub dumps: <text id=…/> (a storage reference)
    text_location: str | None = None  # 0.11 <text location=…/>
    slots: tuple[Slot, ...] = ()


@dataclass(slots=True)
class Page:
    """One ``<page>``.

    ``revisions`` are in dump order (oldest → newest); with ``latest_only=True`` only the newest is
    kept. ``ns`` comes from ``<ns>``; old exports without it get it from the title prefix and the
    siteinfo namespaces. ``redirect_target`` is ``<redirect title=…>``; exports before 0.5 write a bare
    ``<redirect />``, hence the separate ``is_redirect`` flag.
    """

    id: int
    title: str
    ns: int
    redirect_target: str | None = None
    is_redirect: bool = False
    restrictions: str | None = None
    revisions: list[Revision] = field(default_factory=list)

    @property
    def latest(self) -> Revision | None:
        return self.revisions[-1] if self.revisions else None


# --------------------------------------------------------------------------------------------------
# Decompression
# --------------------------------------------------------------------------------------------------

_MAGIC = (
    (b"BZh", "bz2"),
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
)
_MAGIC_LEN = max(len(m) for m, _ in _MAGIC)

# What the stdlib/ISA-L readers raise on truncated or corrupt compressed data.
_DECOMPRESSION_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    OSError,
    lzma.LZMAError,
    zlib.error,
    _IsalError,
)


def detect_compression(prefix: bytes) -> str:
    """Name the compression of a file from its first bytes: bz2, gzip, xz, zstd, 7z or "none"."""
    for magic, kind in _MAGIC:
        if prefix.startswith(magic):
            return kind
    return "none"


class _CountingRaw(io.RawIOBase):
    """Raw reader that counts the bytes taken from the underlying file.

    It also replays the few bytes read ahead for magic-number detection, so non-seekable inputs
    (pipes, HTTP bodies) work.
    """

    def __init__(self, fileobj: IO[bytes], prefix: bytes) -> None:
        super().__init__()
        self._f = fileobj
        self._prefix = prefix
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._prefix:
            n = min(len(b), len(self._prefix))
            b[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            self.count += n
            return n
        data = self._f.read(len(b))
        n = len(data)
        b[:n] = data
        self.count += n
        return n

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            data, self._prefix = self._prefix + self._f.read(), b""
        elif self._prefix:
            data, self._prefix = self._prefix[:size], self._prefix[size:]
        else:
            data = self._f.read(size)
        self.count += len(data)
        return data

    read1 = read


class DecompressedStream(io.RawIOBase):
    """Binary stream of the decompressed bytes of a (possibly compressed) dump.

    Attributes: ``compression`` ("bz2", "gzip", "xz" or "none"), ``compressed_bytes_read`` (bytes
    taken from the file so far — decompressors read ahead, so this is where the reader *is*, not
    necessarily where a fault *was*), ``bytes_read`` (decompressed bytes returned so far).
    Closing it closes the file only when it was opened from a path.
    """

    def __init__(self, source: Source) -> None:
        super().__init__()
        if isinstance(source, (str, os.PathLike)):
            fileobj: IO[bytes] = open(source, "rb", buffering=0)  # noqa: SIM115 - closed in close()
            self._owned: IO[bytes] | None = fileobj
        else:
            fileobj, self._owned = source, None
        try:
            prefix = b""
            while len(prefix) < _MAGIC_LEN:  # a pipe may return fewer bytes than asked
                more = fileobj.read(_MAGIC_LEN - len(prefix))
                if not more:
                    break
                prefix += more
            self.compression = detect_compression(prefix)
            self._raw = _CountingRaw(fileobj, prefix)
            if self.compression == "bz2":
                # BZ2File reads concatenated streams (multistream dumps) transparently.
                self._reader: IO[bytes] = bz2.BZ2File(self._raw)
            elif self.compression == "gzip":
                self._reader = (
                    _igzip.IGzipFile(fileobj=self._raw) if _igzip else gzip.GzipFile(fileobj=self._raw)
                )
            elif self.compression == "xz":
                self._reader = lzma.LZMAFile(self._raw)  # noqa: SIM115 - closed in close()
            elif self.compression == "none":
                self._reader = self._raw
            else:
                raise DumpParseError(
                    f"{_describe(source)}: {self.compression} compression is not supported "
                    "(use bz2, gzip, xz or plain XML)",
                    name=_describe(source),
                )
        except BaseException:
            if self._owned is not None:
                self._owned.close()
            raise
        self.bytes_read = 0

    @property
    def compressed_bytes_read(self) -> int:
        return self._raw.count

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self._reader.read(size)
        self.bytes_read += len(data)
        return data

    def read1(self, size: int = -1) -> bytes:
        """Like ``read`` but with at most one read from the file.

        Used by the dump reader: if the compressed data then turns out to be truncated, everything
        decompressed before the fault has already been returned (``read`` of a buffered
        decompressor would discard the part it had gathered for the failing call).
        """
        data = self._reader.read1(size)
        self.bytes_read += len(data)
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                if self._reader is not self._raw:
                    self._reader.close()
            finally:
                if self._owned is not None:
                    self._owned.close()
                super().close()


def open_decompressed(source: Source) -> DecompressedStream:
    """Open a path or binary file object and return a stream of its decompressed bytes.

    Compression (bz2 incl. multistream, gzip, xz, none) is detected from the magic bytes.
    """
    return DecompressedStream(source)


def _describe(source: object) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(getattr(source, "name", None) or "<stream>")


# --------------------------------------------------------------------------------------------------
# Element → object conversion
# --------------------------------------------------------------------------------------------------


_TAG_NAMES = (
    "mediawiki",
    "siteinfo",
    "sitename",
    "dbname",
    "base",
    "generator",
    "case",
    "namespaces",
    "namespace",
    "page",
    "title",
    "ns",
    "id",
    "redirect",
    "restrictions",
    "revision",
    "parentid",
    "timestamp",
    "contributor",
    "username",
    "ip",
    "minor",
    "comment",
    "origin",
    "model",
    "format",
    "text",
    "sha1",
    "content",
    "role",
)


class _Tags:
    """Qualified tag names for one export namespace, so the hot loops compare plain strings."""

    _cache: ClassVar[dict[str, _Tags]] = {}

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        for local in _TAG_NAMES:
            setattr(self, local, prefix + local)

    @classmethod
    def for_tag(cls, tag: str) -> _Tags:
        prefix = tag[: tag.index("}") + 1] if tag.startswith("{") else ""
        tags = cls._cache.get(prefix)
        if tags is None:
            tags = cls._cache[prefix] = cls(prefix)
        return tags


_POSITION_SUFFIX = re.compile(r",? line \d+, column \d+(?: \(.*\))?$")
_ELEMENT_START = re.compile(r"<[A-Za-z_:]")
_DOCTYPE_REFUSED = (
    "document has a <!DOCTYPE> declaration; MediaWiki exports never do, and DTDs allow "
    "entity-expansion and external-entity attacks, so the file is rejected"
)
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_DELETED = "deleted"
_SUPPRESSED = "suppressed"


def _is_deleted(el) -> bool:
    # MediaWiki writes deleted="deleted" for both revision-deleted and suppressed fields; accept any
    # value, and a "suppressed" attribute, so derived/third-party exports are covered too.
    return bool(el.get(_DELETED) or el.get(_SUPPRESSED))


def _int(text: str | None) -> int | None:
    return int(text) if text else None


def _size(value: str | None) -> int | None:
    if not value:
        return None
    n = int(value)
    return n if n >= 0 else None


def _parse_siteinfo(el, T: _Tags) -> SiteInfo:
    values: dict[str, str | None] = {}
    namespaces: dict[int, Namespace] = {}
    for child in el:
        tag = child.tag
        if tag == T.namespaces:
            for ns_el in child:
                if ns_el.tag == T.namespace:
                    key = int(ns_el.get("key"))
                    namespaces[key] = Namespace(id=key, name=ns_el.text or "", case=ns_el.get("case"))
        elif isinstance(tag, str):
            values[tag[len(T.prefix) :]] = child.text
    root = el.getparent()
    dbname, base = values.get("dbname"), values.get("base")
    xml_lang = root.get(_XML_LANG) if root is not None else None
    return SiteInfo(
        dbname=dbname,
        sitename=values.get("sitename"),
        base_url=base,
        generator=values.get("generator"),
        case=values.get("case"),
        language=xml_lang or _derive_language(base, dbname),
        namespaces=namespaces,
        schema_version=root.get("version") if root is not None else None,
        xml_namespace=T.prefix[1:-1] or None,
    )


# Hosts whose first label is not a language code.
_NON_LANGUAGE_LABELS = {
    "www",
    "m",
    "commons",
    "meta",
    "species",
    "incubator",
    "wikidata",
    "wikisource",
    "mediawiki",
    "wikimania",
    "outreach",
    "test",
    "test2",
    "api",
}
# Subdomains that name a wiki rather than its language.
_LANGUAGE_OF_LABEL = {"simple": "en"}
_PROJECT_SUFFIXES = (
    "wiktionary",
    "wikibooks",
    "wikinews",
    "wikiquote",
    "wikisource",
    "wikiversity",
    "wikivoyage",
    "wiki",
)


def _derive_language(base_url: str | None, dbname: str | None) -> str | None:
    host = urlsplit(base_url).hostname if base_url else None
    if host:
        labels = host.split(".")
        if len(labels) >= 3 and labels[0] not in _NON_LANGUAGE_LABELS:
            return _LANGUAGE_OF_LABEL.get(labels[0], labels[0])
    if dbname:
        for suffix in _PROJECT_SUFFIXES:
            if dbname.endswith(suffix) and len(dbname) > len(suffix):
                lang = dbname[: -len(suffix)].replace("_", "-")
                return None if lang in _NON_LANGUAGE_LABELS else _LANGUAGE_OF_LABEL.get(lang, lang)
    return None


def _parse_text_attrs(el):
    deleted = _is_deleted(el)
    text = None if deleted else (el.text or "")
    return text, deleted, _size(el.get("bytes")), el.get("sha1")


def _parse_slot(el, T: _Tags) -> Slot:
    role = origin = model = fmt = text = size = sha1 = None
    deleted = False
    for c in el:
        tag = c.tag
        if tag == T.text:
            text, deleted, size, sha1 = _parse_text_attrs(c)
        elif tag == T.role:
            role = c.text
        elif tag == T.origin:
            origin = _int(c.text)
        elif tag == T.model:
            model = c.text
        elif tag == T.format:
            fmt = c.text
    return Slot(
        role=role,
        origin=origin,
        model=model,
        format=fmt,
        text=text,
        text_deleted=deleted,
        size=size,
        text_sha1=sha1,
    )


def _parse_revision(el, T: _Tags) -> Revision:
    rev = Revision(id=0)
    slots = None
    # One pass over the children with the commonest tags first; MediaWiki's element order varies
    # between schema versions, so no positional assumptions.
    for c in el:
        tag = c.tag
        if tag == T.text:
            rev.text, rev.text_deleted, rev.size, rev.text_sha1 = _parse_text_attrs(c)
            rev.text_id = c.get("id")
            rev.text_location = c.get("location")
        elif tag == T.id:
            rev.id = int(c.text)
        elif tag == T.timestamp:
            rev.timestamp = c.text
        elif tag == T.contributor:
            if _is_deleted(c):
                rev.contributor_deleted = True
            for cc in c:
                ctag = cc.tag
                if ctag == T.username:
                    rev.contributor_name = cc.text or ""
                elif ctag == T.id:
                    rev.contributor_id = _int(cc.text)
                elif ctag == T.ip:
                    rev.contributor_ip = cc.text
        elif tag == T.parentid:
            rev.parent_id = _int(c.text)
        elif tag == T.sha1:
            rev.sha1 = c.text or None
        elif tag == T.model:
            rev.model = c.text
        elif tag == T.format:
            rev.format = c.text
        elif tag == T.comment:
            if _is_deleted(c):
                rev.comment_deleted = True
            else:
                rev.comment = c.text or ""
        elif tag == T.minor:
            rev.minor = True
        elif tag == T.origin:
            rev.origin = _int(c.text)
        elif tag == T.content:
            if slots is None:
                slots = []
            slots.append(_parse_slot(c, T))
    if slots:
        rev.slots = tuple(slots)
    return rev


def _ns_from_title(title: str, siteinfo: SiteInfo | None) -> int:
    """Namespace of a title for exports without ``<ns>`` (schema < 0.6)."""
    prefix, sep, _ = title.partition(":")
    if sep and siteinfo is not None:
        wanted = prefix.replace("_", " ").casefold()
        for ns in siteinfo.namespaces.values():
            if ns.id != 0 and ns.name.casefold() == wanted:
                return ns.id
    return 0


# --------------------------------------------------------------------------------------------------
# Reader
# --------------------------------------------------------------------------------------------------


class DumpReader:
    """Iterator over the pages of one XML export dump; see the module docstring.

    Args:
        source: path or binary file object (compressed or not).
        name: label used in error messages (defaults to the path / the file object's ``name``).
        latest_only: keep only the newest revision of each page (memory independent of history size).
        keep_partial: on a truncated/corrupt input, yield the complete pages, then stop and record
            the error in ``truncated``/``error`` instead of raising. Off by default: silently
            publishing half a dump must be a deliberate choice.
        chunk_size: decompressed bytes fed to the XML parser at a time.

    Attributes: ``siteinfo`` (parsed on first access; ``None`` if the document has none),
    ``pages_read``, ``bytes_read`` (decompressed), ``compressed_bytes_read``, ``compression``,
    ``truncated``, ``error``, ``last_page_id``.
    """

    def __init__(
        self,
        source: Source,
        *,
        name: str | None = None,
        latest_only: bool = True,
        keep_partial: bool = False,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        self.name = name or _describe(source)
        self.latest_only = latest_only
        self.keep_partial = keep_partial
        self.pages_read = 0
        self.last_page_id: int | None = None
        self.truncated = False
        self.error: DumpParseError | None = None
        self._chunk_size = chunk_size
        self._siteinfo: SiteInfo | None = None
        self._siteinfo_done = False
        self._tags: _Tags | None = None
        self._revisions: list[Revision] = []
        self._prev_revision = None
        self._pending: deque = deque()
        self._finished = False
        self._stream = open_decompressed(source)
        self._parser = etree.XMLPullParser(
            events=("end",),
            tag=("{*}siteinfo", "{*}page", "{*}revision"),
            # The safety switches (see module docstring); huge_tree stays off so libxml2 keeps its
            # own limits on text node size and nesting depth.
            resolve_entities=False,
            load_dtd=False,
            no_network=True,
            dtd_validation=False,
            remove_comments=True,
            remove_pis=True,
        )
        # For mapping libxml2's line numbers back to byte offsets in error messages.
        self._chunk = b""
        self._chunk_start = 0
        self._lines_before_chunk = 0
        self._count_lines = True
        self._events = self._pump()

    # -- public API ---------------------------------------------------------------------------

    @property
    def bytes_read(self) -> int:
        return self._stream.bytes_read

    @property
    def compressed_bytes_read(self) -> int:
        return self._stream.compressed_bytes_read

    @property
    def compression(self) -> str:
        return self._stream.compression

    @property
    def siteinfo(self) -> SiteInfo | None:
        """The ``<siteinfo>`` header; reading it parses only the start of the dump."""
        while not self._siteinfo_done:
            event = self._next_event()
            if event is None:
                break
            el = event[1]
            if el.tag != self._tags.siteinfo:
                # No siteinfo before the first page/revision: keep the event for iteration.
                self._pending.appendleft(event)
                break
            self._handle_siteinfo(el)
        self._siteinfo_done = True
        return self._siteinfo

    def __iter__(self) -> DumpReader:
        return self

    def __next__(self) -> Page:
        while True:
            event = self._next_event()
            if event is None:
                raise StopIteration
            el = event[1]
            tag = el.tag
            T = self._tags
            try:
                if tag == T.revision:
                    self._handle_revision(el)
                elif tag == T.page:
                    return self._handle_page(el)
                elif tag == T.siteinfo:
                    self._handle_siteinfo(el)
            except DumpParseError as err:
                # Well-formed XML with impossible content (e.g. a non-numeric <id>): corrupt too.
                self._finish()
                self._fail(err)
                raise StopIteration from None

    def close(self) -> None:
        self._finished = True
        self._events.close()
        self._stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- event handling -----------------------------------------------------------------------

    def _next_event(self):
        if self._pending:
            return self._pending.popleft()
        if self._finished:
            return None
        try:
            event = next(self._events)
            if self._tags is None:
                self._first_event(event[1])
        except StopIteration:
            self._finish()
            return None
        except BaseException:
            self._finish()
            raise
        return event

    def _finish(self) -> None:
        self._finished = True
        self._pending.clear()
        self._stream.close()

    def _first_event(self, el) -> None:
        tree = el.getroottree()
        self._reject_doctype(tree)
        root = tree.getroot()
        self._tags = _Tags.for_tag(el.tag)
        if root.tag != self._tags.mediawiki:
            raise self._error(f"not a MediaWiki XML export (root element is {root.tag!r})")

    def _reject_doctype(self, tree) -> None:
        docinfo = tree.docinfo
        if docinfo.internalDTD is not None or docinfo.externalDTD is not None or docinfo.doctype:
            raise self._error(_DOCTYPE_REFUSED)

    def _handle_siteinfo(self, el) -> None:
        try:
            self._siteinfo = _parse_siteinfo(el, self._tags)
        except (TypeError, ValueError) as exc:
            raise self._error(f"invalid <siteinfo>: {exc}") from exc
        self._siteinfo_done = True
        el.clear(keep_tail=False)

    def _handle_revision(self, el) -> None:
        try:
            rev = _parse_revision(el, self._tags)
        except (TypeError, ValueError) as exc:
            raise self._error(f"invalid <revision> in page after id {self.last_page_id}: {exc}") from exc
        if self.latest_only:
            self._revisions = [rev]
        else:
            self._revisions.append(rev)
        el.clear(keep_tail=False)
        # Deleting the previous (already converted) revision keeps long histories out of memory.
        # Deleting earlier siblings, never the current element, is the pattern lxml supports while
        # the parser is still appending to the parent.
        prev = self._prev_revision
        if prev is not None:
            parent = prev.getparent()
            if parent is not None:
                parent.remove(prev)
        self._prev_revision = el

    def _handle_page(self, el) -> Page:
        T = self._tags
        title = None
        page_id = ns = restrictions = redirect_target = None
        is_redirect = False
        try:
            for c in el:
                tag = c.tag
                if tag == T.title:
                    title = c.text or ""
                elif tag == T.ns:
                    ns = int(c.text)
                elif tag == T.id:
                    page_id = int(c.text)
                elif tag == T.redirect:
                    is_redirect = True
                    redirect_target = c.get("title")
                elif tag == T.restrictions:
                    restrictions = c.text
        except (TypeError, ValueError) as exc:
            raise self._error(f"invalid <page> after page id {self.last_page_id}: {exc}") from exc
        if page_id is None or title is None:
            raise self._error(f"<page> without <id> or <title> after page id {self.last_page_id}")
        if ns is None:
            ns = _ns_from_title(title, self._siteinfo)
        page = Page(
            id=page_id,
            title=title,
            ns=ns,
            redirect_target=redirect_target,
            is_redirect=is_redirect,
            restrictions=restrictions,
            revisions=self._revisions,
        )
        self._revisions = []
        self._prev_revision = None
        self.pages_read += 1
        self.last_page_id = page_id
        # Free the page, then everything before it under the root (siteinfo, earlier pages).
        el.clear(keep_tail=False)
        parent = el.getparent()
        if parent is not None:
            while el.getprevious() is not None:
                del parent[0]
        return page

    # -- feeding the parser -------------------------------------------------------------------

    def _read_chunk(self) -> tuple[bytes, BaseException | None]:
        """Up to ``chunk_size`` decompressed bytes, plus the decompression fault that ended it, if any.

        Built from ``read1`` calls so that bytes decompressed before a fault are never lost.
        """
        read1 = self._stream.read1
        size = self._chunk_size
        pieces: list[bytes] = []
        got = 0
        try:
            while got < size:
                piece = read1(size - got)
                if not piece:
                    break
                pieces.append(piece)
                got += len(piece)
        except _DECOMPRESSION_ERRORS as exc:
            return b"".join(pieces), exc
        return (pieces[0] if len(pieces) == 1 else b"".join(pieces)), None

    def _pump(self):
        """Generator of (event, element) pairs; turns every failure into DumpParseError."""
        parser = self._parser
        first = True
        while True:
            data, fault = self._read_chunk()
            if not data and fault is None:
                break
            if first:
                first = False
                # Line→offset mapping counts b"\n", which is only right for ASCII-compatible encodings.
                self._count_lines = not data.startswith((b"\xff\xfe", b"\xfe\xff"))
                self._check_prolog(data)
            self._chunk_start = self.bytes_read - len(data)
            self._chunk = data
            try:
                parser.feed(data)
            except etree.XMLSyntaxError as exc:
                yield from parser.read_events()  # pages completed before the fault are good
                if fault is None:
                    self._fail(self._xml_error(exc, at_end=False))
                    return
                # Otherwise the data was cut by the decompression fault: report that below.
            if fault is not None:
                yield from parser.read_events()
                self._fail(
                    self._error(
                        f"{self.compression} data is truncated or corrupt after {self.bytes_read} "
                        "decompressed bytes; the reader was",
                        detail=f"{type(fault).__name__}: {fault}",
                        offset=self.compressed_bytes_read,
                        offset_kind="compressed",
                    )
                )
                return
            if self._count_lines:
                self._lines_before_chunk += data.count(b"\n")
            yield from parser.read_events()
        try:
            root = parser.close()
        except etree.XMLSyntaxError as exc:
            yield from parser.read_events()
            self._fail(self._xml_error(exc, at_end=True))
            return
        if self._tags is None and root is not None:
            # No siteinfo/page/revision at all: the document checks still apply.
            self._first_event(root)
        yield from parser.read_events()

    def _check_prolog(self, data: bytes) -> None:
        """Refuse a DOCTYPE in the prolog before libxml2 even reads it.

        The document-level check at the first event (``_reject_doctype``) is the authoritative one,
        but libxml2 already fails inside a hostile DTD (e.g. on entity amplification) with a
        generic syntax error; looking first gives the operator a clear message.
        """
        head = data[: 1 << 16]
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = head.decode("utf-16", errors="ignore")
        else:
            text = head.decode("latin-1")  # any ASCII-compatible encoding: markup is ASCII
        root = _ELEMENT_START.search(text)
        if "<!DOCTYPE" in text[: root.start() if root else len(text)]:
            raise self._error(_DOCTYPE_REFUSED)

    def _fail(self, err: DumpParseError) -> None:
        if not self.keep_partial:
            raise err
        self.truncated = True
        self.error = err
        log.warning("keeping %d complete pages of damaged dump: %s", self.pages_read, err)

    def _error(
        self,
        what: str,
        *,
        detail: str = "",
        offset: int | None = None,
        offset_kind: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> DumpParseError:
        where = ""
        if offset is not None:
            where = f" at {offset_kind} byte offset {offset}"
            if line is not None:
                where += f" (line {line}, column {column})"
        detail = f" [{detail}]" if detail else ""
        return DumpParseError(
            f"{self.name}: {what}{where}; last good page id: {self.last_page_id}{detail}",
            name=self.name,
            offset=offset,
            offset_kind=offset_kind,
            last_page_id=self.last_page_id,
            line=line,
            column=column,
        )

    def _xml_error(self, exc: etree.XMLSyntaxError, *, at_end: bool) -> DumpParseError:
        line, column = exc.position if exc.position else (None, None)
        # libxml2's message already ends in ", line L, column C"; that position is reported separately.
        detail = _POSITION_SUFFIX.sub("", getattr(exc, "msg", None) or str(exc))
        if at_end:
            return self._error(
                "truncated XML: the data ends before the document is complete",
                detail=detail,
                offset=self.bytes_read,
                offset_kind="decompressed",
                line=line,
                column=column,
            )
        return self._error(
            "malformed XML",
            detail=detail,
            offset=self._offset_of(line, column),
            offset_kind="decompressed",
            line=line,
            column=column,
        )

    def _offset_of(self, line: int | None, column: int | None) -> int:
        """Best byte offset for a libxml2 (line, column): the start of that line plus the column.

        Exact for the line start when the line begins in the chunk being parsed; the column counts
        characters, so for non-ASCII lines the result is approximate. Falls back to the start of
        the chunk that failed.
        """
        if not (self._count_lines and line):
            return self._chunk_start
        newlines_needed = line - 1 - self._lines_before_chunk
        if newlines_needed < 0:
            return self._chunk_start
        pos = 0
        for _ in range(newlines_needed):
            pos = self._chunk.find(b"\n", pos) + 1
            if pos == 0:
                return self._chunk_start
        return self._chunk_start + pos + max((column or 1) - 1, 0)


def iter_pages(
    source: Source,
    *,
    name: str,
    latest_only: bool = True,
    keep_partial: bool = False,
) -> DumpReader:
    """Iterate over the pages of a dump; the returned reader also exposes ``siteinfo`` and counters.

    ``name`` labels error messages (the file name, or e.g. the URL a stream came from).
    """
    return DumpReader(source, name=name, latest_only=latest_only, keep_partial=keep_partial)
