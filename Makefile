# The project's own commands. `make test` is what CI runs.
UV ?= $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: install run test bench schema release-schema lint

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv
	$(UV) sync --frozen --extra otel

run: install
	$(UV) run salesflow-graphql serve

test: install
	bash scripts/ensure-redis.sh
	bash scripts/ensure-chromium.sh || echo "chromium: could not be installed; the browser tests will be skipped"
	bash scripts/ensure-haproxy.sh || echo "haproxy: could not be installed; the load-balancer tests will be skipped"
	$(UV) run ruff check salesflow_graphql tests bench
	$(UV) run lint-imports
	$(UV) run pytest

bench: install
	$(UV) run python bench/analytics.py

schema: install
	$(UV) run salesflow-graphql export-schema --out schema.graphql

# A release: schema.graphql becomes the schema clients build against (refused if it breaks them).
release-schema: schema
	$(UV) run salesflow-graphql check-schema --release

lint: install
	$(UV) run ruff check salesflow_graphql tests bench
