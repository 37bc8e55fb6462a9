"""The Numba episode kernels: one small jitted function per policy, a file per family.

Each kernel re-implements one reference policy of :mod:`metamdp.policies` on the synthetic
world's samples (``simulators.runner``'s sample helpers) with the same arithmetic, so that
it takes the same decisions; ``tests/test_policy_conformance.py`` runs every policy through
both and requires identical metrics. Kernel signature:
``(prm, corr_prm, seed, q, W, t_max, out)`` (parameters packed by
``simulators.policies.PolicySpec.to_array``, corruption, episode seed, question, world
tuple, length cap in ticks, metrics row).

Numba's on-disk cache keys a function on its own source file only, not on the kernels it
calls: the caches of these kernels are dropped automatically whenever any source they
depend on (this package, ``runner.py``, ``synthetic.py``, the planner and
``metamdp.policies.kernels``) changed (``metamdp._numba_cache``).
"""

from __future__ import annotations

from pathlib import Path

from numba import njit, prange

from metamdp._numba_cache import drop_stale

_HERE = Path(__file__).resolve().parent
# the kernels' compiled code contains the sample mechanics (runner.py, synthetic.py) and
# the shared arithmetic and planner of metamdp: recompile them when any of those changed
drop_stale([_HERE / "__pycache__"],
           sorted(_HERE.glob("*.py")) + [_HERE.parent / "runner.py", _HERE.parent / "synthetic.py",
                                         _HERE.parent.parent / "metamdp" / "planner.py",
                                         _HERE.parent.parent / "metamdp" / "policies" / "kernels.py"])

from .parallel import (bon_episode, half_finished_episode, length_prune_episode,  # noqa: E402
                       mv_episode, pass_at_n_episode, short_m_at_k_episode, wbon_episode,
                       wbon_rm_episode)
from .pruning import deepconf_episode, reward_prune_episode, spec_rejection_episode  # noqa: E402
from .sequential import ac_episode, esc_episode, pandora_episode  # noqa: E402
from .ziprc import ziprc_episode  # noqa: E402


@njit(cache=True)
def episode(code, prm, corr_prm, seed, q, W, t_max, out):
    """Run policy ``code`` (``simulators.policies.CODES``) on one episode."""
    if code == 0:
        ziprc_episode(prm, corr_prm, seed, q, W, t_max, out)
    elif code == 1:
        mv_episode(prm, corr_prm, seed, q, W, t_max, out)
    elif code == 2:
        bon_episode(prm, corr_prm, seed, q, W, t_max, out)
    elif code == 3:
        wbon_episode(prm, corr_prm, seed, q, W, t_max, out)
    elif code == 4:
        wbon_rm_episode(prm, corr_prm, seed, q, W, t_max, out)
    elif code == 5:
        pass_at_n_episode(prm, corr_prm, seed, q, W, t_max, out)
    elif code == 6:
        length_prune_episode(prm, corr_prm, seed, q, W, t_max, out)
    elif code == 7:
        half_finished_episode(prm, corr_prm, seed, q, W, t_max, out)
    elif code == 8:
        reward_prune_episode(prm, corr_prm, seed, q, W, t_max, out)
    elif code == 9:
        ac_episode(prm, corr_prm, seed, q, W, t_max, out)
    elif code == 10:
        esc_episode(prm, corr_prm, seed, q, W, t_max, out)
    elif code == 11:
        deepconf_episode(prm, corr_prm, seed, q, W, t_max, out)
    elif code == 12:
        short_m_at_k_episode(prm, corr_prm, seed, q, W, t_max, out)
    elif code == 13:
        spec_rejection_episode(prm, corr_prm, seed, q, W, t_max, out)
    else:
        pandora_episode(prm, corr_prm, seed, q, W, t_max, out)


@njit(cache=True, parallel=True)
def run_batch(code, prm, corr_prm, seeds, qidx, W, t_max, out):
    for e in prange(seeds.size):
        episode(code, prm, corr_prm, seeds[e], qidx[e], W, t_max, out[e])


@njit(cache=True)
def run_batch_serial(code, prm, corr_prm, seeds, qidx, W, t_max, out):
    for e in range(seeds.size):
        episode(code, prm, corr_prm, seeds[e], qidx[e], W, t_max, out[e])
