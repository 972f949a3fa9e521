"""Parsers for Wikimedia dump formats.

- :mod:`wme_assets.parsing.dump_xml` — streaming parser for MediaWiki XML export dumps
  (export schema 0.3 … 0.11; plain, gz, bz2 (incl. multistream), xz; UTF-8 or UTF-16).
- :mod:`wme_assets.parsing.multistream` — the ``pages-articles-multistream`` layout: index reading,
  parallel parsing of bz2 streams, and writing multistream files plus their index.
"""
