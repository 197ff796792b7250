"""Server-sent events: the one place that formats them."""

import json


def event(kind: str, data: dict) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def comment(text: str) -> bytes:
    return f": {text}\n\n".encode()
