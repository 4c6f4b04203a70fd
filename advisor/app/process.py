"""Settings of the serving process itself (not of the engine or the UI).

Called by ``app.py`` before the engine and the server start threads, and once the
engine is ready: glibc's malloc arenas capped (:func:`limit_malloc_arenas`), the load's
free heap handed back (:func:`trim_malloc`), BLAS kept to one thread per request
(:func:`limit_blas_threads`), Gradio's per-event work trimmed where it
costs CPU and answers nothing (:func:`thin_gradio_monitoring`,
:func:`skip_missing_matplotlib`). Each measured in bench/RESULTS.md; each a no-op where
the platform or an operator's own setting says otherwise. Nothing here imports Gradio.
"""

from __future__ import annotations

import functools
import logging

log = logging.getLogger(__name__)


# glibc's M_ARENA_MAX (mallopt parameter number): by default every thread that meets a
# locked heap gets its own arena (up to 8 per core), and a serving process whose queue
# workers allocate answers in turn keeps each arena's high-water mark for good.
_M_ARENA_MAX = -8
DEFAULT_MALLOC_ARENAS = 2  # the 20-user load test: peak RSS 909 -> 742 MiB, same answers/s


@functools.lru_cache(maxsize=1)
def _libc():
    """The C library, loaded once (``None`` where it cannot be found)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def trim_malloc() -> bool:
    """Return the heap's free pages to the OS (glibc ``malloc_trim``; a no-op elsewhere).
    After the engine loads, -40 MiB of RSS on the full index. Returns whether it ran."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is None:
        return False
    trim(0)
    return True


# Gradio's queue recomputes its monitoring summary (a DataFrame over the last 10,000
# events, percentiles per function) after every event by default, a cost that grows
# with the events seen (~2% of the CPU under load, more as the run goes on). Every 200
# events over the last 2,000 is plenty for its /monitoring page.
GRADIO_MONITORING = {"GRADIO_ANALYTICS_CACHE_FREQUENCY": "200",
                     "GRADIO_ANALYTICS_MAX_EVENTS": "2000"}


def thin_gradio_monitoring() -> dict[str, str]:
    """Set :data:`GRADIO_MONITORING` in the environment where the operator has not
    (Gradio reads them when a queue is created). Returns what was set."""
    import os

    done = {k: v for k, v in GRADIO_MONITORING.items() if k not in os.environ}
    os.environ.update(done)
    return done


def skip_missing_matplotlib() -> bool:
    """Make ``import matplotlib`` fail at once when it is not installed.

    Gradio imports matplotlib around every event (to switch its backend) and, when it is
    missing, Python searches every ``sys.path`` entry again each time: ~2% of the
    serving process's CPU under load, in the event loop thread. ``None`` in
    ``sys.modules`` is Python's own way to say "no such module". Returns whether it
    was set (False when matplotlib is installed)."""
    import importlib.util
    import sys

    if "matplotlib" in sys.modules or importlib.util.find_spec("matplotlib") is not None:
        return False
    sys.modules["matplotlib"] = None  # type: ignore[assignment]
    return True


def limit_malloc_arenas(n: int = DEFAULT_MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``n`` for this process (call before threads start).

    Leaves an explicit ``MALLOC_ARENA_MAX`` alone and does nothing off glibc (macOS,
    musl). Returns whether the cap was set."""
    import ctypes
    import os

    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = bool(mallopt(_M_ARENA_MAX, n))
    log.debug("malloc arenas capped at %d: %s", n, ok)
    return ok


# Environment variables an operator sets to choose BLAS threading themselves.
BLAS_THREAD_SETTINGS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def limit_blas_threads(n: int = 1) -> bool:
    """Run BLAS (numpy's and scipy's OpenBLAS) on ``n`` threads in this process.

    A serving process answers many requests at once, each on its own worker thread, so
    a BLAS pool adds nothing but its threads' busy-waiting after every product: on the
    full index one answer cost 49 ms of CPU with OpenBLAS's default pool and 26 ms with
    one thread, in the same wall time (bench/RESULTS.md). Loads both libraries first
    (``threadpoolctl`` only limits loaded ones). Leaves an operator's own
    :data:`BLAS_THREAD_SETTINGS` alone. Returns whether the limit was set."""
    import os

    if any(os.environ.get(k) for k in BLAS_THREAD_SETTINGS):
        return False
    import numpy  # noqa: F401 - loads numpy's BLAS
    import scipy.linalg  # noqa: F401 - and scipy's, which scikit-learn uses
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n, user_api="blas")
    log.debug("BLAS limited to %d thread(s)", n)
    return True
