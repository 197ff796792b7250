"""Answering a question: the events (events), what happened (outcome), identical questions
sharing one model call (flight), the per-host model slots and queue (admission), and the
service that puts them together (service)."""
