"""Per-visitor rate limits counted in the cache (fixed window, so memory is bounded by the
number of active visitors and expires with the window): HELP_RATE_LIMIT for model calls,
HELP_HITS_RATE_LIMIT for the widget's hit reports."""

import time

from django.core.cache import cache
from django.utils.translation import gettext

from assistant import conf
from assistant.errors import ApiError


class RateLimited(ApiError):
    def __init__(self, retry_after: int, what: str = "questions"):
        message = (
            gettext("Too many questions; try again in {seconds} s.")
            if what == "questions"
            else gettext("Too many reports; try again in {seconds} s.")
        )
        super().__init__(
            429,
            "rate_limited",
            message.format(seconds=retry_after),
            {"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


def check(visitor: str, setting: str = "HELP_RATE_LIMIT", what: str = "questions") -> None:
    """Count one call for `visitor` against the "calls/seconds" `setting`; raise RateLimited
    past the limit."""
    calls, seconds = conf.rate_limit(setting)
    if calls <= 0:
        return
    now = time.time()
    window = int(now // seconds)
    scope = "" if setting == "HELP_RATE_LIMIT" else f"{setting}:"
    key = f"assistant:rl:{scope}{visitor}:{window}"
    try:
        count = 1 if cache.add(key, 1, seconds + 1) else cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, seconds + 1)
        count = 1
    if count is not None and count > calls:
        raise RateLimited(max(1, int((window + 1) * seconds - now + 0.999)), what)
