# The two commands: `make demo` (the main job against a local sandbox) and `make test`.
# Both bootstrap .venv themselves from constraints/airflow-3.3.txt.
# `make compat AIRFLOW=3.0` (3.0 to 3.3) runs the compatibility suite in .venv-3.0, built from
# constraints/airflow-3.0.txt on that minor's Python (docs/supported-versions.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONSTRAINTS := constraints/airflow-3.3.txt
export AIRFLOW__CORE__LOAD_EXAMPLES := False

.PHONY: demo test test-clock check-engine e2e lint docs bench airflow-ui constraints compat compat-full compat-constraints wheel-check clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[dev,docs]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m dev.demo

airflow-ui: $(STAMP)
	$(BIN)/python -m dev.demo --ui

test: $(STAMP)
	$(BIN)/python -m pytest

# The date-sensitive tests with the process clock moved 550 days ahead, then 200 days back
# (libfaketime: `apt-get install faketime`): a test or a code path that reads the machine's date
# where it should read the suite's pinned "today" (tests/support.py) fails here, not on the day the
# calendar catches up with it. The monotonic clock stays real (asyncio and timeouts run on it);
# dev/monotonic_sleep.c, preloaded first, keeps Python's sleeps working on libfaketime 0.9.10.
FAKETIME_LIB ?= $(firstword $(wildcard /usr/lib/*/faketime/libfaketime.so.1 /usr/local/lib/faketime/libfaketime.so.1))
CLOCK_OFFSETS ?= +550d -200d
CLOCK_SHIM := $(VENV)/monotonic_sleep.so
# What reads a date, each by its smallest test file (two processes' start-up, ~30 s, is most of
# the time): the sandbox's "today" and its seeded week (calls, reports), the log windows the outreach
# policy reads on the wall clock (STOP replies, frequency caps), quiet hours, Retry-After dates.
CLOCK_TESTS := tests/unit/test_hook_retry.py tests/delivery/test_local_time.py tests/delivery/test_reads.py \
	tests/sandbox/test_calls.py tests/sandbox/test_server_process.py::test_today_fixes_the_week_the_seeded_logs_lead_up_to

# Reads no date; it catches a call in each 0.2 s stage by polling, which beside lint misses one.
CLOCK_UNTIMED := tests/sandbox/test_calls.py::test_call_moves_queued_ringing_in_progress_completed

$(CLOCK_SHIM): dev/monotonic_sleep.c
	cc -shared -fPIC -O2 -Wall -Wextra -Werror -o $@ $< -ldl

test-clock: $(STAMP) $(CLOCK_SHIM)
	@test -n "$(FAKETIME_LIB)" || { echo "test-clock: libfaketime not found (apt-get install faketime)"; exit 1; }
	@for offset in $(CLOCK_OFFSETS); do \
		real=$$(date +%s); \
		( export FAKETIME=$$offset FAKETIME_DONT_FAKE_MONOTONIC=1 LD_PRELOAD="$(abspath $(CLOCK_SHIM)) $(FAKETIME_LIB)"; \
		  $(BIN)/python -m dev.clock_check $$offset $$real && \
		  $(BIN)/python -m pytest -q -p no:cacheprovider $(CLOCK_TESTS) --deselect $(CLOCK_UNTIMED) ) || exit $$?; \
	done

# The send engine's state machine (tests/reliability/test_send_engine_model.py) searching new
# stories: `make test` replays a fixed budget of them, this draws ENGINE_EXAMPLES random ones.
ENGINE_EXAMPLES ?= 2000
check-engine: $(STAMP)
	VOTEL_ENGINE_SEARCH=random VOTEL_ENGINE_EXAMPLES=$(ENGINE_EXAMPLES) \
		$(BIN)/python -m pytest -p no:cacheprovider tests/reliability/test_send_engine_model.py

# The e2e tier (tests/e2e) gets a venv of its own: botocore, under the S3 provider and s3fs, caps
# python-dateutil below 3, so this one venv takes the 2.x Airflow's own constraints pin.
E2E_VENV ?= .venv-e2e
E2E_STAMP := $(E2E_VENV)/.installed
E2E_DATEUTIL := python-dateutil==2.9.0.post0

$(E2E_STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(E2E_VENV)
	$(E2E_VENV)/bin/python -m pip install --quiet --upgrade pip
	grep -v '^python-dateutil==' $(CONSTRAINTS) > $(E2E_VENV)/constraints.txt
	echo '$(E2E_DATEUTIL)' >> $(E2E_VENV)/constraints.txt
	$(E2E_VENV)/bin/python -m pip install --quiet -c $(E2E_VENV)/constraints.txt -e '.[test,e2e]'
	touch $(E2E_STAMP)

# An Airflow home of its own: CI runs this tier beside `make test`, whose home is .airflow-test.
e2e: $(E2E_STAMP)
	AIRFLOW_HOME=$(CURDIR)/.airflow-e2e $(E2E_VENV)/bin/python -m pytest -m e2e -s tests/e2e

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict votel_airflow dev

docs: $(STAMP)
	$(BIN)/mkdocs build --strict

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

constraints: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^airflow-provider-votel' > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)

# --- one Airflow minor at a time: its own venv, its own constraints, its own Python ---
AIRFLOW ?= 3.3
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $(HOME)/.pyenv)
# The Python each minor is proven on: the oldest with the oldest Airflow, the newest with the newest.
PYTHON_3.0 := 3.10
PYTHON_3.1 := 3.11
PYTHON_3.2 := 3.12
PYTHON_3.3 := 3.13
COMPAT_PYTHON ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/$(PYTHON_$(AIRFLOW)).*/bin/python) python$(PYTHON_$(AIRFLOW)))
COMPAT_VENV := .venv-$(AIRFLOW)
COMPAT_CONSTRAINTS := constraints/airflow-$(AIRFLOW).txt

$(COMPAT_VENV)/.installed: pyproject.toml $(COMPAT_CONSTRAINTS)
	$(COMPAT_PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(COMPAT_VENV)/bin/python -m pip install --quiet -c $(COMPAT_CONSTRAINTS) -e '.[test]'
	touch $@

# COMPAT_ARGS: extra pytest arguments after a `--`, e.g. COMPAT_ARGS="-- --ignore=tests/compat/x.py".
COMPAT_ARGS ?=
compat: $(COMPAT_VENV)/.installed
	$(COMPAT_VENV)/bin/python -m tests.compat.run --airflow $(AIRFLOW) $(COMPAT_ARGS)

# Also every operator and sensor test and the reliability scenarios: longer than CI can afford per minor.
compat-full: $(COMPAT_VENV)/.installed
	$(COMPAT_VENV)/bin/python -m tests.compat.run --airflow $(AIRFLOW) --full

# After changing a pin in $(COMPAT_VENV) by hand: write its set back (the comment lines are kept).
compat-constraints: $(COMPAT_VENV)/.installed
	{ grep '^#' $(COMPAT_CONSTRAINTS); $(COMPAT_VENV)/bin/python -m pip freeze --exclude-editable \
		| grep -v '^airflow-provider-votel'; } > $(COMPAT_CONSTRAINTS).new
	mv $(COMPAT_CONSTRAINTS).new $(COMPAT_CONSTRAINTS)

wheel-check: $(STAMP)
	$(BIN)/python -m tests.compat.wheel_check

clean:
	rm -rf $(VENV) $(E2E_VENV) .venv-3.* .airflow-test site dist
