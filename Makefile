# The two commands: `make demo` (the main job against a local sandbox) and `make test`.
# Both bootstrap .venv themselves from constraints.txt.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export AIRFLOW__CORE__LOAD_EXAMPLES := False

.PHONY: demo test lint docs bench airflow-ui constraints clean

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
	rm -rf $(VENV) .airflow-test site
