# Two set-up commands: `make run` and `make test` (`make test-fast` for the inner loop); `make docs` builds the
# documentation site.
# Each creates .venv with Python 3.12 on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.12 >/dev/null 2>&1 && python3.12 -c 'import sys' >/dev/null 2>&1 && echo python3.12 || ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12 2>/dev/null | tail -n 1)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run check docs test test-fast lint typecheck architecture unit bench clean docs-assets page-assets image-base image-test ts-client ts-types

$(STAMP): pyproject.toml clients/python/pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.12 not found: install python3.12 or set PYTHON=/path/to/python3.12"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet -e './clients/python[shap,arrow]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/python scripts/entrypoint.py

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

architecture: $(STAMP)
	$(BIN)/lint-imports

# The static checks both test targets run first: lint, types, the import contracts.
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The documentation site (mkdocs.yml, docs/) into site/, offline (no CDN, no web fonts). --strict: a broken link
# or anchor, a page missing from the nav or a missing included file fails. Its hook writes docs/openapi.json
# from the app first (devtools/openapi_export.py), which the API reference page renders.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The whole suite: what CI runs (.ci/run) and what must pass before landing.
test: check docs ts-client
	$(BIN)/pytest $(PYTEST_ARGS)

# The inner loop: the same checks, the docs build and every test not marked slow (no supervisord, no long waits).
test-fast: check docs ts-client
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

# The TypeScript client (clients/typescript): its dependencies from the npm registry at the versions its
# package-lock.json pins (again only when the lock changes), then its build (tsc into dist/). Its Node tests run
# against a real stack inside pytest (tests/service/test_typescript_client.py). Needs Node >= 20.
TS_CLIENT := clients/typescript
TS_STAMP := $(TS_CLIENT)/node_modules/.installed
$(TS_STAMP): $(TS_CLIENT)/package-lock.json
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' || { echo "Node >= 20 is needed for clients/typescript (found $$(node --version))"; exit 1; }
	cd $(TS_CLIENT) && npm ci --ignore-scripts --no-audit --no-fund
	@touch $(TS_STAMP)

ts-client: $(TS_STAMP)
	cd $(TS_CLIENT) && npm run --silent build

# After an API change: regenerate the client's types (src/schema.ts) from this tree's OpenAPI document (the one
# /openapi.json serves, exported without a running service), then commit them; the drift test asks for this.
ts-types: $(STAMP) $(TS_STAMP)
	$(BIN)/python -m devtools.openapi_export $(TS_CLIENT)/openapi.json
	cd $(TS_CLIENT) && node scripts/generate.mjs openapi.json && rm openapi.json

# The image itself (docs/image.md), as root with a Docker engine; not part of `make test`. image-base builds the
# offline stand-in for python:3.12-slim (debootstrap bookworm + this machine's CPython 3.12; reused when
# present); image-test builds the Dockerfile (python:3.12-slim, or the stand-in where it cannot be pulled) and
# runs tests/image against real containers. .ci/run calls it before `make test`.
image-base:
	docker/standin-base.sh

image-test: $(STAMP)
	docker/image-test.sh

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# Swagger UI for GET /docs, from the npm registry at the version docs-ui/package-lock.json pins, copied into
# web/static/docs (committed: the service never loads anything from a CDN). Re-run after changing the pin.
DOCS_UI_FILES := swagger-ui-bundle.js swagger-ui.css LICENSE
docs-assets:
	cd docs-ui && npm ci --ignore-scripts --no-audit --no-fund
	mkdir -p web/static/docs
	cd docs-ui/node_modules/swagger-ui-dist && cp $(DOCS_UI_FILES) ../../../web/static/docs/

# The page at /: Vega, Vega-Lite and vega-embed (minified UMD builds) from the npm registry at the versions
# page-ui/package-lock.json pins, copied into web/static/page/vendor (committed, like docs-assets: no CDN).
page-assets:
	cd page-ui && npm ci --ignore-scripts --no-audit --no-fund
	mkdir -p web/static/page/vendor
	for pkg in vega vega-lite vega-embed; do \
	  sed '/^\/\/# sourceMappingURL=/d' page-ui/node_modules/$$pkg/build/$$pkg.min.js > web/static/page/vendor/$$pkg.min.js; \
	  cp page-ui/node_modules/$$pkg/LICENSE web/static/page/vendor/LICENSE-$$pkg; \
	done

clean:
	rm -rf $(VENV) data site docs/openapi.json $(TS_CLIENT)/node_modules $(TS_CLIENT)/dist .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
