# Two commands for a fresh machine:
#   make run    install, then start the whole stack on the embedded SQLite default
#   make test   install (including system packages the tests drive), then run the tests
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTHON ?= python3
SYSTEM_PACKAGES := prometheus-alertmanager chromium chromium-driver
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: run test install install-test system-deps test-sqlite test-postgresql bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/problemflow up

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

test: install system-deps
	$(MAKE) test-sqlite
	$(MAKE) test-postgresql

test-sqlite:
	PROBLEMFLOW_TEST_DB=sqlite PROBLEMFLOW_SCREENSHOTS=$(CURDIR)/tests/output/screens $(VENV)/bin/pytest -q --durations=15

# the same tests on PostgreSQL, but for those that start whole external stacks once
test-postgresql:
	PROBLEMFLOW_TEST_DB=postgresql $(VENV)/bin/pytest -q --durations=15 -m "not sqlite_only"

clean:
	rm -rf $(VENV) .problemflow
