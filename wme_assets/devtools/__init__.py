"""Development and QA tooling, never imported by the Dagster code location (``wme_assets.defs``).

- :mod:`.mirror` — lays out dumps runs (multistream bz2, index, page_props, status, checksums) from exports,
  for tests, benchmarks and ``make demo-offline``.
- :mod:`.fidelity` — compares wme's output with Wikimedia Enterprise's records and parser goldens.
- :mod:`.parser_goldens` — reads Enterprise's parser test data.
"""
