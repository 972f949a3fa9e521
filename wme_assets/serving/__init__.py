"""The serving API: what the pipeline publishes, behind Wikimedia Enterprise's own HTTP interface.

A FastAPI application (``app.py``) run by uvicorn (``wme serve``), so that Enterprise's clients — its official
SDKs first — work against wme by changing their base URLs only. One module per concern: accounts and their
storage (``accounts.py``), signed tokens (``tokens.py``), the auth endpoints and the bearer check
(``auth.py``), rate limits (``ratelimit.py``), Enterprise's ``fields``/``filters``/``limit`` model
(``query.py``), the snapshot endpoints (``snapshots.py``) and the hourly batch endpoints (``batches.py``)
over what is published (``published.py``) with ranged downloads (``downloads.py``), the metadata endpoints
(``metadata.py``) over the catalogue of projects (``catalogue.py``), Enterprise's error body (``errors.py``),
JSON and NDJSON bodies and the routes of lists, entities and downloads (``responses.py``), and what every
request reaches (``services.py``).
"""
