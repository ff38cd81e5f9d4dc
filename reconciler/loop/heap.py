"""Keeping the garbage collector off what the loop holds between cycles.

A daemon watching a thousand units keeps their renders, plans and last live
state from cycle to cycle: about a million objects that live for hours. Python's
full collections walk every one of them, each time taking a tenth of a second or
more, and they come every few cycles: most of a steady cycle's CPU on the loop's
thread. Freezing what survives a cycle (:func:`gc.freeze`) takes those objects
out of collections; what a cycle allocates and drops is collected as usual.

The cost is that an object frozen while alive, caught in a reference cycle and
dropped later is only reclaimed once the heap is unfrozen, which
:class:`HeapSettler` does every ``unfreeze_every`` cycles.
"""

from __future__ import annotations

import gc

UNFREEZE_EVERY = 50
"""Cycles between two full collections of everything (25 minutes at the default 30 s)."""


class HeapSettler:
    """Called at the end of every cycle; freezes what survived it."""

    def __init__(self, unfreeze_every: int = UNFREEZE_EVERY) -> None:
        self._unfreeze_every = unfreeze_every
        self._cycles = 0

    def settle(self) -> None:
        self._cycles += 1
        if self._cycles % self._unfreeze_every == 0:
            # Hand everything back to the collector, and reclaim what died since.
            gc.unfreeze()
            gc.collect()
        gc.freeze()
