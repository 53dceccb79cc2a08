"""A process's start-up without the cyclic garbage collector.

Importing the project allocates a few hundred thousand objects that live as long as the process (modules, classes,
functions, the settings, the URLconf). While they are made, the collector runs every 700 allocations and walks more
and more of them, finding nothing to free: about 8 % of a web worker's start-up. `collector_paused()` turns it
off for the start-up, then on again with the start-up's objects frozen (`gc.freeze()`: moved to a generation the
collector never walks), so that the requests' collections walk only what the requests make, and a forked worker does
not write to the pages it shares with its parent just to mark them.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
