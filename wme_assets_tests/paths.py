"""Where the tests find their data, spelled once: the repository and the shared, read-only fixtures.

Tests take the ``fixtures_dir`` fixture; these constants are for what must be known at import time
(parametrize lists, skip conditions).
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"
SITEMATRIX_FIXTURE = FIXTURES / "wme-catalog" / "sitematrix.json"  # a real action=sitematrix response
DUMP_DATE = "20230501"  # the date of the dump fixtures (see xztextfilter-truncated-dumps/SOURCE.md)
# Enterprise's official Python SDK, kept unchanged beside the fixtures (its SOURCE.md says how it is used).
SDK_DIR = REPO_ROOT.parent / "shared" / "clients" / "wme-sdk-python"
