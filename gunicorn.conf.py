"""gunicorn for production and the live tests: `gunicorn -c gunicorn.conf.py`.

ASGI: each worker is uvicorn running one event loop, on which an open answer stream is a
suspended coroutine, not a thread; plain pages go to Django's sync views through a thread
each. So a thousand slow answers leave the pages served. Size `workers` by cores (one loop
each); HELP_MAX_STREAMS caps the streams one worker keeps open.
"""

import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpdesk.asgi_worker import reuse_port as per_worker_sockets  # noqa: E402  (the root, on the path)
from helpdesk.serving import web_workers  # noqa: E402

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
wsgi_app = "helpdesk.asgi:application"
workers = web_workers()
worker_class = "helpdesk.asgi_worker.Worker"
# The worker's heartbeat (the event loop must answer it), not a per-request limit.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 20
keepalive = 5
# GUNICORN_REUSE_PORT=1: a listening socket per worker, the kernel spreading connections
# (helpdesk/asgi_worker.py). gunicorn's own socket needs the option too, or theirs can't bind.
reuse_port = per_worker_sockets()
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
# gunicorn ≥ 24 opens a control socket in $HOME by default; several servers would share it.
control_socket_disable = True

# prometheus-client multiprocess mode: one directory of value files shared by the workers.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="helpdesk-prom-")


def on_starting(server) -> None:
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)


def post_fork(server, worker) -> None:
    # Each request's sync work gets a short-lived thread under ASGI; glibc would give threads
    # arenas of their own and keep them: two arenas keep a worker's memory flat.
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
