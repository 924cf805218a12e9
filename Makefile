# Two commands matter (see README, Quickstart):
#   make run    set everything up, start the proxy on the embedded NHN Cloud emulator
#   make test   set everything up, run the whole test suite
#   make bench  side-by-side benchmark (benchmarks/README.md); BENCH_ARGS="--duration 5" etc.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup lint lint-imports format openapi clean bench bench-tools

run: $(STAMP)
	$(BIN)/nhn-proxy serve --emulator

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(lint_imports)
	$(BIN)/pytest -q $(PYTEST_ARGS)

setup: $(STAMP)

bench: $(STAMP) bench-tools
	$(BIN)/python -m benchmarks.bench $(BENCH_ARGS)

# wrk and nginx from Debian's packages when missing and root; otherwise the benchmark falls
# back to its aiohttp load generator and upstream (and skips the nginx pass-through)
bench-tools:
	@missing=""; \
	command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	{ command -v nginx || test -x /usr/sbin/nginx; } >/dev/null 2>&1 || missing="$$missing nginx"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "bench: installing$$missing from Debian's packages"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq $$missing >/dev/null 2>&1 \
		|| { apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; } \
		|| echo "bench: could not install$$missing; using the fallbacks"; \
	else \
		echo "bench:$$missing missing (not root or no apt-get); using the fallbacks"; \
	fi

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,fast]"
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(lint_imports)

# The architecture guard: import-linter's contracts ([tool.importlinter] in pyproject.toml).
# It finds nhn_proxy's sub-packages through the links proxy/plugins, proxy/emulator and
# proxy/config, laid out as the wheel installs them (README, Packaging).
define lint_imports
$(BIN)/lint-imports --no-logo --no-cache
endef

lint-imports: $(STAMP)
	$(lint_imports)

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

openapi: $(STAMP)
	$(BIN)/nhn-proxy openapi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
