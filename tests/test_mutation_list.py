"""tests/mutations.py stays runnable: each mutation still finds the one text it changes."""

import pytest

from tests.mutations import MUTATIONS, ROOT


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_each_mutation_finds_its_text_once(mutation):
    assert (ROOT / mutation.path).read_text().count(mutation.old) == 1
    for test_file in mutation.tests:
        assert (ROOT / test_file).is_file()
