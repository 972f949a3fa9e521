# Two commands on a fresh machine (Python >= 3.11 with venv is all it needs):
#   make demo   set everything up and run the main job on embedded defaults
#   make test   run the test suite (it starts its own SeaweedFS and PostgreSQL)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo demo-offline ui test lint lock clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,embedded]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/wme demo

# The demo on a local mirror built from the real-data fixtures (machines without internet).
FIXTURES ?= ../shared/fixtures
demo-offline: setup
	$(BIN)/wme mirror fixtures .wme/mirror --fixtures $(FIXTURES)
	WME_DUMPS_URL=file://$(CURDIR)/.wme/mirror $(BIN)/wme demo

ui: setup
	$(BIN)/wme ui

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check wme_assets wme_assets_tests benchmarks

# Refresh the pinned versions after changing dependencies in pyproject.toml: constraints.txt (make setup, CI)
# and, from the same versions, the image's lock with hashes (infra/requirements.lock).
lock:
	$(BIN)/python -m pip freeze --exclude-editable --disable-pip-version-check > constraints.txt
	$(BIN)/uv pip compile pyproject.toml infra/image-requirements.in -c constraints.txt --generate-hashes \
	  --python-version 3.11 --no-header --quiet -o infra/requirements.lock

clean:
	rm -rf $(VENV) .wme
