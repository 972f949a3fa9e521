"""Snapshots: archives and chunks in Wikimedia Enterprise's format, their manifests, publishing and reading.

- :mod:`.archive` — byte-reproducible tar.gz archives of NDJSON members and their chunks.
- :mod:`.manifest` — building and verifying manifests and Enterprise's metadata objects.
- :mod:`.publish` — staged, verified publication with dated paths, ``latest`` pointers and retention.
- :mod:`.read` — streaming a published snapshot back, verified against its manifest as it is read.
- :mod:`.run` — the stage: the article store's state of a day into published snapshots.
"""
