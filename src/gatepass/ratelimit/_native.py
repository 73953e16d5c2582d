"""Which in-process counters to use: compiled when ``scripts/build_native.py`` built them (``make
install`` does) from the current ``_counters.py``, else the pure-Python ones.

The compiled module holds the SHA-256 of the source it was built from; after an edit to
``_counters.py`` it no longer matches, and the pure-Python counters serve until it is rebuilt (a
stale build never runs). ``GATEPASS_NATIVE=0`` chooses the pure-Python counters.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from importlib import import_module
from pathlib import Path

from gatepass.ratelimit import _counters

__all__ = ["counters_class"]

logger = logging.getLogger("gatepass.ratelimit")


@functools.cache
def counters_class() -> type[_counters.SlidingWindowCounters]:
    """The ``SlidingWindowCounters`` class to use in this process."""
    if os.environ.get("GATEPASS_NATIVE", "1") == "0":
        return _counters.SlidingWindowCounters
    try:
        native = import_module("gatepass.ratelimit._counters_native")
    except ImportError:
        return _counters.SlidingWindowCounters
    source = hashlib.sha256(Path(_counters.__file__).read_bytes()).hexdigest()
    if getattr(native, "SOURCE_SHA256", None) != source:
        logger.warning("the compiled rate-limit counters were built from another _counters.py; "
                       "using the pure-Python ones (rebuild: scripts/build_native.py)")
        return _counters.SlidingWindowCounters
    found: type[_counters.SlidingWindowCounters] = native.SlidingWindowCounters
    return found
