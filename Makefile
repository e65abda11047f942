# The two commands: `make demo` (the main job against a local sandbox) and `make test`.
# Both bootstrap .venv themselves from constraints.txt.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export AIRFLOW__CORE__LOAD_EXAMPLES := False

.PHONY: demo test e2e lint docs bench airflow-ui constraints clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,docs]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m votel_airflow.demo

airflow-ui: $(STAMP)
	$(BIN)/python -m votel_airflow.demo --ui

test: $(STAMP)
	$(BIN)/python -m pytest

# The e2e tier (tests/e2e) gets a venv of its own: botocore, under the S3 provider and s3fs, caps
# python-dateutil below 3, so this one venv takes the 2.x Airflow's own constraints pin.
E2E_VENV ?= .venv-e2e
E2E_STAMP := $(E2E_VENV)/.installed
E2E_DATEUTIL := python-dateutil==2.9.0.post0

$(E2E_STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(E2E_VENV)
	$(E2E_VENV)/bin/python -m pip install --quiet --upgrade pip
	grep -v '^python-dateutil==' constraints.txt > $(E2E_VENV)/constraints.txt
	echo '$(E2E_DATEUTIL)' >> $(E2E_VENV)/constraints.txt
	$(E2E_VENV)/bin/python -m pip install --quiet -c $(E2E_VENV)/constraints.txt -e '.[test,e2e]'
	touch $(E2E_STAMP)

e2e: $(E2E_STAMP)
	$(E2E_VENV)/bin/python -m pytest -m e2e -s tests/e2e

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict votel_airflow

docs: $(STAMP)
	$(BIN)/mkdocs build --strict

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

constraints: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^airflow-provider-votel' > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) $(E2E_VENV) .airflow-test site
