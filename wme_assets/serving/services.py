"""What every request of the API reaches: settings, accounts, token issuer, rate limits, quotas, snapshots,
catalogue, the On-demand title indexes, the article-change feed.

Built once per application (:func:`wme_assets.serving.app.create_app`) and kept on ``app.state``; route
functions get it through :func:`services`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from wme_assets.realtime.feed_read import FeedReader
from wme_assets.serving.accounts import AccountStore
from wme_assets.serving.catalogue import CatalogSource
from wme_assets.serving.ondemand_index import OnDemandIndex
from wme_assets.serving.published import SnapshotReader
from wme_assets.serving.quotas import Quotas
from wme_assets.serving.ratelimit import SlidingWindow
from wme_assets.serving.tokens import TokenIssuer
from wme_assets.settings import Settings

LOGIN_WINDOW = 300.0  # seconds over which WME_API_LOGIN_ATTEMPTS counts
REQUEST_WINDOW = 60.0  # seconds over which WME_API_RATE_LIMIT counts


@dataclass
class Services:
    settings: Settings
    accounts: AccountStore
    issuer: TokenIssuer
    snapshots: SnapshotReader
    catalog: CatalogSource
    ondemand: OnDemandIndex
    login_limit: SlidingWindow
    request_limit: SlidingWindow
    quotas: Quotas
    feed: FeedReader  # the realtime stream's reader of the article-change feed


async def services(request: Request) -> Services:
    # async: nothing to wait for, so FastAPI calls it in the event loop rather than through its thread pool.
    return request.app.state.services
