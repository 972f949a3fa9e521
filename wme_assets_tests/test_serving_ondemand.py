"""The On-demand API of `wme serve` against Enterprise's official Python SDK, unchanged, on real article stores.

Once per module, in one SeaweedFS store: the real bnwiki dump fixture through wme's own download, ingestion and
enrichment (its article store, redirects and Structured Contents as the pipeline makes them), and the real
Enterprise articles of the fixtures (``wme-articles``: Albert Einstein in four projects, Josephine Baker in two)
published as the article stores of their projects with the store's own writer. `wme serve` runs on it with
``WME_ONDEMAND_REFRESH_SECONDS=0``, so a delta published by the store's own functions must be in the very next
answer.
"""

from __future__ import annotations

import lzma
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest

from wme_assets.storage.article_store import (
    ArticleStoreWriter,
    iter_current_batches,
    publish_base,
    publish_delta,
)
from wme_assets.storage.object_store import ObjectStore
from wme_assets_tests.api_server import PROJECT, Server, _raw, running_server, wme
from wme_assets_tests.chain import ingest_from_mirror
from wme_assets_tests.paths import DUMP_DATE, FIXTURES
from wme_assets_tests.servers import new_test_store, wait_until

pytestmark = pytest.mark.integration

from modules.api.api_client import Request  # noqa: E402  (the SDK, from its own folder)
from modules.api.exceptions import APIStatusError  # noqa: E402

ARTICLES = FIXTURES / "wme-articles"
HELD_BACK = ("enwiki", "Josephine_Baker")  # published later, as a realtime delta


def _fixture_article(project: str, stem: str) -> dict:
    with lzma.open(ARTICLES / project / f"{stem}.json.xz") as fh:
        return orjson.loads(fh.read())


def _write(writer: ArticleStoreWriter, article: dict) -> None:
    writer.add(
        article["identifier"],
        article["namespace"]["identifier"],
        article["name"],
        article["version"]["identifier"],
        article["date_modified"],
        orjson.dumps(article),
    )


def _publish_fixture_projects(store: ObjectStore, work: Path) -> None:
    for folder in sorted(p for p in ARTICLES.iterdir() if p.is_dir()):
        project = folder.name
        articles = [
            _fixture_article(project, path.name.removesuffix(".json.xz"))
            for path in sorted(folder.glob("*.json.xz"))
            if (project, path.name.removesuffix(".json.xz")) != HELD_BACK
        ]
        writer = ArticleStoreWriter(work / project, project=project, source="fixtures:wme-articles", run_id="base")
        for article in sorted(articles, key=lambda a: a["identifier"]):
            _write(writer, article)
        writer.close()
        publish_base(store, work / project, project, DUMP_DATE)


@pytest.fixture(scope="module")
def store(seaweedfs, dumps_mirror, tmp_path_factory) -> ObjectStore:
    from wme_assets.enrichment.run import enrich_pages

    store = new_test_store(seaweedfs)
    ingest_from_mirror(store, dumps_mirror, PROJECT, DUMP_DATE)
    enrich_pages(store, PROJECT, DUMP_DATE, run_id="ondemand-tests", workers=1, log=lambda _: None)
    _publish_fixture_projects(store, tmp_path_factory.mktemp("fixture-bases"))
    return store


@pytest.fixture(scope="module")
def bnwiki(store, tmp_path_factory) -> dict[str, dict]:
    """The bnwiki articles the pipeline stored, by name, with their Structured Contents."""
    rows = {}
    for batch in iter_current_batches(
        store, PROJECT, cache_dir=tmp_path_factory.mktemp("read"), columns=["name", "article", "structured"]
    ):
        for name, article, structured in zip(*(batch.column(i).to_pylist() for i in range(3)), strict=True):
            rows[name] = {"article": orjson.loads(article), "structured": structured}
    return rows


@pytest.fixture(scope="module")
def server(store, tmp_path_factory) -> Iterator[Server]:
    with running_server(store, tmp_path_factory.mktemp("ondemand-home"), ondemand_refresh_seconds="0") as running:
        token = running.login("paid-user")["access_token"]
        # The indexes build in the background after the start; meanwhile the answer is 503 with Retry-After.
        wait_until(lambda: running.get("v2/articles/Albert_Einstein", token).status_code != 503, 120, "indexes built")
        yield running


@pytest.fixture(scope="module")
def paid(server):
    return server.client("paid-user")


def _status(exc_info) -> int:
    return exc_info.value.response.status_code


def test_a_title_in_several_projects_one_article_each_in_dbname_order_up_to_the_limit(paid):
    einstein = {p: _fixture_article(p, "Albert_Einstein") for p in ("dewiki", "enwiki", "enwikiversity", "simplewiki")}
    found = paid.get_articles("Albert Einstein")
    assert [a.is_part_of.identifier for a in found] == ["dewiki", "enwiki", "enwikiversity"]  # limit 3 by default
    assert [a.identifier for a in found] == [einstein[a.is_part_of.identifier]["identifier"] for a in found]
    assert [a.version.identifier for a in found] == [
        einstein[a.is_part_of.identifier]["version"]["identifier"] for a in found
    ]
    every = paid.get_articles("Albert Einstein", Request(limit=10))
    assert [a.is_part_of.identifier for a in every] == sorted(einstein)
    assert len(paid.get_articles("Albert Einstein", Request(limit=1))) == 1


def test_filters_choose_projects_languages_and_namespaces(paid):
    simple = paid.get_articles("Albert Einstein", Request(filters={"is_part_of.identifier": "simplewiki"}))
    assert [a.is_part_of.identifier for a in simple] == ["simplewiki"]
    german = paid.get_articles("Albert Einstein", Request(filters=[{"field": "in_language.identifier", "value": "de"}]))
    assert [a.is_part_of.identifier for a in german] == ["dewiki"]
    main = paid.get_articles("Albert Einstein", Request(limit=10, filters={"namespace.identifier": 0}))
    assert len(main) == 4
    with pytest.raises(APIStatusError) as none:
        paid.get_articles("Albert Einstein", Request(filters={"namespace.identifier": 14}))
    assert _status(none) == 404
    # Any other filter is matched on the article itself.
    revision = _fixture_article("enwiki", "Albert_Einstein")["version"]["identifier"]
    by_revision = paid.get_articles("Albert Einstein", Request(filters={"version.identifier": revision}))
    assert [a.is_part_of.identifier for a in by_revision] == ["enwiki"]


def test_fields_project_the_articles_and_ndjson_is_one_per_line(server, paid):
    found = paid.get_articles("Albert Einstein", Request(fields=["name", "is_part_of.identifier"], limit=2))
    assert [(a.name, a.is_part_of.identifier) for a in found] == [
        ("Albert Einstein", "dewiki"),
        ("Albert Einstein", "enwiki"),
    ]
    assert found[0].version is None and found[0].identifier is None
    token = server.login("paid-user")["access_token"]
    by_get = server.get(
        "v2/articles/Albert_Einstein",
        token,
        params={"fields": ["identifier"], "filters": "is_part_of.identifier:enwiki"},
    )
    assert by_get.json() == [{"identifier": _fixture_article("enwiki", "Albert_Einstein")["identifier"]}]
    ndjson = httpx.post(
        f"{server.url}v2/articles/Albert Einstein",
        json={"limit": 10},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/x-ndjson"},
    )
    assert ndjson.headers["content-type"].startswith("application/x-ndjson")
    lines = [orjson.loads(line) for line in ndjson.text.splitlines()]
    assert [line["is_part_of"]["identifier"] for line in lines] == ["dewiki", "enwiki", "enwikiversity", "simplewiki"]
    assert lines[1] == _fixture_article("enwiki", "Albert_Einstein")  # the stored article, byte for byte


def test_titles_are_found_as_mediawiki_finds_them(paid):
    for spelling in ("Albert_Einstein", "albert Einstein", "  Albert__Einstein "):
        found = paid.get_articles(spelling, Request(filters={"is_part_of.identifier": "enwiki"}))
        assert [a.name for a in found] == ["Albert Einstein"], spelling
    redirects = {r["name"] for r in _fixture_article("enwiki", "Albert_Einstein")["redirects"]}
    assert "Albert einstein" in redirects and "Albert EINSTEIN" not in redirects  # a redirect, a mere spelling
    assert paid.get_articles("albert_einstein")[0].name == "Albert Einstein"
    with pytest.raises(APIStatusError) as wrong_case:
        paid.get_articles("Albert EINSTEIN")  # only the first letter is case-insensitive
    assert _status(wrong_case) == 404


def test_a_redirect_title_finds_the_page_it_points_to(paid, bnwiki):
    einstein = _fixture_article("enwiki", "Albert_Einstein")
    redirect = einstein["redirects"][0]["name"]
    found = paid.get_articles(redirect, Request(filters={"is_part_of.identifier": "enwiki"}))
    assert [a.identifier for a in found] == [einstein["identifier"]]
    # And a redirect of the real dump, joined to its target by the pipeline.
    name, row = next((n, r) for n, r in bnwiki.items() if r["article"].get("redirects"))
    found = paid.get_articles(row["article"]["redirects"][0]["name"])
    assert [(a.is_part_of.identifier, a.name) for a in found] == [(PROJECT, name)]


def test_structured_contents_of_the_pipeline(paid, bnwiki):
    name, row = next(
        (n, r) for n, r in bnwiki.items() if r["structured"] and r["article"]["namespace"]["identifier"] == 0
    )
    found = paid.get_structured_contents(name)
    assert [s.identifier for s in found] == [row["article"]["identifier"]]
    assert found[0].name == name == orjson.loads(row["structured"])["name"]
    projected = paid.get_structured_contents(name, Request(fields=["name", "url"]))
    assert (projected[0].name, projected[0].identifier) == (name, None)
    with pytest.raises(APIStatusError) as none:  # the fixture projects' articles have no Structured Contents
        paid.get_structured_contents("Albert Einstein")
    assert _status(none) == 404


def test_missing_titles_slashes_and_bad_names(server, paid):
    token = server.login("paid-user")["access_token"]
    missing = server.get("v2/articles/No such page anywhere", token)
    assert missing.status_code == 404
    assert missing.json() == {
        "status": 404,
        "message": "Not Found: no article titled 'No such page anywhere' in the projects asked",
    }
    slashed = server.get("v2/articles/AC/DC", token)  # routed to the title AC/DC, not to another path
    assert slashed.status_code == 404 and "'AC/DC'" in slashed.json()["message"]
    for path in ("/v2/articles/a%23b", "/v2/articles/%7Bx%7D", "/v2/articles/x%00y", "/v2/articles/" + "x" * 600):
        assert _raw(server, path, token) == 422, path


def test_limit_above_ten_is_refused(server, paid):
    with pytest.raises(APIStatusError) as refused:
        paid.get_articles("Albert Einstein", Request(limit=11))
    assert _status(refused) == 422
    token = server.login("paid-user")["access_token"]
    response = server.get("v2/structured-contents/Albert_Einstein", token, params={"limit": "11"})
    assert response.status_code == 422 and response.json()["status"] == 422


def test_both_tiers_may_call_it_and_a_token_is_required(server):
    free = server.client("free-user")
    assert [a.is_part_of.identifier for a in free.get_articles("Albert Einstein")] == [
        "dewiki",
        "enwiki",
        "enwikiversity",
    ]
    for path in ("v2/articles/Albert_Einstein", "v2/structured-contents/Albert_Einstein"):
        for method in ("GET", "POST"):
            response = httpx.request(method, f"{server.url}{path}")
            assert response.status_code == 401 and response.json()["status"] == 401


def test_a_published_change_is_in_the_next_answer(server, paid, tmp_path):
    """The realtime path's way of publishing: a delta of the hour, then the same hour again with more changes."""
    baker = _fixture_article(*HELD_BACK)
    merkel = _fixture_article("enwiki", "Angela_Merkel")
    with pytest.raises(APIStatusError) as before:
        paid.get_articles("Josephine Baker", Request(filters={"is_part_of.identifier": "enwiki"}))
    assert _status(before) == 404
    hour = datetime.now(UTC).strftime("%Y%m%d%H")
    first = ArticleStoreWriter(tmp_path / "first", project="enwiki", source=f"events:{hour}", run_id="rt-1")
    _write(first, baker)
    first.close()
    publish_delta(server.store, tmp_path / "first", "enwiki", hour)
    found = paid.get_articles("Josephine Baker")
    assert [(a.is_part_of.identifier, a.identifier) for a in found] == [
        ("enwiki", baker["identifier"]),
        ("frwiki", _fixture_article("frwiki", "Josephine_Baker")["identifier"]),
    ]
    assert paid.get_articles("Angela Merkel")[0].identifier == merkel["identifier"]

    # The same hour republished in place (the pointer does not move): the page deleted, the earlier row kept.
    second = ArticleStoreWriter(tmp_path / "second", project="enwiki", source=f"events:{hour}", run_id="rt-2")
    _write(second, baker)
    second.delete(merkel["identifier"], 0, merkel["version"]["identifier"], name=merkel["name"])
    second.close()
    publish_delta(server.store, tmp_path / "second", "enwiki", hour)
    with pytest.raises(APIStatusError) as deleted:
        paid.get_articles("Angela Merkel")
    assert _status(deleted) == 404
    for redirect in merkel["redirects"][:3]:  # its redirects' titles went with it
        with pytest.raises(APIStatusError):
            paid.get_articles(redirect["name"], Request(filters={"is_part_of.identifier": "enwiki"}))
    assert paid.get_articles("Josephine Baker", Request(limit=1))[0].identifier == baker["identifier"]


def test_a_new_base_is_indexed_in_the_background_while_the_previous_index_answers(server, paid, tmp_path):
    """A later dump's base (here one without the page) replaces the project's index once built; the requests
    meanwhile are answered from the previous index, never refused."""
    every = [a.is_part_of.identifier for a in paid.get_articles("Albert Einstein", Request(limit=10))]
    assert "simplewiki" in every
    ArticleStoreWriter(tmp_path / "base", project="simplewiki", source="dump:20230601", run_id="base-2").close()
    publish_base(server.store, tmp_path / "base", "simplewiki", "20230601")
    answers = []

    def rebuilt() -> bool:
        answers.append([a.is_part_of.identifier for a in paid.get_articles("Albert Einstein", Request(limit=10))])
        return "simplewiki" not in answers[-1]

    wait_until(rebuilt, 60, "the new base indexed")
    assert all(answer in (every, [p for p in every if p != "simplewiki"]) for answer in answers)


def test_worker_processes_share_the_indexes_and_see_a_change_at_once(store, tmp_path_factory):
    """`wme serve --workers 2` with its own index directory: one process builds each project's index, both
    answer from it, and a delta published later is in the next answer of whichever process gets the request."""
    home = tmp_path_factory.mktemp("ondemand-workers")
    with running_server(store, home, args=("--workers", "2"), ondemand_refresh_seconds="0") as server:
        token = server.login("paid-user")["access_token"]
        early = []

        def ready():
            response = server.get("v2/articles/Josephine_Baker", token)
            early.append(response)
            return response.status_code != 503

        wait_until(ready, 120, "indexes built")
        for response in early[:-1]:  # while building: Enterprise's error body and when to come back
            assert response.json()["status"] == 503 and int(response.headers["Retry-After"]) > 0
            assert "being built" in response.json()["message"]
        # One file per project: the two processes did not both build one.
        built = sorted(path.name.rsplit("-", 1)[0] for path in (home / "ondemand").glob("*.sqlite3"))
        assert built == ["bnwiki", "dewiki", "enwiki", "enwikiversity", "frwiki", "ptwiki", "simplewiki"]
        client = server.client(token=token)
        baker = _fixture_article(*HELD_BACK)
        for _ in range(6):
            assert [a.is_part_of.identifier for a in client.get_articles("Josephine Baker")] == ["enwiki", "frwiki"]

        later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y%m%d%H")  # after the hour published above
        delta = tmp_path_factory.mktemp("delta")
        writer = ArticleStoreWriter(delta, project="enwiki", source=f"events:{later}", run_id="rt-3")
        writer.delete(baker["identifier"], 0, baker["version"]["identifier"], name=baker["name"])
        writer.close()
        publish_delta(store, delta, "enwiki", later)
        for _ in range(6):
            assert [a.is_part_of.identifier for a in client.get_articles("Josephine Baker")] == ["frwiki"]


def test_a_project_whose_index_cannot_be_built_answers_503_and_others_still_answer(seaweedfs, tmp_path):
    """A store whose base names a file that is gone: its build fails, and a request that could reach the project
    is told so (503, Retry-After, the project and the cause); one filtered to another project is answered."""
    from fastapi.testclient import TestClient

    from wme_assets.serving.app import create_app
    from wme_assets.settings import Settings
    from wme_assets.storage.article_store import read_base_manifest
    from wme_assets_tests.api_server import PASSWORD, SECRET, SITEMATRIX

    broken = new_test_store(seaweedfs)
    _publish_fixture_projects(broken, tmp_path / "bases")
    for entry in read_base_manifest(broken, "ptwiki", DUMP_DATE)["files"]:
        broken.delete(entry["key"])
    settings = Settings(
        home=tmp_path / "home", api_secret=SECRET, sitematrix_url=SITEMATRIX.as_uri(), ondemand_refresh_seconds=0
    )
    app = create_app(settings, broken)
    app.state.services.accounts.create("reader", PASSWORD, "free")
    with TestClient(app) as client:
        token = client.post("/v1/login", json={"username": "reader", "password": PASSWORD}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        wait_until(
            lambda: (
                client.get(
                    "/v2/articles/Calvi", headers=headers, params={"filters": "is_part_of.identifier:frwiki"}
                ).status_code
                == 200
            ),
            60,
            "the other projects indexed",
        )
        refused = client.get("/v2/articles/Portugal", headers=headers)
        assert refused.status_code == 503 and int(refused.headers["Retry-After"]) > 0
        assert refused.json()["status"] == 503
        assert "ptwiki: build failed" in refused.json()["message"]
        elsewhere = client.get(
            "/v2/articles/Portugal", headers=headers, params={"filters": "is_part_of.identifier:enwiki"}
        )
        assert elsewhere.status_code == 404


def test_a_free_accounts_monthly_quota_is_counted_across_servers_and_restarts(store, tmp_path):
    """WME_API_FREE_ONDEMAND_MONTHLY: articles and structured contents share one count per free account, kept in
    the accounts database; past it 429 with Retry-After until the 1st, also from a server started afterwards."""
    home = tmp_path / "home"
    home.mkdir()
    quota = {"api_free_ondemand_monthly": "3"}
    with running_server(store, home, **quota) as first:
        paid_token = first.login("paid-user")["access_token"]
        wait_until(lambda: first.get("v2/articles/Albert_Einstein", paid_token).status_code != 503, 120, "indexes")
        free_token = first.login("free-user")["access_token"]
        answers = [
            first.get("v2/articles/Albert_Einstein", free_token).status_code,
            first.get("v2/structured-contents/Albert_Einstein", free_token).status_code,  # none made: 404
            first.get("v2/articles/No_such_page_anywhere", free_token).status_code,  # a miss counts too
        ]
        assert answers == [200, 404, 404]
        refused = first.get("v2/articles/Albert_Einstein", free_token)
        assert refused.status_code == 429 and refused.json()["status"] == 429
        assert "monthly quota of 3" in refused.json()["message"]
        assert 0 < int(refused.headers["Retry-After"]) <= 31 * 86400 + 1
        assert first.get("v2/snapshots", free_token).status_code == 200  # other endpoints are not capped
        for _ in range(4):  # paid: counted, never capped
            assert first.get("v2/articles/Albert_Einstein", paid_token).status_code == 200

    # The same accounts database (WME_HOME), another server process: the count is where it was.
    with running_server(store, home, **quota) as second:
        again = second.login("free-user")["access_token"]
        assert second.get("v2/articles/Albert_Einstein", again).status_code == 429
        env = second.env
    listed = wme(env, "accounts", "usage")
    assert listed.returncode == 0, listed.stderr
    month = datetime.now(UTC).strftime("%Y-%m")
    rows = {tuple(line.split("\t")[:4]): line.split("\t")[4:] for line in listed.stdout.splitlines()}
    assert rows[("free-user", "free", month, "ondemand")] == ["3", "3"]  # used, cap
    used, cap = rows[("paid-user", "paid", month, "ondemand")]
    assert int(used) >= 5 and cap == "no cap"
