"""The error of every dump reader in ingestion, and how sources are named in its messages.

The XML reader, the decompressor, the multistream reader and the ``page_props`` reader all raise
:class:`DumpParseError`, naming the file and, where known, the byte offset of the fault.
"""

from __future__ import annotations

import os

__all__ = ["DumpParseError", "describe_source"]


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


def describe_source(source: object) -> str:
    """The name of a dump in messages: the path, or the file object's ``name``, or ``<stream>``."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(getattr(source, "name", None) or "<stream>")
