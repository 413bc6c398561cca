# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SHARED_DATA := ../shared/data
# the recommended model learns from every shared source: one signer's Kaggle frames and the
# photos of 37 other people and more (phone_cortic names none), cameras and rooms (docs/results/generalisation.md)
DATA   ?= $(SHARED_DATA)/asl_alphabet/train $(SHARED_DATA)/multi_signer $(SHARED_DATA)/mon95 \
          $(SHARED_DATA)/surrey_user_a $(SHARED_DATA)/webcam_mit $(SHARED_DATA)/asl_hg \
          $(SHARED_DATA)/phone_cortic
TEST_DATA ?= ../shared/data/asl_alphabet/test
RUN    ?= runs/demo
# offline machines: MediaPipe's hand model from ../shared (online ones download it once)
HAND_MODEL ?= ../shared/models/hand_landmarker.task
HAND_OPT := $(if $(wildcard $(HAND_MODEL)),--hand-model $(HAND_MODEL),)
# the built-in model finds its hand model here in a source checkout (a wheel ships it)
ifneq ($(wildcard $(HAND_MODEL)),)
export FINGERSPELL_HAND_MODEL ?= $(abspath $(HAND_MODEL))
endif

VIDEOS ?= ../shared/data/videos/letters
# make model: the built-in asl-alphabet (licensed sources); SOURCES=all: the bigger model in runs/
SOURCES ?= licensed

.PHONY: setup browser demo test lint docs bench clean model wheel wheel-check

setup: $(VENV)/.installed $(VENV)/.web-runtime

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,onnx,tune,docs]'
	touch $@

# the on-device page's browser libraries (npm, pinned by src/fingerspell/web/package-lock.json)
# into the cache, where `fingerspell export --format web` finds them; without npm the page's
# tests skip
$(VENV)/.web-runtime: $(VENV)/.installed src/fingerspell/web/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  $(BIN)/python -c "from fingerspell.infer.web_runtime import web_runtime; print('browser libraries:', web_runtime())" && touch $@; \
	else echo "npm not found: the on-device page cannot be exported (its tests will be skipped)"; fi

demo: setup
	@echo "== the built-in model, before any training"
	@if [ -d "$(TEST_DATA)" ]; then $(BIN)/fingerspell predict asl-alphabet "$(TEST_DATA)" --top-k 3; fi
	@for clip in $(VIDEOS)/A.mp4 $(VIDEOS)/B.mp4 $(VIDEOS)/L.mp4; do \
	  if [ -f "$$clip" ]; then echo "-- live on $$clip"; \
	    $(BIN)/fingerspell live asl-alphabet --video "$$clip" 2>/dev/null | tail -1; fi; done
	@echo "== training your own model on $(DATA)"
	@for folder in $(DATA); do if [ ! -d "$$folder" ]; then \
	  echo "No data at $$folder. Point DATA= at folders of <CLASS>/<image> photos, or"; \
	  $(BIN)/python -c "from fingerspell.data.download import HOW_TO_GET; print(HOW_TO_GET)"; \
	  exit 1; fi; done
	@if [ -f "$(RUN)/model/config.json" ]; then \
	  echo "== $(RUN) has a model: reusing it (rm -r $(RUN) to train again)"; \
	elif [ -f "$(RUN)/config.json" ]; then \
	  $(BIN)/fingerspell train $(DATA) --out "$(RUN)" --resume $(HAND_OPT); \
	else \
	  $(BIN)/fingerspell train $(DATA) --out "$(RUN)" $(HAND_OPT); fi
	@if [ -d "$(TEST_DATA)" ]; then \
	  $(BIN)/fingerspell evaluate "$(RUN)/model" "$(TEST_DATA)" --json "$(RUN)/test_eval/metrics.json" && \
	  $(BIN)/fingerspell predict "$(RUN)/model" "$(TEST_DATA)" --top-k 3; fi

# Debian's Chromium for the web page's browser test (apt needs root; without it the test skips)
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	    elif command -v sudo >/dev/null 2>&1; then sudo -n apt-get update -qq && \
	      sudo -n apt-get install -y -qq chromium >/dev/null; fi; } || \
	  echo "chromium could not be installed: the browser test will be skipped"

test: setup browser
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests benchmarks tools docs/hooks

# the documentation site from docs/ into build/site (open build/site/index.html)
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# the built-in model, reproducibly (pinned seed); see tools/build_model.py
model: setup
	$(BIN)/python tools/build_model.py --sources $(SOURCES)

# wheel + sdist with the built-in model complete (hand model from HAND_MODEL), twine-checked
wheel: setup
	$(BIN)/python tools/wheel.py build --hand-model $(HAND_MODEL)

# the wheel in a new environment, from an empty folder, offline: version, models, a prediction
wheel-check: wheel
	$(BIN)/python tools/wheel.py check

bench: setup
	$(BIN)/python benchmarks/train_speed.py --images 870

clean:
	rm -rf $(VENV) reports build dist  # never runs/: it holds the trained models
