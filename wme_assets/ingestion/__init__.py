"""Ingestion: a dumps run from the dumps site into the raw zone and the page store.

- :mod:`.download` — the run's files, resumable and verified against the run's checksums, into ``raw/``.
- :mod:`.dump_xml` — streaming parser for MediaWiki XML export dumps (schema 0.3 … 0.11; plain, gz, bz2,
  xz; UTF-8 or UTF-16).
- :mod:`.multistream` — the ``pages-articles-multistream`` layout: index reading and parallel parsing of
  bz2 streams.
- :mod:`.page_props` — the ``page_props`` SQL dump (Wikidata ids, disambiguation flags).
- :mod:`.run` — the stage: parse every part of a run into the page store.
"""
