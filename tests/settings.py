"""The project's settings for the test run: the same, plus a key (DEBUG is off in tests), and
databases of the tests' own, whichever test runs first or alone."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-not-secret")
# Never the checkout's .env (`make run` writes one with DEBUG=1), here or in the apps the
# tests start.
os.environ.setdefault("HELPDESK_ENV_FILE", "")

from helpdesk.settings import *  # noqa: E402, F403
from helpdesk.settings import BASE_DIR, DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Never the developer's db.sqlite3, even for code that skips pytest-django's test
    # database; a file, not memory, so a live gunicorn started by the tests sees the data.
    _TESTS_DB = str(BASE_DIR / ".pytest-db.sqlite3")
    DATABASES["default"] = {**DATABASES["default"], "NAME": _TESTS_DB, "TEST": {"NAME": _TESTS_DB}}
# On PostgreSQL pytest-django creates and drops test_<name>: the named database is not used.

# Celery tasks (the sections' embeddings after a doc is saved) run where they are asked for:
# no worker runs beside the suite. The test of a real worker sets its own configuration.
CELERY_TASK_ALWAYS_EAGER = True
HELP_EMBED_IN_THREAD = False
