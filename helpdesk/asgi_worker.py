"""gunicorn's worker class for production and the live tests: uvicorn (uvloop, httptools)
through the maintained uvicorn-worker package. Django has no lifespan handler: turned off
rather than probed at every start."""

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "lifespan": "off"}
