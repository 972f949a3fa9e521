"""One in-process smoke test per `wme` command that no scenario covers (typer's runner, real servers)."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from wme_assets.cli import app
from wme_assets.instance import instance_config
from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY
from wme_assets_tests.paths import DUMP_DATE, FIXTURES, REPO_ROOT

BNWIKI_XZ = FIXTURES / "xztextfilter-truncated-dumps" / "bnwiki-truncated-100k.xml.xz"


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_instance_config_prints_both_shapes():
    deployment = invoke("instance-config", "--postgres")
    assert deployment.exit_code == 0
    assert deployment.stdout == (REPO_ROOT / "infra" / "dagster.yaml").read_text()
    embedded = invoke("instance-config")
    assert embedded.exit_code == 0 and yaml.safe_load(embedded.stdout) == instance_config(postgres=False)
    assert embedded.stdout == (REPO_ROOT / "dagster.yaml").read_text()


def test_mirror_add_and_fixtures_lay_out_dumps_runs(tmp_path):
    added = invoke("mirror", "add", str(tmp_path / "one"), "bnwiki", DUMP_DATE, str(BNWIKI_XZ), "--parts", "2")
    assert added.exit_code == 0, added.stdout
    run_dir = tmp_path / "one" / "bnwiki" / DUMP_DATE
    assert f"{run_dir}: " in added.stdout and "pages in" in added.stdout
    assert (run_dir / "dumpstatus.json").is_file()
    assert {1, 2} <= {int(p.name.split("multistream")[1][0]) for p in run_dir.glob("*-multistream[0-9].xml-p*.bz2")}

    from wme_assets.devtools.mirror import mysqldump_table
    from wme_assets.sources.dumps_client import parse_status

    sql = tmp_path / "categorylinks.sql"
    sql.write_bytes(mysqldump_table("bnwiki", "categorylinks", [{"cl_from": 1, "cl_to": "X"}], "2023-05-01"))
    with_table = invoke("mirror", "add", str(tmp_path / "two"), "bnwiki", DUMP_DATE, str(BNWIKI_XZ),
                        "--table", f"categorylinks={sql}")
    assert with_table.exit_code == 0, with_table.stdout
    status = parse_status((tmp_path / "two" / "bnwiki" / DUMP_DATE / "dumpstatus.json").read_bytes())
    assert list(status.jobs["categorylinkstable"].files) == [f"bnwiki-{DUMP_DATE}-categorylinks.sql.gz"]
    refused = invoke("mirror", "add", str(tmp_path / "two"), "bnwiki", DUMP_DATE, str(BNWIKI_XZ), "--table", "x")
    assert refused.exit_code != 0 and "TABLE=FILE" in refused.stdout + (refused.stderr or "")

    built = invoke("mirror", "fixtures", str(tmp_path / "all"), "--fixtures", str(FIXTURES))
    assert built.exit_code == 0, built.stdout
    assert len([line for line in built.stdout.splitlines() if line.endswith(" pages")]) == 8
    assert f"WME_DUMPS_URL={(tmp_path / 'all').resolve().as_uri()}" in built.stdout


@pytest.fixture
def cli_env(s3_env, monkeypatch):
    """The test's store for the CLI; the variables the CLI sets on its own process are restored afterwards."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", EMBEDDED_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", EMBEDDED_SECRET_KEY)
    for name in ("DAGSTER_HOME", "WME_PG_HOST", "WME_PG_PORT"):
        monkeypatch.delenv(name, raising=False)
    return s3_env


@pytest.mark.integration
def test_check_reports_each_part_of_the_configuration(cli_env):
    result = invoke("check")
    assert result.exit_code == 0, result.stdout
    storage = next(line for line in result.stdout.splitlines() if line.startswith("object storage  ok"))
    assert f"s3://{cli_env['WME_S3_BUCKET']}/{cli_env['WME_S3_PREFIX']}" in storage
    assert cli_env["WME_S3_ENDPOINT_URL"] in storage
    assert "dagster         ok (SQLite" in result.stdout


@pytest.mark.integration
def test_snapshot_verify_names_what_is_missing(cli_env):
    uri = f"s3://{cli_env['WME_S3_BUCKET']}/{cli_env['WME_S3_PREFIX']}/snapshots/{DUMP_DATE}/bnwiki_namespace_0.manifest.json"
    result = CliRunner().invoke(app, ["snapshot", "verify", uri])
    assert result.exit_code == 1
    assert "bnwiki_namespace_0" in result.output


def test_version():
    from wme_assets.util.version import package_version

    shown = invoke("--version")
    assert shown.exit_code == 0 and shown.stdout.strip() == f"wme {package_version()} (wme-platform)"


def test_catalog_refresh_and_list_from_a_served_site_matrix(tmp_path, monkeypatch):
    from wme_assets_tests.servers import serve_directory

    monkeypatch.setenv("WME_HOME", str(tmp_path / "home"))
    with serve_directory(FIXTURES / "wme-catalog") as base:
        monkeypatch.setenv("WME_SITEMATRIX_URL", f"{base}/sitematrix.json")
        refreshed = invoke("catalog", "refresh")
        assert refreshed.exit_code == 0, refreshed.stdout
        assert refreshed.stdout.startswith(f"883 projects from {base}/sitematrix.json (fetched ")
    # The server is gone: the cached catalogue answers.
    listed = invoke("catalog", "list", "--family", "wikivoyage")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert len(lines) == 25 and "eswikivoyage\twikivoyage\tes\thttps://es.wikivoyage.org" in lines
    some = invoke("catalog", "list", "bnwiki", "aawiki")
    assert some.stdout.splitlines() == [
        "bnwiki\twikipedia\tbn\thttps://bn.wikipedia.org",
        "aawiki\twikipedia\taa\thttps://aa.wikipedia.org (closed)",
    ]
    unknown = CliRunner().invoke(app, ["catalog", "list", "anpwiki"])
    assert unknown.exit_code == 2
    assert "'anpwiki' is not in Wikimedia's site matrix" in unknown.output


def test_accounts_create_list_set_tier_and_disable(tmp_path, monkeypatch):
    monkeypatch.setenv("WME_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WME_PG_HOST", raising=False)
    runner = CliRunner()
    created = runner.invoke(app, ["accounts", "create", "alice", "--tier", "paid"], input="a long password\n")
    assert created.exit_code == 0, created.output
    assert created.stdout == "created account alice (paid)\n" and "a long password" not in created.output
    assert runner.invoke(app, ["accounts", "create", "bob"], input="another password\n").exit_code == 0
    again = runner.invoke(app, ["accounts", "create", "alice"], input="a long password\n")
    assert again.exit_code == 2 and "account 'alice' exists already" in again.output
    short = runner.invoke(app, ["accounts", "create", "carol"], input="short\n")
    assert short.exit_code == 2 and "too short" in short.output

    assert invoke("accounts", "set-tier", "bob", "paid").stdout == "account bob is now paid\n"
    assert "tier must be one of free, paid" in runner.invoke(app, ["accounts", "set-tier", "bob", "gold"]).output
    assert invoke("accounts", "disable", "alice").stdout == "disabled account alice; its tokens no longer work\n"
    unknown = runner.invoke(app, ["accounts", "disable", "nobody"])
    assert unknown.exit_code == 2 and "no account named 'nobody'" in unknown.output
    rows = [line.split("\t")[:3] for line in invoke("accounts", "list").stdout.splitlines()]
    assert rows == [["alice", "paid", "disabled"], ["bob", "paid", "enabled"]]
    assert invoke("accounts", "enable", "alice").stdout == "enabled account alice\n"
    assert invoke("accounts", "list").stdout.startswith("alice\tpaid\tenabled\t")
