"""Any OpenAI-compatible server (OPENAI_BASE_URL, OPENAI_MODEL, OPENAI_API_KEY)."""

from assistant.backends import openai_client
from assistant.backends.remote import RemoteBackend


class OpenAIBackend(RemoteBackend):
    name = "openai"
    client = openai_client
    hosts_setting = "OPENAI_BASE_URL"
    model_setting = "OPENAI_MODEL"
