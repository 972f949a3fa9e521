"""The bytes the whole chain publishes, pinned: a refactoring that changes behaviour changes them.

The real bnwiki dump fixture goes through every stage in process (verified download, multistream parsing
into the page store, enrichment, export of the paid article snapshots and the Structured Contents snapshot)
with a fixed run id, and the SHA-256 of each published archive must equal the one recorded here. Archives
are byte-reproducible (fixed tar headers, gzip without a timestamp, records ordered by page id), so any
difference is a difference in what some stage computes. When a change is meant to alter the output, re-run
this test, check the diff of the records, and record the new digests with the reason in the commit.
"""

from __future__ import annotations

import pytest

from wme_assets.enrichment.run import enrich_pages
from wme_assets.snapshots.run import export_snapshots, export_structured_snapshot
from wme_assets_tests.chain import ingest_from_mirror

pytestmark = pytest.mark.integration

DATE = "20230501"

# Recorded before the packages were re-laid out (one package per stage). namespace_0 since: the
# `templates` of three articles lose a U+200E mark at the end of a template name (MediaWiki strips
# bidi marks from titles).
PINNED_ARCHIVES = {
    "bnwiki_namespace_0": "a9d575a9f7d8af5e24dff7376a3f386ccb2944bbe59ed50f404c4b4fd944a4a8",
    "bnwiki_namespace_6": "59de3d6c30b3a19f0a34c3642caeb58274162e204a0777538704b3a369956e7d",
    "bnwiki_namespace_10": "bd5cf1bd0fb53e978a8e278a13898ea39fc3d2f89b5ec7673166e4cc954e5c19",
    "bnwiki_namespace_14": "267f98f17a961026b5db0fb4937ef9640b3a3a5553f13d9195ddf94c0ed56297",
    "structured:bnwiki_namespace_0": "be5b3c40cded099c2800cf2ff3c2e28d809a78adaa6b0d8d87acad72811383fd",
}


def test_the_chain_publishes_the_pinned_bytes(object_store, dumps_mirror):
    quiet = lambda _: None  # noqa: E731
    ingest_from_mirror(object_store, dumps_mirror, "bnwiki", DATE, workers=2)
    enrich_pages(object_store, "bnwiki", DATE, run_id="pinned-run", workers=2, log=quiet)
    articles = export_snapshots(object_store, "bnwiki", DATE, tier="paid", log=quiet)
    structured = export_structured_snapshot(object_store, "bnwiki", DATE, log=quiet)

    digests = {n.identifier: n.published.manifest.archive.sha256 for n in articles.namespaces if n.published}
    digests |= {f"structured:{n.identifier}": n.published.manifest.archive.sha256 for n in structured.namespaces}
    assert digests == PINNED_ARCHIVES
