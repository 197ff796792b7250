"""The project's settings for the test run: the same, plus a key (DEBUG is off in tests)."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-not-secret")

from helpdesk.settings import *  # noqa: E402, F403
