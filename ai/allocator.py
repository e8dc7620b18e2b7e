"""Keep the memory of one tray for the next, instead of handing it back to the kernel.

A tray allocates tens of MB of short-lived buffers (frames, tensors, crops). With glibc's defaults
the served process gave them back after every request (large blocks are mmapped, the heap top is
trimmed) and faulted them in again on the next: about 5,900 page faults per tray over HTTP against
about 12 for the same tray recognized in-process, where the heap had settled. Fixed thresholds stop
that churn (about 45 faults per tray); the cost is that the process keeps up to TRIM_THRESHOLD of
freed memory, which the VM has to spare.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger("ai")

# glibc's mallopt() parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# Blocks up to this size come from the heap and are reused (glibc's largest allowed value on
# 64-bit); larger ones are still mmapped.
MMAP_THRESHOLD = 32 * 1024 * 1024
# Freed memory at the top of the heap is kept up to this much.
TRIM_THRESHOLD = 256 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Set glibc's thresholds for this process; False where the C library has no mallopt."""
    try:
        # The process's own symbols include the C library's; no library search (tens of ms).
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        log.info("no mallopt in this C library; the allocator keeps its defaults")
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # Both, in this order: setting either one turns off glibc's self-adjusting thresholds.
    done = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    done = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and done
    if not done:
        log.warning("mallopt refused the allocator thresholds; trays may fault memory in again")
    return done
