"""Every setting wme reads, in one place, from environment variables.

The README's configuration table is the user-facing copy of this module. With no variable set at all,
wme runs on one machine: Dagster's instance on SQLite and the data in an embedded SeaweedFS S3 server,
both under ``WME_HOME``. Setting ``WME_S3_ENDPOINT_URL`` switches object storage to an external S3 server;
setting ``WME_PG_HOST`` switches Dagster's storage to PostgreSQL. The code path is the same either way.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import MutableMapping
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Project keys become storage prefixes and Dagster partition keys: keep them to a safe alphabet
# (Dagster's multi-partition keys may not contain "|", ",", "[" or "]"; "/" or ".." would escape a prefix).
PROJECT_KEY = re.compile(r"^[a-z0-9_-]{1,64}$")

# The seven wikis of the dump fixtures plus the common large ones; an operator sets WME_PROJECTS.
DEFAULT_PROJECTS = "enwiki,simplewiki,dewiki,frwiki,ptwiki,bnwiki,elwiki,hywiki,jawiki,mrwiki,ukwiki,viwiki"

# Credentials for the embedded, loopback-only SeaweedFS. wme starts it with exactly this identity: left to
# itself, SeaweedFS would make the shell's AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY its admin identity, and
# wme (which signs with these keys) would be locked out.
EMBEDDED_ACCESS_KEY = "wme-embedded"
EMBEDDED_SECRET_KEY = "wme-embedded-secret"
# Where boto3 and SeaweedFS read a key pair from the environment. A session token left next to the embedded
# keys would be sent with them and make every request invalid.
AWS_CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def use_embedded_credentials(environ: MutableMapping[str, str]) -> list[str]:
    """Put the embedded key pair in ``environ`` in place of any AWS credentials; returns the ones replaced.

    In embedded mode the processes wme starts (webserver, daemon, run workers) reach the embedded server
    through this environment, with boto3's own credential chain.
    """
    embedded = {"AWS_ACCESS_KEY_ID": EMBEDDED_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": EMBEDDED_SECRET_KEY}
    replaced = [n for n in AWS_CREDENTIAL_VARIABLES if environ.get(n) and environ[n] != embedded.get(n)]
    for name in AWS_CREDENTIAL_VARIABLES:
        environ.pop(name, None)
    environ.update(embedded)
    return replaced


def use_scratch_dir(path: Path) -> Path:
    """Send every temporary file of this process to ``path``.

    The stages write temporary files through ``tempfile`` (and DuckDB spills beside them): without this they
    land in the container's ``/tmp``, a small overlay, instead of the scratch volume compose and Helm mount.
    """
    import multiprocessing.util

    path.mkdir(parents=True, exist_ok=True)
    # multiprocessing puts its fork server's Unix socket in its own temporary folder, and a socket path may
    # not exceed ~107 bytes: let it pick (and cache) that folder in the system's short /tmp first. For the
    # same reason TMPDIR is left alone: processes started from here (Dagster's step processes) would create
    # their sockets under it; they call this function themselves (the object storage resource does).
    multiprocessing.util.get_temp_dir()
    tempfile.tempdir = str(path)
    return path


class ConfigurationError(RuntimeError):
    """Configuration is missing or wrong; the message says what and how to fix it."""


def validate_project(project: str) -> str:
    if not PROJECT_KEY.match(project or ""):
        raise ConfigurationError(
            f"project {project!r} is not a valid project key: use a Wikimedia dbname such as 'enwiki' "
            "(lower-case letters, digits, '_' and '-', at most 64 characters)"
        )
    return project


def mediawiki_endpoint(endpoints: str, project: str) -> str | None:
    """The project's URL in a ``WME_MEDIAWIKI_ENDPOINTS`` value (``project=url,...``), or None."""
    for item in filter(None, (part.strip() for part in endpoints.split(","))):
        name, sep, url = item.partition("=")
        if not sep or not url.strip():
            raise ConfigurationError(
                f"WME_MEDIAWIKI_ENDPOINTS entry {item!r} is not project=url (e.g. enwiki=https://en.wikipedia.org/w)"
            )
        if name.strip() == project:
            return url.strip().rstrip("/")
    return None


class Settings(BaseSettings):
    """wme's configuration. Field names map to ``WME_<NAME>`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="WME_", extra="ignore", frozen=True)

    home: Path = Field(default=Path(".wme"), description="Directory of the embedded services and caches.")

    s3_endpoint_url: str | None = Field(
        default=None, description="S3 endpoint; unset = start the embedded SeaweedFS under WME_HOME."
    )
    s3_bucket: str = Field(default="wme", description="Bucket holding every zone (raw, pages, snapshots).")
    s3_prefix: str = Field(default="", description="Key prefix inside the bucket, e.g. 'prod/'.")
    s3_region: str = Field(default="us-east-1")
    s3_create_bucket: bool | None = Field(
        default=None, description="Create the bucket if missing; default: only for the embedded server."
    )
    embedded_s3_port: int = Field(default=8333, description="S3 port of the embedded SeaweedFS.")

    pg_host: str | None = Field(default=None, description="PostgreSQL host for Dagster; unset = SQLite.")
    pg_port: int = 5432
    pg_user: str | None = None
    # A secret: pydantic shows it as '**********' in reprs and errors; read it with .get_secret_value().
    pg_password: SecretStr | None = None
    pg_db: str | None = None

    dumps_url: str = Field(
        default="https://dumps.wikimedia.org",
        description="Dumps site or mirror laid out as {base}/{dbname}/{YYYYMMDD}/ (http(s):// or file://).",
    )
    projects: str = Field(
        default=DEFAULT_PROJECTS,
        description="The projects served, comma-separated: dbnames, a family (wikipedia, …, wikivoyage, commons) or "
        "'all', resolved through the catalogue of projects (sources/catalog.py); they become project partitions.",
    )
    http_retries: int = Field(default=4, ge=0, description="Retries of one HTTP request (connection, 429, 5xx).")
    http_backoff: float = Field(default=1.0, ge=0, description="Exponential backoff factor between them (s).")
    step_retries: int = Field(
        default=3, ge=0, description="Dagster retries of a step that failed on a transient error (network, 5xx, 429)."
    )
    step_retry_delay: float = Field(
        default=5.0, ge=0, description="Seconds before the first such retry; doubled for each further one."
    )
    run_stale_after: int = Field(
        default=300,
        ge=90,
        description="Seconds without a heartbeat after which a STARTED run whose worker is on another host "
        "(or container) is dead and marked failed; workers beat every 30 s.",
    )
    snapshot_member_bytes: int = Field(
        default=100_000_000, ge=1, description="Largest NDJSON member (and chunk) of a snapshot, uncompressed."
    )
    snapshot_validate_every: int = Field(
        default=1, ge=1, description="Validate every Nth snapshot line against the schema (1 = all)."
    )
    snapshot_retention: int = Field(default=7, ge=1, description="Dated snapshots kept per identifier and tier.")
    mediawiki_endpoints: str = Field(
        default="",
        description="Per-project MediaWiki for Parsoid HTML, e.g. 'enwiki=https://en.wikipedia.org/w'; "
        "projects without one are enriched from wikitext and carry no HTML.",
    )
    dumps_site_target: str = Field(
        default="dumps-site",
        description="Where the dumps-site layout is published: a key prefix in the bucket, or a local "
        "directory (absolute path or file://) served or synced by a web server.",
    )
    parse_workers: int | None = Field(
        default=None, ge=1, description="Worker processes parsing a multistream dump; unset = all CPUs."
    )
    step_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1,
        description="Compressed bytes of a multistream file one parse step of a split run (the main_split "
        "job) reads at most: larger files are cut into page ranges. Part of what the page store's parts are.",
    )
    step_executor: str = Field(
        default="multiprocess",
        pattern="^(multiprocess|k8s)$",
        description="Where the main_split job's steps run: 'multiprocess' (a process each, in the run's "
        "worker) or 'k8s' (a Kubernetes Job each, dagster-k8s's k8s_job_executor; needs the K8sRunLauncher).",
    )
    step_io: str | None = Field(
        default=None,
        pattern="^(s3|local)$",
        description="Where the main_split job's steps hand each other their outputs (plans, object keys): 's3' "
        "(the object store, under runs/{run_id}/, for steps on different machines) or 'local' (the run's "
        "Dagster storage directory); unset = s3 with WME_STEP_EXECUTOR=k8s, local otherwise.",
    )
    hf_repo: str | None = Field(
        default=None,
        description="Hugging Face dataset repository (owner/name) the Parquet shards are published to; "
        "without a token it only names the dry-run folder.",
    )
    hf_token: SecretStr | None = Field(
        default=None,
        validation_alias="HF_TOKEN",
        description="Hugging Face token (HF_TOKEN, the hub client's own name); unset = dry run in object storage.",
    )
    lease_wait: float = Field(
        # Long enough that a backfill's or a schedule's second writer of a project queues behind the first
        # instead of failing; a second writer started by hand says whom it waits for while it waits.
        default=600.0,
        ge=0,
        description="Seconds a second writer of the same output waits for the writer's lease before it is "
        "refused, naming the holder (0 = refuse at once).",
    )
    scratch_dir: Path | None = Field(
        default=None,
        description="Temporary files of every stage (downloads, spill files, archives before upload); default "
        "WME_HOME/scratch. Point it at a large local volume (compose and Helm mount one).",
    )
    sitematrix_url: str = Field(
        default="https://meta.wikimedia.org/w/api.php?action=sitematrix&format=json&formatversion=1",
        description="Wikimedia's site matrix (action=sitematrix), the catalogue of projects; cached under "
        "WME_HOME/catalog (http(s):// or file://).",
    )
    # ----- realtime: change sources and the raw event log -----
    change_source: Literal["eventstreams", "recentchanges"] = Field(
        default="eventstreams",
        description="Where changes come from: Wikimedia's EventStreams (page_change), or each project's own "
        "MediaWiki API (recentchanges + logevents, at WME_MEDIAWIKI_ENDPOINTS).",
    )
    eventstreams_url: str = Field(
        default="https://stream.wikimedia.org/v2/stream/mediawiki.page_change.v1",
        description="EventStreams URL of the page_change stream (one connection for every project).",
    )
    realtime_cold_start_seconds: int = Field(
        default=3600, ge=0, description="With no stored cursor, how far back a change source starts (seconds)."
    )
    realtime_stall_seconds: float = Field(
        default=30.0, gt=0, description="Seconds without a byte after which the event stream is reconnected."
    )
    realtime_flush_events: int = Field(
        default=1000, ge=1, description="Events buffered before they are written to the event log."
    )
    realtime_flush_seconds: float = Field(
        default=2.0, gt=0, description="Longest time an event waits in the buffer before it is written."
    )
    recentchanges_poll_seconds: float = Field(
        default=10.0, gt=0, description="Seconds between two polls of recentchanges/logevents."
    )
    # -- realtime: applying changes (wme_assets/realtime/apply.py) --
    realtime_fetch_concurrency: int = Field(
        default=4,
        ge=1,
        description="Action API requests in flight at once per wiki when changed revisions are fetched.",
    )
    realtime_maxlag: int = Field(
        default=5,
        description="maxlag sent with every Action API request (s): a wiki whose replicas lag more asks us to "
        "wait (Retry-After) and the fetch waits; Wikimedia asks bots for 5.",
    )

    mediawiki_bot_user: str | None = Field(
        default=None,
        description="Login of the recentchanges source (a bot password, e.g. 'WmeBot@wme'): with the "
        "suppressionlog right it reads the private suppression log too.",
    )
    mediawiki_bot_password: SecretStr | None = Field(default=None, description="Password of WME_MEDIAWIKI_BOT_USER.")
    large_projects: str = Field(
        default="enwiki,dewiki,frwiki,eswiki,jawiki,ruwiki,itwiki,zhwiki,ptwiki,plwiki,nlwiki,arwiki,cebwiki,svwiki",
        description="Projects whose runs get a bigger Kubernetes pod and a longer run timeout (comma-separated).",
    )
    # -- realtime: hourly batches (wme_assets/realtime/batches.py) --
    batch_retention_days: int = Field(
        default=7, ge=1, description="Days the hourly batches are kept (Wikimedia Enterprise keeps 2)."
    )
    # -- realtime: the article-change feed and its stream (wme_assets/realtime/feed.py) --
    feed_retention_days: int = Field(
        default=7, ge=1, description="Days the article-change feed of the realtime API is kept at least "
        "(Wikimedia Enterprise keeps 48 hours); older offsets are refused with 410."
    )
    feed_poll_seconds: float = Field(
        default=0.25, gt=0, description="How often a realtime API connection looks for new feed appends (s)."
    )
    # ----- serving: the API of `wme serve` (wme_assets/serving/) -----
    api_secret: SecretStr | None = Field(
        default=None,
        description="Secret signing the API's access and refresh tokens (HS256). Unset: generated once and kept "
        "in WME_HOME/api/secret (embedded only: servers sharing PostgreSQL must share a secret, so set it there).",
    )
    api_access_token_ttl: int = Field(default=86400, ge=1, description="Lifetime of an access token (s).")
    api_refresh_token_ttl: int = Field(default=30 * 86400, ge=1, description="Lifetime of a refresh token (s).")
    api_rate_limit: int = Field(
        # Each ranged GET of a parallel download counts: the SDK's 20 MB ranges at 100 per second are 2 GB/s.
        default=6000,
        ge=1,
        description="Requests per minute per account (each range of a download counts); above it, 429 with "
        "Retry-After.",
    )
    api_login_attempts: int = Field(
        default=10, ge=1, description="Failed logins per username and client address per 5 minutes."
    )
    api_download_redirect: bool = Field(
        default=False,
        description="Answer a download's GET with 307 to a presigned URL of the object, so clients read straight "
        "from S3 and the API carries no bytes (S3 must be reachable by them; HEAD is still answered by the API).",
    )
    api_download_s3_url: str | None = Field(
        default=None,
        description="The S3 endpoint as API clients reach it, for the presigned URLs of WME_API_DOWNLOAD_REDIRECT "
        "(default: the endpoint wme uses).",
    )
    api_free_ondemand_monthly: int = Field(
        default=5000,
        ge=0,
        description="On-demand and Structured Contents look-ups per month of a free account, combined (Enterprise's "
        "free tier); counted in the accounts database, so restarts and several servers share the count. Paid: no cap.",
    )
    ondemand_index_dir: Path | None = Field(
        default=None,
        description="Local directory of the On-demand API's title index (one SQLite file per project); "
        "default WME_HOME/ondemand.",
    )
    ondemand_refresh_seconds: float = Field(
        default=1.0,
        ge=0,
        description="How often (s) the On-demand API checks a project's article store for changes; 0: on every "
        "request, so a change the realtime path applied is in the next answer.",
    )

    @field_validator("s3_prefix")
    @classmethod
    def _normalise_prefix(cls, value: str) -> str:
        value = value.strip("/")
        if ".." in value.split("/"):
            raise ConfigurationError(f"WME_S3_PREFIX={value!r} may not contain '..'")
        return f"{value}/" if value else ""

    @field_validator("projects")
    @classmethod
    def _check_projects(cls, value: str) -> str:
        for project in value.split(","):
            validate_project(project.strip())
        return value

    @property
    def project_list(self) -> list[str]:
        """WME_PROJECTS's entries as written: dbnames and selectors (sources.catalog.configured_projects). Not
        cached: a copy with other projects (``model_copy(update=...)``) would keep the cached list."""
        return [p.strip() for p in self.projects.split(",") if p.strip()]

    @property
    def large_project_list(self) -> list[str]:
        return [p.strip() for p in self.large_projects.split(",") if p.strip()]

    def mediawiki_endpoint(self, project: str) -> str | None:
        return mediawiki_endpoint(self.mediawiki_endpoints, project)

    def mediawiki_login(self) -> tuple[str, str] | None:
        """(user, password) of the recentchanges source's login, or None (anonymous); both or neither are set."""
        if bool(self.mediawiki_bot_user) != bool(self.mediawiki_bot_password):
            raise ConfigurationError("set both WME_MEDIAWIKI_BOT_USER and WME_MEDIAWIKI_BOT_PASSWORD, or neither")
        if not self.mediawiki_bot_user or self.mediawiki_bot_password is None:
            return None
        return self.mediawiki_bot_user, self.mediawiki_bot_password.get_secret_value()

    @property
    def step_io_kind(self) -> str:
        """WME_STEP_IO, or its default: the object store when the steps run in pods that share no disk."""
        return self.step_io or ("s3" if self.step_executor == "k8s" else "local")

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def scratch_path(self) -> Path:
        return (self.scratch_dir or self.home / "scratch").expanduser().resolve()

    @property
    def embedded_s3(self) -> bool:
        return not self.s3_endpoint_url

    @property
    def uses_postgres(self) -> bool:
        return bool(self.pg_host)

    @property
    def dagster_home(self) -> Path:
        """DAGSTER_HOME if the operator set one, otherwise an instance directory under WME_HOME."""
        explicit = os.environ.get("DAGSTER_HOME")
        return Path(explicit).expanduser().resolve() if explicit else self.home_dir / "dagster"

    def require_postgres_settings(self) -> None:
        """Fail fast when deployment on PostgreSQL is half configured."""
        values = {
            "host": self.pg_host,
            "user": self.pg_user,
            "password": self.pg_password.get_secret_value() if self.pg_password else None,
            "db": self.pg_db,
        }
        missing = [f"WME_PG_{name.upper()}" for name, value in values.items() if value in (None, "")]
        if missing:
            raise ConfigurationError(
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: Dagster storage on "
                "PostgreSQL needs WME_PG_HOST, WME_PG_USER, WME_PG_PASSWORD and WME_PG_DB "
                "(and WME_PG_PORT if not 5432). Unset WME_PG_HOST to use the embedded SQLite instance."
            )

    def require_s3_credentials(self) -> None:
        if self.embedded_s3:
            return
        missing = [n for n in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if not os.environ.get(n)]
        # boto3 also finds credentials in ~/.aws or an instance role, so only complain when none resolves.
        if missing:
            import boto3

            if boto3.session.Session().get_credentials() is None:
                raise ConfigurationError(
                    f"{' and '.join(missing)} not set and no other AWS credentials found: "
                    f"the S3 endpoint {self.s3_endpoint_url} needs an access key pair."
                )


def load_settings() -> Settings:
    """Read the settings from the environment, turning validation errors into a readable message."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"WME_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"invalid configuration: {problems}") from None
