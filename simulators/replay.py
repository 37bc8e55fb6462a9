"""Exact replay of policies over recorded traces (``docs/traces.md``), and a recorder that
writes the synthetic world's samples as traces.

Replay is a driver of :mod:`metamdp.policies`: any policy (a built-in's reference
definition or a user's) runs on the recordings. Starting a sample takes the question's next
unused recorded sample (in file order); advancing it one tick moves ``delta`` tokens along
its recording; its prediction after ``k`` ticks is the latest recorded joint at or before
``k * delta`` tokens; it ends after ``ceil(total_tokens / delta)`` ticks, with its recorded
answer, correctness and value if ``finished``, else ``truncated`` (no answer, value 0).
Pausing, resuming and pruning are exact; branching from a prefix is not replayable (the
recording has no continuations of prefixes) and is refused. A question has at most as
many samples as were recorded.

Replaying a recording made by :func:`record_world` reproduces
:func:`simulators.runner.run_policy` tick for tick (tests check it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from metamdp.grids import LengthGrid, RewardGrid
from metamdp.policies.episode import run_episode

from .kernels.samples import record_sample
from .policies import DEFAULT_POLICIES, POLICY_NAMES, entry_for, parse_policies, sweep
from .report import summarize_cells
from .results import Cell, normalised_costs
from .runner import episode_seeds
from .synthetic import World
from .traces import QuestionTraces, read_metadata, read_traces, write_traces

REPLAYABLE = tuple(n for n in POLICY_NAMES if n != "wbon_rm")


class ReplayError(ValueError):
    """A policy or option that cannot be replayed exactly, or unusable traces."""


@dataclass
class ReplayQuestion:
    """One question's recordings, as arrays."""

    question_id: str
    joints: list          # (T_i, B, L) arrays
    tick_tokens: list     # (T_i,) int arrays
    length: np.ndarray    # ticks until the sample ends
    finished: np.ndarray  # bool
    answer: np.ndarray    # int ids (-1: no answer)
    correct: np.ndarray   # bool
    value: np.ndarray     # float
    delta: int
    source: str = ""

    @classmethod
    def from_traces(cls, qt: QuestionTraces) -> "ReplayQuestion":
        ids = {}
        answers = []
        for s in qt.samples:
            if s.answer is None or not s.finished:
                answers.append(-1)
            else:
                answers.append(ids.setdefault(s.answer, len(ids)))
        delta = qt.samples[0].delta
        src = ""
        extra = qt.samples[0].extra or {}
        if "source" in extra and extra["source"] is not None:
            src = str(extra["source"])
        return cls(question_id=qt.question_id, joints=[s.joints for s in qt.samples],
                   tick_tokens=[s.tick_tokens for s in qt.samples],
                   length=np.array([max(1, math.ceil(s.total_tokens / delta)) for s in qt.samples],
                                   dtype=np.int64),
                   finished=np.array([s.finished for s in qt.samples], dtype=bool),
                   answer=np.array(answers, dtype=np.int64),
                   correct=np.array([s.correct for s in qt.samples], dtype=bool),
                   value=np.array([s.value if s.finished else 0.0 for s in qt.samples]),
                   delta=int(delta), source=src)

    @property
    def n_samples(self) -> int:
        return len(self.joints)

    def joint_at(self, i: int, ticks: int) -> np.ndarray:
        """The latest recorded prediction of sample ``i`` at or before ``ticks`` ticks."""
        k = int(np.searchsorted(self.tick_tokens[i], ticks * self.delta, side="right")) - 1
        return self.joints[i][max(k, 0)]


# --------------------------------------------------------------------------- episode


class _ReplaySample:
    """A recorded sample as a policy sees it (:class:`metamdp.policies.SampleView`)."""

    __slots__ = ("sid", "status", "_rq", "_age")

    def __init__(self, sid, rq, age):
        self.sid, self.status, self._rq, self._age = sid, "running", rq, age

    @property
    def unfinished(self) -> bool:
        return self.status in ("running", "paused")

    @property
    def elapsed_ticks(self) -> int:
        return int(self._age[self.sid])

    own_ticks = elapsed_ticks

    @property
    def joint(self) -> np.ndarray:
        return self._rq.joint_at(self.sid, int(self._age[self.sid]))

    @property
    def value(self) -> float:
        return float(self._rq.value[self.sid]) if self.status == "finished" else 0.0

    @property
    def answer(self):
        a = int(self._rq.answer[self.sid])
        return a if self.status == "finished" and a >= 0 else None

    @property
    def correct(self) -> bool:
        return bool(self._rq.correct[self.sid])

    trace_noise = None   # recordings carry no token-confidence trace
    rm_noise = None      # nor an external reward model's score


def _reference(policy):
    """``policy``, refusing a built-in that cannot be replayed exactly."""
    if entry_for(policy) is None:
        return policy
    name = policy.name
    if name not in REPLAYABLE:
        raise ReplayError(f"policy {name} cannot be replayed (it needs an external reward model)")
    if name in ("ziprc", "ziprc_recourse") and policy.branching:
        raise ReplayError("ZIP-RC with branching cannot be replayed: recordings have no "
                          "continuations of prefixes")
    if name == "deepconf" and policy.signal != "ziprc":
        raise ReplayError("deepconf replays only with signal=ziprc (traces carry no token confidences)")
    return policy


class _ReplayWorld:
    """One question's recordings, as the episode loop drives them
    (:func:`metamdp.policies.episode.run_episode`'s world): starting a sample takes the next
    recording, a tick moves ``delta`` tokens along it."""

    def __init__(self, rq: ReplayQuestion, policy_name: str):
        self.rq, self.policy_name = rq, policy_name
        self.age = np.zeros(rq.n_samples, dtype=np.int64)
        self.root_joint = rq.joints[0][0]

    def start(self, sid, branch_from, where):
        if branch_from is not None:
            raise ReplayError(f"policy {self.policy_name!r} branched at {where}: recordings have "
                              "no continuations of prefixes, so branching cannot be replayed")
        return _ReplaySample(sid, self.rq, self.age)

    def advance(self, sid):
        self.age[sid] += 1
        if self.age[sid] >= self.rq.length[sid]:
            return "finished" if self.rq.finished[sid] else "truncated"
        return None


def replay_episode(rq: ReplayQuestion, policy, values: np.ndarray, rep: np.ndarray,
                   upper: np.ndarray, cap: int | None = None) -> dict:
    """Run ``policy`` (any :class:`metamdp.policies.Policy`) once over one question's
    recordings; returns raw metrics.

    The question has at most ``cap`` samples (default: the policy's cap, else 8), and never
    more than were recorded; a policy that branches is refused (nothing to replay).
    """
    obj = _reference(policy)
    cap = int(cap or getattr(obj, "cap", None) or 8)
    cap = min(cap, rq.n_samples)
    rewards = RewardGrid.from_values(values)
    lengths = LengthGrid(representative=np.asarray(rep, dtype=np.float64),
                         upper=np.asarray(upper, dtype=np.float64), delta=int(rq.delta))
    obj.prepare(rewards, lengths)
    world = _ReplayWorld(rq, getattr(obj, "name", type(obj).__name__))
    res = run_episode(obj, world, cap=cap, rewards=rewards, lengths=lengths,
                      label=f"question {rq.question_id!r}")
    chosen, samples = res.chosen, res.samples
    pruned = sum(int(world.age[s.sid]) for s in samples if s.status != "finished")
    return {"correct": bool(chosen is not None and rq.correct[chosen.sid]),
            "answered": chosen is not None, "gen_ticks": res.gen_ticks,
            "serial_ticks": res.serial_ticks, "started": len(samples), "pruned_ticks": pruned,
            "finished": sum(1 for s in samples if s.status == "finished")}


# --------------------------------------------------------------------------- files


def load_questions(path, batch_size: int = 1024):
    """Stream a trace file as :class:`ReplayQuestion` objects, plus its metadata."""
    meta = read_metadata(path)
    return meta, (ReplayQuestion.from_traces(qt) for qt in read_traces(path, batch_size=batch_size))


def replay_study(path, policies=None, alpha: float = 0.1, cap: int = 8, seed: int = 0,
                 n_boot: int = 1000, progress: bool = True, batch_size: int = 1024,
                 user_policies=(), ziprc_params: dict | None = None,
                 match_cost: float | str | None = None) -> dict:
    """Every replayable policy over its knob on a trace file: the study's rows and table.

    ``user_policies``: :class:`metamdp.policies.Policy` objects replayed beside the
    built-in ones (each over its ``knobs`` if it declares a ``knob_name``, else once; a
    class attribute ``variant`` labels its rows, e.g. a second answer rule of one policy).
    ``match_cost``: the cost of the matched-cost table (default: the paper's 1.40), or
    ``"mv_max"``: majority voting's own cost at its largest ``N`` (on recordings whose
    lengths are not the paper's, 1.40 may name no particular majority vote).
    ``ziprc_params``: ZIP-RC's parameters over their defaults (e.g. ``{"planner": "authors"}``).
    The file is streamed question by question; per-question results are kept (small).
    ``Lbar`` of a question is the mean recorded length of its samples.
    """
    from .study import user_policy_grid

    names = parse_policies(policies) if policies else [n for n in REPLAYABLE if n in DEFAULT_POLICIES]
    bad = [n for n in names if n not in REPLAYABLE]
    if bad:
        raise ReplayError(f"cannot replay {', '.join(bad)} (needs an external reward model)")
    if "mv" not in names:
        names = ["mv"] + names
    meta = read_metadata(path)
    values = np.asarray(meta["reward_values"], dtype=np.float64)
    grid = LengthGrid.binned(tuple(meta["length_edges"]), delta=int(meta["delta"]))
    rep = np.ascontiguousarray(grid.representative)
    upper = np.ascontiguousarray(grid.upper)
    grid_pol = []
    for name in names:
        if name == "deepconf":
            grid_pol += [(p, "ziprc") for p in sweep("deepconf", alpha=alpha, cap=cap, signal="ziprc")]
        else:
            extra = (ziprc_params or {}) if name == "ziprc" else {}
            grid_pol += [(p, "") for p in sweep(name, alpha=alpha, cap=cap, **extra)]
    grid_pol += [(p, str(getattr(p, "variant", "") or "")) for p in user_policy_grid(user_policies)]
    per = {k: [] for k in range(len(grid_pol))}
    lbar, sources, qids = [], [], []
    it = read_traces(path, batch_size=batch_size)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="replay", unit="question", leave=False)
    for qt in it:
        rq = ReplayQuestion.from_traces(qt)
        qids.append(rq.question_id)
        sources.append(rq.source)
        lbar.append(float(rq.length.mean()))
        for k, (pol, _) in enumerate(grid_pol):
            per[k].append(replay_episode(rq, pol, values, rep, upper, cap=cap))
    if not qids:
        raise ReplayError(f"{path}: no questions")
    lb = np.array(lbar)
    names_src = sorted(set(sources))
    strata = np.array([names_src.index(s) for s in sources])
    cells = []
    for k, (pol, variant) in enumerate(grid_pol):
        rs = per[k]
        compute, latency, _ = normalised_costs([r["gen_ticks"] for r in rs],
                                               [r["serial_ticks"] for r in rs], lb, alpha)
        cells.append(Cell(policy=pol, variant=variant,
                          correct=np.array([r["correct"] for r in rs], dtype=float),
                          compute=compute, latency=latency,
                          samples=np.array([r["started"] for r in rs], dtype=float),
                          pruned=np.array([r["pruned_ticks"] for r in rs]) / lb,
                          answered=np.array([r["answered"] for r in rs], dtype=float)))

    if isinstance(match_cost, str):
        if match_cost != "mv_max":
            raise ReplayError(f"match_cost must be a number or 'mv_max', got {match_cost!r}")
        top = max((c for c in cells if c.policy.name == "mv" and not c.variant), key=lambda c: c.policy.knob)
        match_cost = float(top.gen_cost(alpha).mean())  # the same mean as its row's gen_cost

    return summarize_cells(cells, alpha, strata, tuple(names_src), seed=seed, n_boot=n_boot,
                           match_cost=match_cost,
                           params={"traces": str(path), "alpha": alpha, "cap": cap,
                                   "policies": names + [p.name for p in user_policies],
                                   "questions": len(qids), "episodes": 1,
                                   "ziprc_params": ziprc_params or {}, "match_cost": match_cost,
                                   "suite": f"traces:{meta.get('params', {}).get('suite', '?')}",
                                   "trace_metadata": meta})


def record_world(world: World, path, n_samples: int = 8, seed: int = 0) -> None:
    """Record ``n_samples`` complete samples per question of ``world`` (exact joints, every tick).

    Sample ``i`` of question ``q`` is the runner's sample ``i`` for episode 0 of ``q`` under
    ``seed``, so replaying the file reproduces ``run_policy(world, ..., seed=seed)``.
    """
    seeds = episode_seeds(seed, world.n_questions)
    rows = []
    edges = list(world.length_edges)
    values = world.values.tolist()
    for q in range(world.n_questions):
        for i in range(n_samples):
            joints, k, n, correct, answer = record_sample(
                i, seeds[q], q, world.values, world.class_prior, world.correct_prob,
                world.log_median, world.sigma, world.signal_mean, world.distractor_cdf,
                world.r_lo, world.r_hi, int(world.t_max))
            rows.append({"question_id": f"{world.name}-{q}", "sample_id": i,
                         "difficulty": float(world.difficulty[q]), "delta": world.delta,
                         "reward_values": values, "length_edges": edges,
                         "tick_tokens": (np.arange(n) * world.delta).tolist(),
                         "joints": joints.reshape(n, -1), "total_tokens": int(n) * world.delta,
                         "finished": True, "answer": str(int(answer)), "correct": bool(correct),
                         "value": float(world.values[k]),
                         "source": world.source_names[int(world.source[q])]})
    write_traces(path, rows, {"seed": seed, "params": {"suite": world.name, "n_samples": n_samples,
                                                       "generator": "simulators.replay.record_world",
                                                       "world": world.params()}})
