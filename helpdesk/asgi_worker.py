"""gunicorn's worker class for production and the live tests: uvicorn (uvloop, httptools)
through the maintained uvicorn-worker package. Django has no lifespan handler: turned off
rather than probed at every start.

With GUNICORN_REUSE_PORT=1, each worker listens on a socket of its own (SO_REUSEPORT) and
the kernel spreads new connections across them evenly. On the one socket gunicorn shares,
the worker whose event loop wakes first takes every connection waiting (uvloop accepts
until the queue is empty), so a burst piles onto one worker while the others idle (issue
27: one of 14 workers at a full core for seconds). The shared socket then stops listening
(it stays bound, for gunicorn's restarts). The price: a worker that exits drops the
connections still queued on its socket unless the kernel moves them
(`sysctl net.ipv4.tcp_migrate_req=1`, Linux 5.14+): see README, Production.
"""

import contextlib
import os
import signal
import socket
import sys

from uvicorn_worker import UvicornWorker


def reuse_port() -> bool:
    """GUNICORN_REUSE_PORT: a listening socket per worker (read by gunicorn.conf.py too)."""
    return os.environ.get("GUNICORN_REUSE_PORT", "").lower() in ("1", "true", "yes", "on")


def own_socket(shared: socket.socket, backlog: int) -> socket.socket:
    """A listening socket of this worker's on `shared`'s address (SO_REUSEPORT)."""
    own = socket.socket(shared.family, socket.SOCK_STREAM)
    own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    own.bind(shared.getsockname())
    own.listen(backlog)
    own.setblocking(False)
    return own


class Worker(UvicornWorker):
    CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "lifespan": "off"}

    def init_signals(self) -> None:
        super().init_signals()
        # uvicorn re-raises the signal it stopped on, with the handler it found at start, once
        # its last request is served: exit as Python does (atexit writes the query log's last
        # rows) rather than die by the signal.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: sys.exit(0))

    def init_process(self) -> None:
        if reuse_port():
            shared = [getattr(s, "sock", s) for s in self.sockets]
            tcp = [s for s in shared if s.family in (socket.AF_INET, socket.AF_INET6)]
            own = [own_socket(s, self.cfg.backlog) for s in tcp]
            for s in tcp:
                # Out of the kernel's spread (it would get a share nobody accepts). Every
                # worker does it; the first one's is the one that counts.
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            self.sockets = own + [s for s in shared if s not in tcp]
        super().init_process()
