"""The Python episode driver: any :class:`metamdp.policies.Policy` on the synthetic worlds.

It shows the policy a :class:`metamdp.policies.View` at every epoch and applies its
:class:`~metamdp.policies.Action` with the runner's sample mechanics, so a policy meets
exactly the samples the Numba kernels would give it (same episode seeds, same sample ids,
same predictions and corruptions). It is slow (Python per epoch) and exact: it runs users'
policies, and the conformance tests run every built-in's reference definition here and
its kernel in ``simulators.kernels`` and require identical metrics.
"""

from __future__ import annotations

import numpy as np

from metamdp.grids import RewardGrid
from metamdp.policies.episode import run_episode as episode_loop

from .kernels.common import (account, predict, prediction_scratch, record_plan, shared_class,
                             start_branch, start_root, step, track_history)
from .kernels.samples import (N_METRICS, new_state, pack_corruption, prediction_lengths,
                              world_arrays)
from .synthetic import P_CONF1, P_CONF2, P_RM1, P_RM2, hash_normal, stream_id

DEFAULT_CAP = 8


class _Sample:
    """A synthetic sample as a policy sees it (:class:`metamdp.policies.SampleView`'s
    attributes, computed from the episode's arrays on demand)."""

    __slots__ = ("sid", "status", "_ep", "_joint", "_joint_age")

    def __init__(self, sid, ep):
        self.sid, self.status, self._ep = sid, "running", ep
        self._joint, self._joint_age = None, -1

    @property
    def unfinished(self) -> bool:
        return self.status in ("running", "paused")

    @property
    def elapsed_ticks(self) -> int:
        return int(self._ep.S.age[self.sid])

    @property
    def own_ticks(self) -> int:
        return int(self._ep.S.age[self.sid] - self._ep.S.start[self.sid])

    @property
    def joint(self) -> np.ndarray:
        age = self.elapsed_ticks
        if self._joint_age != age:
            self._joint = self._ep.predict(self.sid)
            self._joint_age = age
        return self._joint

    @property
    def value(self) -> float:
        ep = self._ep
        return float(ep.values[ep.S.rcls[self.sid]]) if self.status == "finished" else 0.0

    @property
    def answer(self):
        return int(self._ep.S.answer[self.sid]) if self.status == "finished" else None

    @property
    def correct(self) -> bool:
        return bool(self._ep.S.correct[self.sid])

    @property
    def trace_noise(self) -> float:
        i = self.sid
        return float(hash_normal(self._ep.seed, stream_id(i, P_CONF1), stream_id(i, P_CONF2),
                                 self.elapsed_ticks))

    @property
    def rm_noise(self) -> float:
        i = self.sid
        return float(hash_normal(self._ep.seed, stream_id(i, P_RM1), stream_id(i, P_RM2), 0))

    def __repr__(self):
        return f"Sample(sid={self.sid}, status={self.status!r}, ticks={self.elapsed_ticks})"


class _Episode:
    """One synthetic question's samples, as the episode loop drives them
    (:func:`metamdp.policies.episode.run_episode`'s world)."""

    def __init__(self, W, t_max, seed, q, corr, cap):
        self.W, self.t_max, self.seed, self.q, self.corr, self.cap = W, t_max, seed, q, corr, cap
        self.values = W.values
        self.track = bool(track_history(corr))
        self.S = new_state(cap, t_max, self.track)
        self.shared = shared_class(W, q, seed, cap)
        self.P = prediction_scratch(W, q, t_max)
        self.cw = np.empty(W.values.size)
        self.root_joint = self.predict(-1)

    def predict(self, i) -> np.ndarray:
        out = np.empty((self.W.values.size, self.W.rep.size))
        predict(i, self.seed, self.q, self.W, self.S, self.track, self.corr, self.P, out)
        return out

    def start(self, i, src, where):
        if src is None:
            start_root(i, self.seed, self.q, self.W, self.t_max, self.S, self.corr, self.shared,
                       self.track)
        else:
            start_branch(i, src, self.seed, self.q, self.W, self.t_max, self.S, self.corr,
                         self.shared, self.track, self.P[0], self.cw)
        return _Sample(i, self)

    def advance(self, i):
        return "finished" if step(i, self.seed, self.q, self.W, self.S, self.track) else None


def run_episode(policy, W, t_max, seed, q, corr, cap, rewards, lengths, label) -> np.ndarray:
    """One episode of ``policy``; returns its metrics row (``simulators.kernels.samples.METRICS``)."""
    ep = _Episode(W, t_max, seed, q, corr, cap)
    res = episode_loop(policy, ep, cap=cap, rewards=rewards, lengths=lengths, label=label)
    out = np.zeros(N_METRICS)
    account(ep.S, len(res.samples), -1 if res.chosen is None else res.chosen.sid, res.gen_ticks,
            res.serial_ticks, res.extra_ticks, W.mean_ticks[q], out)
    plan = getattr(policy, "first_plan", None)
    if plan is not None:
        record_plan(float(plan[0]), float(plan[1]), out)
    return out


def run_episodes(world, policy, seeds, qidx, corruption, cap: int | None = None) -> np.ndarray:
    """``policy`` on episodes ``(seeds[e], qidx[e])`` of ``world``; one metrics row each.

    ``cap``: the most samples per question (default: the policy's ``cap``, else 8).
    """
    grid, bin_map = prediction_lengths(world, corruption)
    rep = np.ascontiguousarray(grid.representative, dtype=np.float64)
    upper = np.ascontiguousarray(grid.upper, dtype=np.float64)
    W = world_arrays(world, rep, upper, bin_map)
    corr = pack_corruption(corruption)
    cap = int(cap or getattr(policy, "cap", None) or DEFAULT_CAP)
    rewards = RewardGrid.from_values(world.values)
    policy.prepare(rewards, grid)
    out = np.zeros((len(seeds), N_METRICS))
    for e, (seed, q) in enumerate(zip(seeds, qidx)):
        label = f"question {world.name}-{int(q)} (episode seed {int(seed)})"
        out[e] = run_episode(policy, W, int(world.t_max), seed, int(q), corr, cap, rewards, grid,
                             label)
    return out
