"""The MediaWiki client against a real MediaWiki 1.39 on loopback (``mediawiki_server.py``).

Fetches the Parsoid HTML of imported revisions, checks the cache keyed by revision id (the second
fetch sends no request: counted by the client and in the server's log), the error a missing revision
gives, and that no more than ``concurrency`` requests are ever in flight.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wme_assets.sources.mediawiki import MediaWikiClient, RevisionNotFound
from wme_assets_tests.mediawiki_server import MediaWikiServer


def test_fetches_parsoid_html_of_imported_revisions(mediawiki: MediaWikiServer, tmp_path: Path) -> None:  # noqa: F811
    with MediaWikiClient(mediawiki.base_url, cache_dir=tmp_path) as client:
        rev = mediawiki.revisions["Josephine Baker"]
        html = client.revision_html(rev)
    assert '<meta property="mw:htmlVersion"' in html  # Parsoid output, not the skin's page
    assert "Josephine Baker" in html
    assert 'rel="mw:WikiLink"' in html


def test_second_fetch_is_a_cache_hit(mediawiki: MediaWikiServer, tmp_path: Path) -> None:  # noqa: F811
    rev = mediawiki.revisions["Angela Merkel"]
    path = f"/rest.php/v1/revision/{rev}/html"
    logged_before = mediawiki.requests_to(path)
    with MediaWikiClient(mediawiki.base_url, cache_dir=tmp_path) as client:
        first = client.revision_html(rev)
        assert client.http_requests == 1 and client.cache_hits == 0
        assert client.cache_path(rev).is_file() and client.cache_path(rev).name == f"{rev}.html.gz"
    # A new client on the same cache directory: no request at all.
    with MediaWikiClient(mediawiki.base_url, cache_dir=tmp_path) as client:
        second = client.revision_html(rev)
        assert client.http_requests == 0 and client.cache_hits == 1
    assert second == first
    assert mediawiki.requests_to(path) - logged_before == 1  # the server saw one request


def test_missing_revision_names_url_and_revision(mediawiki: MediaWikiServer, tmp_path: Path) -> None:  # noqa: F811
    missing = 987654
    with MediaWikiClient(mediawiki.base_url, cache_dir=tmp_path, retries=0) as client:
        with pytest.raises(RevisionNotFound) as err:
            client.revision_html(missing)
        assert client.http_requests == 1  # a 404 is not retried
    assert err.value.rev_id == missing
    assert f"revision {missing}" in str(err.value)
    assert f"{mediawiki.base_url}/rest.php/v1/revision/{missing}/html" in str(err.value)
    assert not any(tmp_path.rglob("*.html.gz"))  # nothing cached


def test_many_respects_the_concurrency_limit(mediawiki: MediaWikiServer, tmp_path: Path) -> None:  # noqa: F811
    revs = list(mediawiki.revisions.values())
    with MediaWikiClient(mediawiki.base_url, cache_dir=tmp_path, concurrency=2) as client:
        got = client.revision_html_many(revs + revs[:1])  # a duplicate is fetched once
        assert client.max_in_flight <= 2
        assert client.http_requests == len(revs)
    assert set(got) == set(revs)
    assert all('<meta property="mw:htmlVersion"' in html for html in got.values())


def test_many_without_cache_dir_and_unreachable_endpoint_fails_clearly() -> None:
    # nothing listens on port 9 of loopback: connection refused, retried, then a clear error
    with MediaWikiClient("http://127.0.0.1:9", retries=1, backoff=0.01) as client:
        with pytest.raises(Exception) as err:
            client.revision_html(1)
    assert "revision 1" in str(err.value) and "127.0.0.1:9/rest.php/v1/revision/1/html" in str(err.value)
