# Everything a new machine needs comes from here: `make demo` and `make test` set up .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench lint screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/deploytui rehearse runbooks/login-gov-idp.toml --time-scale 60

test: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check deploytui tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy deploytui
	$(BIN)/deploytui check runbooks/*.toml runbooks/examples/*.toml

screenshots: $(STAMP)
	$(BIN)/python -m deploytui.tui.screenshots
	$(BIN)/python -m tests.export.golden screenshots   # screenshots/plan.png, record.png (needs pdftoppm)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
