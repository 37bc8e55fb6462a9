"""The Numba episode kernels: one small jitted function per policy (or per family), a file
per family, and the batch loops that run them.

Each kernel re-implements one reference policy of :mod:`metamdp.policies` on the synthetic
world's samples (:mod:`simulators.kernels.samples`) with the same arithmetic, so that it
takes the same decisions; ``tests/simulators/test_policy_conformance.py`` runs every policy through
both and requires identical metrics. Kernel signature: ``(p, corr, seed, q, W, t_max,
out)``: ``p`` the policy's parameter record (a named tuple packed from the reference object
by the packer next to the kernel), ``corr`` the corruption, the episode seed, the question,
the world's arrays, the length cap in ticks, the metrics row.

:func:`run_batch` runs one kernel over many episodes, :func:`run_threads` splits them
over threads. The batch loop finds the kernel by the *type* of ``p`` (:func:`bind`
registers it; the table of ``simulators.policies`` does so for every built-in policy), so
it compiles only for the kernels a run uses, and a parameter record no kernel is bound to
fails to compile instead of running another policy.

The loop is serial and releases the GIL; threads run slices of the episodes. A ``prange``
loop did the same but tripled the cold compile (the parfor and its gufunc re-optimise the
whole kernel once more per parameter record: ``ziprc bench --sections compile``).

Numba's on-disk cache keys a function on its own source file only, not on the kernels it
calls: the caches here are dropped automatically whenever any source their compiled code
contains changed (``metamdp._numba_cache``). A kernel bound from a file outside the package
(a user's, a test's) is the exception the guard cannot see: its own cache is dropped when
the package's jitted sources change, and the batch loop runs it uncached (compiled once per
process), so an edit to it is never hidden by a cached batch loop.
"""

from __future__ import annotations

import inspect
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from numba import njit
from numba.core import types
from numba.extending import intrinsic

from metamdp._numba_cache import cache_dir, drop_stale

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent.parent


def _jitted_sources() -> list:
    """Every file whose code the compiled kernels and batch loops may contain: this folder,
    the table that binds kernels to parameter records (../policies.py), and every file of
    simulators/ and metamdp/ with jitted code (found by its decorator, so that a new one is
    never missed)."""
    files = set(_HERE.glob("*.py")) | {_HERE.parent / "policies.py"}
    for pkg in (_HERE.parent, _ROOT / "metamdp"):
        files |= {f for f in pkg.rglob("*.py") if "@njit" in f.read_text(encoding="utf-8")}
    return sorted(files)


# This folder's cache is the one of simulators/ whose jitted code calls other files' jitted
# code (synthetic.py's calls only its own), so it is dropped when any of those files changed;
# metamdp.policies.kernels guards its own cache (it calls the planner).
GUARDED_SOURCES = _jitted_sources()
drop_stale([cache_dir(_HERE / "__init__.py")], GUARDED_SOURCES)

#: parameter-record class -> kernel (filled by :func:`bind`)
KERNELS: dict = {}
#: parameter-record classes whose kernel lives outside the guarded sources
OUTSIDE: set = set()


class KernelError(TypeError):
    """A parameter record bound to two kernels, or to none."""


def bind(record_type: type, kernel) -> None:
    """Let the batch loops run ``kernel`` for parameter records of ``record_type``."""
    known = KERNELS.get(record_type)
    if known is not None and known is not kernel:
        raise KernelError(f"parameter record {record_type.__name__} is already bound to "
                          f"{known.py_func.__name__}; give {kernel.py_func.__name__} its own record")
    KERNELS[record_type] = kernel
    source = Path(inspect.getsourcefile(kernel.py_func)).resolve()
    if source not in {Path(f).resolve() for f in GUARDED_SOURCES}:
        OUTSIDE.add(record_type)
        # its cached code links this package's callees, which Numba does not track
        drop_stale([cache_dir(source)], [*GUARDED_SOURCES, source], stamp_name=f"{source.stem}.sha256")


@intrinsic
def episode(typingctx, p, corr, seed, q, W, t_max, out):
    """Run the kernel bound to ``type(p)`` on one episode (jitted callers only).

    An intrinsic, not an ``@overload``: an overload's implementation is compiled as a
    function of its own, one more layer that re-optimises and re-emits the whole kernel it
    links, for every parameter record; this emits the call to the kernel in place."""
    if not isinstance(p, types.BaseNamedTuple):
        raise KernelError(f"a kernel's parameters must be a named tuple, got {p}")
    kernel = KERNELS.get(p.instance_class)
    if kernel is None:
        raise KernelError(f"no kernel is bound to parameter record {p.instance_class.__name__}")
    kernel_type = types.Dispatcher(kernel)
    sig = kernel_type.get_call_type(typingctx, (p, corr, seed, q, W, t_max, out), {})

    def codegen(context, builder, signature, args):
        return context.get_function(kernel_type, sig)(builder, args)
    return sig, codegen


@njit(cache=True, nogil=True)
def run_batch(p, corr, seeds, qidx, W, t_max, out):
    for e in range(seeds.size):
        episode(p, corr, seeds[e], qidx[e], W, t_max, out[e])


#: the batch loop for kernels outside the package: never cached (see the module's docstring)
run_batch_uncached = njit(nogil=True)(run_batch.py_func)


def batch_loop(p):
    """The batch loop that runs ``p``'s kernel."""
    return run_batch_uncached if type(p) in OUTSIDE else run_batch


def run_threads(p, corr, seeds, qidx, W, t_max, out, threads: int) -> None:
    """:func:`run_batch` over ``threads`` threads, each taking the next slice of episodes.

    An episode depends only on its seed and question, so the rows are the same whatever
    the split."""
    n = seeds.size
    run = batch_loop(p)
    if threads <= 1 or n < 2:
        run(p, corr, seeds, qidx, W, t_max, out)
        return
    # several slices per thread: episodes differ in length, the last slices even out
    bounds = np.linspace(0, n, min(n, 4 * threads) + 1).astype(np.int64)

    def part(k):
        a, b = bounds[k], bounds[k + 1]
        run(p, corr, seeds[a:b], qidx[a:b], W, t_max, out[a:b])

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(part, range(bounds.size - 1)))
