"""The docs' version while the database is unreachable: the last one read, so a question is
answered from the indexes already built rather than failing."""

import pytest
from django.core.cache import cache
from django.db import OperationalError

from assistant.helpdocs import version as versions
from assistant.models import HelpDoc

pytestmark = pytest.mark.django_db


def _unreachable(*args, **kwargs):
    raise OperationalError("connection refused")


def test_the_last_version_read_holds_while_the_database_is_down(monkeypatch, demo_docs):
    versions.docs_version_reset()
    before = versions.docs_version()
    cache.delete(versions.DOCS_VERSION_KEY)  # its cache entry expired meanwhile
    monkeypatch.setattr(versions, "_local_version", None)
    monkeypatch.setattr(HelpDoc.objects, "aggregate", _unreachable)
    assert versions.docs_version() == before


def test_without_a_version_read_before_the_outage_the_error_is_not_hidden(monkeypatch, db):
    versions.docs_version_reset()
    monkeypatch.setattr(versions, "_last_known", None)
    monkeypatch.setattr(HelpDoc.objects, "aggregate", _unreachable)
    with pytest.raises(OperationalError):
        versions.docs_version()
