"""Dagster definitions, one folder per stage; every module here is loaded by ``wme_assets.definitions``.

They stay thin: each asset calls plain functions from the stage modules (``wme_assets.sources``,
``wme_assets.ingestion``, ...) and reports metadata and checks.
"""
