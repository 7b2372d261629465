# FaceMood: `make demo` runs the main job, `make test` runs every test.
# Each target creates the virtual environment (.venv) and installs only the extras it runs:
#   demo: app + local (+ train when DATA is given, sign-in when SIGN_IN is); test, lint, bench, model: dev
#   (everything).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?=
comma := ,

.PHONY: demo test test-fast lint bench model model-photos images messages screenshots clean help

help:
	@echo "make demo         - run FaceMood locally end to end (DATA=path/to/fer2013.csv to run the pipeline on it; SIGN_IN=1 for campus sign-in and the journal)"
	@echo "make test         - run every test (FACEMOOD_FER2013=path/to/fer2013.csv when ../shared is absent)"
	@echo "make test-fast    - the edit-test loop: the unit layer, in about 2 minutes (no lint; make test runs everything)"
	@echo "make lint         - pylint, ruff and checkov (the AWS template)"
	@echo "make bench        - print the benchmarks' figures"
	@echo "make model        - retrain the shipped model's FER2013 networks on ../shared/data/fer2013.npz (4 networks: about 1 h each with native bfloat16, 3.6 h in float32 on AVX2; rerun resumes; STAGE_MINUTES=70 stops each run after 70 min)"
	@echo "make model-photos - then its real-photo stage (../shared/data/wild; about 20 min per network) and publish it beside the served one (FROM=models/<run>/model.onnx: start from a FER2013 bundle instead)"
	@echo "make images       - build the three container images with podman and print their sizes (docs/deploy.md)"
	@echo "make messages     - extract the page's messages into facemood/locales, merge them into each catalogue and compile each one"
	@echo "make screenshots  - refresh the screenshots under images/ from the browser test"

# --no-compile: pip would byte-compile every module it installs (about 140 MB for the demo's extras);
# Python compiles those a command imports, on first use, instead. Nor is pip's own byte-code kept
# (7 MB): pip runs only here. Python 3.11 seeds a venv with setuptools 65, which nothing here runs
# (pip builds this package in an isolated environment).
PIP = PYTHONDONTWRITEBYTECODE=1 $(BIN)/python -m pip
PIP_INSTALL = $(PIP) install --quiet --no-compile
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip
	$(PIP) uninstall --quiet --yes setuptools

# One stamp per set of extras, e.g. .venv/.extras-app+local installs '.[app,local]'.
$(VENV)/.extras-%: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e '.[$(subst +,$(comma),$*)]'
	touch $@

demo: $(VENV)/.extras-app+local $(if $(DATA),$(VENV)/.extras-train) $(if $(SIGN_IN),$(VENV)/.extras-sign-in)
	$(BIN)/facemood demo $(if $(DATA),--data $(DATA)) $(if $(SIGN_IN),--sign-in)

# The tests run on both cores (pytest-xdist) with lint beside them at a lower priority; the tests'
# output comes last, and the target fails when either fails. docs/testing.md: the layers.
# axe-core, from the npm registry, for the browser tests' accessibility check.
AXE := .node/node_modules/axe-core/axe.min.js
$(AXE):
	-npm install --prefix .node --no-save --silent --no-audit --no-fund axe-core@4.14.1

TEST_WORKERS ?= 2
# make runs a recipe line that names $(MAKE) even under -n; named through this, `make -n test` prints
# the recipe and runs nothing
LINT_BESIDE = $(MAKE) --no-print-directory lint
test: $(VENV)/.extras-dev $(AXE)
	@log=$$(mktemp); $(BIN)/python -m pytest -n $(TEST_WORKERS) > $$log 2>&1 & tests=$$!; \
	nice -n 10 $(LINT_BESIDE); linted=$$?; \
	wait $$tests; tested=$$?; cat $$log; rm -f $$log; \
	[ $$linted -eq 0 ] && [ $$tested -eq 0 ]

# The edit-test loop: the unit layer, without the tests marked `integration` (tiny training runs, the
# page through the sign-in provider, the template) or `slow` (the demo, the local stack, the browser,
# the images, training to the end); `make test` and CI run every test.
test-fast: $(VENV)/.extras-dev
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) -m "not slow and not integration"

# checkov (the template's security checks) lives in its own environment: its pins would downgrade
# boto3 in .venv. --skip-download: no call home for guideline links (none are reachable here).
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==3.3.0
	touch $@

lint: $(VENV)/.extras-dev $(CHECKOV_VENV)/.installed
	$(BIN)/pylint facemood cli local_stack pipeline lambdas app/app.py app/journal_ui.py app/page_language.py app/shared_resources.py
	$(BIN)/pylint --max-locals=50 --max-statements=100 tests bench scripts  # room for a scenario read top to bottom
	$(BIN)/ruff check .
	$(CHECKOV_VENV)/bin/checkov --file infra/template.yaml --framework cloudformation --compact --quiet --skip-download

bench: $(VENV)/.extras-dev
	$(BIN)/python -m bench.augment_bench
	$(BIN)/python -m bench.hostile_files_bench --max-seconds 30
	$(BIN)/python -m bench.real_photos_bench --part all
	$(BIN)/python -m bench.train_bench
	$(BIN)/python -m bench.inference_bench
	$(BIN)/python -m bench.face_bench
	$(BIN)/python -m bench.predict_vs_haar_bench
	$(BIN)/python -m bench.face_lambda_bench
	$(BIN)/python -m bench.model_bench
	$(BIN)/python -m bench.concurrency_bench
	$(BIN)/python -m bench.upload_memory_bench
	$(BIN)/python -m bench.load_bench --sessions 1 10
	$(BIN)/python -m bench.image_bench
	$(BIN)/python -m bench.demo_bench

# The shipped model in two steps. `make model` trains the FER2013 networks into .model-work and
# publishes that stage to a store of its own (a FER2013-only model is never compared with the
# served one on PublicTest alone); `make model-photos` adds the real-photo stage to the same
# networks and publishes to ./models, where the champion rule weighs FER2013 and real photos.
# STAGE_MINUTES=70: stop at the first checkpointed epoch after 70 minutes (exit 75); the same
# command continues. Unset: run to the end.
STAGE := $(if $(STAGE_MINUTES),--stop-after $(STAGE_MINUTES))
model: $(VENV)/.extras-dev
	$(BIN)/facemood train --config config/model-fer2013.yaml --workdir .model-work --output .model-work/fer2013-store $(STAGE)

# FROM=models/<run>/model.onnx: start from a FER2013 bundle's int8 graph (its networks recovered by
# pipeline/int8_import.py) instead of the networks `make model` left in .model-work; the served
# bundle started from models/20261128-133440-4b9694/model.onnx.
model-photos: $(VENV)/.extras-dev
	$(BIN)/facemood train --config config/model-photos.yaml --workdir .model-work --output . $(STAGE) \
		$(if $(FROM),--from-checkpoint $(FROM))

# The page's messages (docs/languages.md): extracted from the code into the template, merged into each
# catalogue (new ones come in untranslated, changed ones fuzzy: tests/test_i18n.py fails until translated),
# then each catalogue compiled to the .mo the page reads (fuzzy entries left out). Run it again after
# translating: the page needs no Babel, so it reads only what was compiled.
messages: $(VENV)/.extras-dev
	$(BIN)/pybabel extract -F babel.cfg -o facemood/locales/facemood.pot --no-location --sort-output \
		-c TRANSLATORS: --project FaceMood --copyright-holder FaceMood .
	$(BIN)/pybabel update -i facemood/locales/facemood.pot -d facemood/locales -D facemood \
		--ignore-obsolete --width 120
	$(BIN)/python -m scripts.compile_catalogues

# The Lambda, app and training images, from the Dockerfiles deploy.sh pushes, on Debian stand-ins
# for the official bases; podman's layer cache and the base images are kept between runs.
images:
	scripts/images.sh

screenshots: $(VENV)/.extras-dev
	$(BIN)/python -m pytest tests/test_browser.py tests/test_browser_journal.py --update-screenshots

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache *.egg-info
