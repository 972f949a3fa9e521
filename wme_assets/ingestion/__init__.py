"""Ingestion: a dumps run from the dumps site into the raw zone and the page store.

- :mod:`.download` — the run's files, resumable and verified against the run's checksums, into ``raw/``.
- :mod:`.decompress` — plain, gz, bz2 (multistream included) and xz, detected from the magic bytes.
- :mod:`.dump_xml` — streaming parser for MediaWiki XML export dumps (schema 0.3 … 0.11; UTF-8 or UTF-16),
  with :mod:`.elements` turning its lxml elements into the page records of :mod:`wme_assets.schema.page`.
- :mod:`.errors` — :class:`~.errors.DumpParseError`, raised by every reader here.
- :mod:`.multistream` — the ``pages-articles-multistream`` layout: index reading and parallel parsing of
  bz2 streams (the writer, only needed to build mirrors, is in :mod:`wme_assets.devtools.mirror`).
- :mod:`.sql_dump` — streaming reader of any table's mysqldump (``{db}-{date}-{table}.sql.gz``).
- :mod:`.page_props` — the ``page_props`` SQL dump (Wikidata ids).
- :mod:`.tables` — the run's optional SQL tables (link tables, restrictions, user groups, page props) into
  Parquet for the enrichment's join.
- :mod:`.run` — the stage: parse every part of a run into the page store.
"""
