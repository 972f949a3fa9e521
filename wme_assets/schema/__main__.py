"""``python -m wme_assets.schema --write|--check``: the committed JSON Schema files (see :mod:`.json_schema`)."""

from .json_schema import main

raise SystemExit(main())
