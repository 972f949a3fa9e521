"""Resources shared by every stage, configured from wme's settings (environment variables).

Assets take their configuration from these resources only, so a run's settings show in the UI and tests
bind their own. No resource holds a secret: S3 credentials stay with boto3's own chain (environment,
profile or instance role, which an ``EnvVar`` could not express), and PostgreSQL's password is read by the
instance from ``WME_PG_PASSWORD`` (dagster.yaml's ``env:``), never by the code location.
"""

from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from wme_assets.settings import Settings, load_settings, mediawiki_endpoint, use_scratch_dir
from wme_assets.sources.dumps_client import DumpsClient
from wme_assets.storage import ObjectStore, open_object_store

# The settings that shape the definitions themselves (the project partitions, the step retry policy), read
# once when the code location loads: Dagster builds partitions and retry policies before any run exists, so
# they cannot come from a resource. This is the only module-level read of the settings under defs/.
SETTINGS_AT_LOAD = load_settings()


class ObjectStorageResource(dg.ConfigurableResource):
    """S3-compatible object storage. An empty ``endpoint_url`` means the embedded SeaweedFS.

    Credentials are not part of this config (they would show in the UI): boto3 reads them from
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile or an instance role.
    """

    endpoint_url: str | None = None
    bucket: str = "wme"
    prefix: str = ""
    region: str = "us-east-1"
    create_bucket: bool | None = None
    home: str = ".wme"
    embedded_port: int = 8333
    scratch_dir: str = ""  # every step's temporary files (WME_SCRATCH_DIR); empty = the process's default

    _store: ObjectStore | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: Settings) -> "ObjectStorageResource":
        return cls(
            endpoint_url=settings.s3_endpoint_url,
            bucket=settings.s3_bucket,
            prefix=settings.s3_prefix,
            region=settings.s3_region,
            create_bucket=settings.s3_create_bucket,
            home=str(settings.home_dir),
            embedded_port=settings.embedded_s3_port,
            scratch_dir=str(settings.scratch_path),
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if self.scratch_dir:
            use_scratch_dir(Path(self.scratch_dir))

    @property
    def store(self) -> ObjectStore:
        """The store, opened (endpoint reached, bucket checked) on first use: every asset asks for it first
        thing, inside its failure handling, so an unreachable endpoint is a step failure that is retried as
        transient. Opened in ``setup_for_execution`` it would be a resource failure, which no retry policy
        covers (each step process of the multiprocess executor sets its resources up anew)."""
        if self._store is None:
            self._store = open_object_store(
                Settings(
                    s3_endpoint_url=self.endpoint_url,
                    s3_bucket=self.bucket,
                    s3_prefix=self.prefix,
                    s3_region=self.region,
                    s3_create_bucket=self.create_bucket,
                    home=self.home,
                    embedded_s3_port=self.embedded_port,
                )
            )
        return self._store


class DumpsSourceResource(dg.ConfigurableResource):
    """The dumps site or mirror (``WME_DUMPS_URL``), laid out as ``{base}/{dbname}/{YYYYMMDD}/``."""

    base_url: str = "https://dumps.wikimedia.org"
    retries: int = 4
    backoff: float = 1.0

    def client(self) -> DumpsClient:
        return DumpsClient(self.base_url, retries=self.retries, backoff=self.backoff)


_DEFAULTS = Settings.model_fields


class StageSettingsResource(dg.ConfigurableResource):
    """The settings the stages read during a run (worker processes, snapshot sizes, MediaWiki endpoints, ...).

    Defaults are wme's own; bound from the environment once, in :func:`resources`.
    """

    parse_workers: int | None = _DEFAULTS["parse_workers"].default
    mediawiki_endpoints: str = _DEFAULTS["mediawiki_endpoints"].default
    snapshot_member_bytes: int = _DEFAULTS["snapshot_member_bytes"].default
    snapshot_validate_every: int = _DEFAULTS["snapshot_validate_every"].default
    snapshot_retention: int = _DEFAULTS["snapshot_retention"].default
    batch_retention_days: int = _DEFAULTS["batch_retention_days"].default
    step_bytes: int = _DEFAULTS["step_bytes"].default

    @classmethod
    def from_settings(cls, settings: Settings) -> "StageSettingsResource":
        return cls(**{name: getattr(settings, name) for name in cls.model_fields})

    def mediawiki_endpoint(self, project: str) -> str | None:
        """The project's MediaWiki for Parsoid HTML, or None (see ``WME_MEDIAWIKI_ENDPOINTS``)."""
        return mediawiki_endpoint(self.mediawiki_endpoints, project)


class PublishingResource(dg.ConfigurableResource):
    """Where the publishing stage publishes: the dumps-site target and the Hugging Face dataset repository.

    ``hf_token`` is given as ``dg.EnvVar("HF_TOKEN")`` (see :meth:`from_settings`): the UI shows the
    variable's name, never the token, and the run resolves it. Unset means the dry run in object storage.
    """

    dumps_site_target: str = "dumps-site"
    hf_repo: str | None = None
    hf_token: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "PublishingResource":
        return cls(
            dumps_site_target=settings.dumps_site_target,
            hf_repo=settings.hf_repo,
            # An unset EnvVar fails the run, so only a token that is there is referred to.
            hf_token=dg.EnvVar("HF_TOKEN") if settings.hf_token is not None else None,
        )


class RunHealthResource(dg.ConfigurableResource):
    """How the dead-run sensor judges runs whose worker it cannot look up (``WME_RUN_STALE_AFTER``)."""

    stale_after_seconds: int = _DEFAULTS["run_stale_after"].default


@dg.definitions
def resources() -> dg.Definitions:
    # Read when the definitions load (each `defs()`), so a run and the UI see the current environment.
    settings = load_settings()
    return dg.Definitions(
        resources={
            "object_storage": ObjectStorageResource.from_settings(settings),
            "settings": StageSettingsResource.from_settings(settings),
            "dumps": DumpsSourceResource(
                base_url=settings.dumps_url, retries=settings.http_retries, backoff=settings.http_backoff
            ),
            "publishing": PublishingResource.from_settings(settings),
            "run_health": RunHealthResource(stale_after_seconds=settings.run_stale_after),
        }
    )
