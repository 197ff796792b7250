"""How many web workers gunicorn starts: read by gunicorn.conf.py and by the system check
that warns when those workers would each keep a cache of their own."""

import os

DEFAULT_WEB_WORKERS = 2


def web_workers() -> int:
    """gunicorn's uvicorn workers: WEB_CONCURRENCY, else DEFAULT_WEB_WORKERS."""
    return int(os.environ.get("WEB_CONCURRENCY") or DEFAULT_WEB_WORKERS)
