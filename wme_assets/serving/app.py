"""The API application: Enterprise's auth, snapshot, batch, metadata, On-demand and realtime stream endpoints over
what the pipeline published.

:func:`create_app` builds it from the settings (and an object store, which the caller opens: ``wme serve``
starts the embedded S3 server first when none is configured); :func:`serve` runs it under uvicorn. Public
without a token: ``/v1/login``, ``/v1/token-refresh``, ``/v1/token-revoke``, ``/health`` and
``/openapi.json``; every other route requires a bearer access token (a test walks the routes to keep it so).
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from wme_assets.realtime.feed_read import FeedReader
from wme_assets.serving import auth, batches, metadata, ondemand, snapshots, stream
from wme_assets.serving.accounts import AccountStore
from wme_assets.serving.catalogue import CatalogSource
from wme_assets.serving.errors import documented, install_error_handlers
from wme_assets.serving.ondemand_index import OnDemandIndex
from wme_assets.serving.published import SnapshotReader
from wme_assets.serving.query import known_parameters_only
from wme_assets.serving.quotas import Quotas
from wme_assets.serving.ratelimit import SlidingWindow
from wme_assets.serving.services import LOGIN_WINDOW, REQUEST_WINDOW, Services
from wme_assets.serving.tokens import TokenIssuer, signing_secret
from wme_assets.settings import Settings
from wme_assets.storage.object_store import ObjectStore
from wme_assets.util.version import package_version

PUBLIC_PATHS = frozenset({"/v1/login", "/v1/token-refresh", "/v1/token-revoke", "/health", "/openapi.json"})


@asynccontextmanager
async def _lifespan(app: FastAPI):
    """The On-demand indexes start building with the server (in the background) and stop with it."""
    index: OnDemandIndex = app.state.services.ondemand
    index.start()
    try:
        yield
    finally:
        index.stop()


def create_app(settings: Settings, store: ObjectStore, *, accounts: AccountStore | None = None) -> FastAPI:
    catalog = CatalogSource(settings)
    app = FastAPI(
        lifespan=_lifespan,
        title="wme",
        summary="Wikimedia Enterprise-compatible API over the snapshots wme publishes",
        version=package_version(),
        docs_url=None,  # no HTML pages: the API is JSON and archives; /openapi.json describes it
        redoc_url=None,
        dependencies=[Depends(known_parameters_only)],
    )
    accounts = accounts or AccountStore.open(settings)
    app.state.services = Services(
        settings=settings,
        accounts=accounts,
        issuer=TokenIssuer(
            signing_secret(settings),
            access_ttl=settings.api_access_token_ttl,
            refresh_ttl=settings.api_refresh_token_ttl,
        ),
        snapshots=SnapshotReader(
            store, redirect_downloads=settings.api_download_redirect, download_s3_url=settings.api_download_s3_url
        ),
        catalog=catalog,
        ondemand=OnDemandIndex(settings, store, catalog),
        login_limit=SlidingWindow(settings.api_login_attempts, LOGIN_WINDOW),
        request_limit=SlidingWindow(settings.api_rate_limit, REQUEST_WINDOW),
        quotas=Quotas.for_settings(accounts, settings),
        feed=FeedReader(store),
    )
    install_error_handlers(app)
    app.include_router(auth.router)
    app.include_router(snapshots.router)
    app.include_router(batches.router)
    app.include_router(metadata.router)
    app.include_router(ondemand.router)
    app.include_router(stream.router)

    @app.get("/health", tags=["health"], responses=documented(422))
    def health() -> dict[str, str]:
        """Liveness, without a token: the process answers."""
        return {"status": "ok"}

    return app


def app_from_environment() -> FastAPI:
    """The application of one worker process of ``wme serve --workers N`` (uvicorn's factory): the settings
    and the object store from the environment the parent prepared (its S3 endpoint included)."""
    from wme_assets.settings import load_settings
    from wme_assets.storage import open_object_store

    settings = load_settings()
    return create_app(settings, open_object_store(settings, check=False))


def serve(settings: Settings, store: ObjectStore, *, host: str, port: int, workers: int = 1) -> None:
    """Run the API under uvicorn until interrupted. Its access log names method, path and status only (tokens
    travel in headers and passwords in bodies, neither of which is logged).

    With ``workers`` > 1, uvicorn runs that many processes on the port, each its own application: they share
    the accounts database, the signing secret (made here first) and the On-demand indexes (one builder and
    writer per project at a time, by file locks); the rate limits are counted per process."""
    import uvicorn

    options = {"host": host, "port": port, "server_header": False, "log_level": "info"}
    if workers <= 1:
        uvicorn.run(create_app(settings, store), **options)
        return
    signing_secret(settings)  # created once, before the workers race to create it
    AccountStore.open(settings).close()  # its tables too
    uvicorn.run("wme_assets.serving.app:app_from_environment", factory=True, workers=workers, **options)
