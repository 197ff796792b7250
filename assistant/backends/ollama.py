"""Ollama over its native API (OLLAMA_URL, OLLAMA_MODEL)."""

from assistant.backends import ollama_client
from assistant.backends.remote import RemoteBackend


class OllamaBackend(RemoteBackend):
    name = "ollama"
    client = ollama_client
    hosts_setting = "OLLAMA_URL"
    model_setting = "OLLAMA_MODEL"

