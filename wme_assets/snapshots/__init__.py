"""Snapshots: archives and chunks in Wikimedia Enterprise's format, their manifests, publishing and reading.

- :mod:`.archive` — byte-reproducible tar.gz archives of NDJSON members and their chunks.
- :mod:`.manifest` — building and verifying manifests and Enterprise's metadata objects.
- :mod:`.layout` — every key: dated snapshots, chunks, ``latest`` pointers, listings, staging folders.
- :mod:`.staging` — one run's staging: everything written and checked out of sight, then copied in order.
- :mod:`.publish` — the publication rule and order: staged, verified, manifest last, then ``latest``.
- :mod:`.verify` — checking what is published against its manifest.
- :mod:`.sweep` — what dead runs leave (staging, orphans) and what retention drops.
- :mod:`.read` — streaming a published snapshot back, verified against its manifest as it is read.
- :mod:`.run` — the stage: the article store's state of a day into published snapshots.
"""
