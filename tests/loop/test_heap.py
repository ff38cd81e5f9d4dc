"""What survives a cycle is frozen out of collections, and handed back every few cycles."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from reconciler.loop.heap import HeapSettler


class Node:
    """An object in a reference cycle: only the cycle collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_what_survives_a_cycle_is_frozen_and_reclaimed_when_the_heap_is_handed_back() -> None:
    settler = HeapSettler(unfreeze_every=2)
    node = Node()
    alive = weakref.ref(node)

    settler.settle()
    assert gc.get_freeze_count() > 0
    del node
    gc.collect()
    assert alive() is not None  # frozen: collections do not look at it

    settler.settle()  # the second cycle hands the heap back and collects
    assert alive() is None
    assert gc.get_freeze_count() > 0  # and freezes what is left
