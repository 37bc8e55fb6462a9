"""Exact evaluation on finite sample processes (no Monte Carlo).

A :class:`SampleProcess` is the abstract form of a small exact world: a layered DAG of latent
nodes; a sample starts at the root, moves one node per tick it is advanced, and finishes with
a grid reward on reaching a terminal node. Everything below enumerates outcomes exactly:

* :func:`exact_joints` - the exact (reward, remaining ticks) joint of every node;
* :func:`policy_value` - the expected return of a meta-policy (ZIP-RC or any callback);
* :func:`executed_strategy_value` - a predefined strategy executed literally, tick by tick;
* :func:`optimal_value` - the optimal meta-policy by backward induction;
* :func:`optimal_value_discrete_dp` - the same optimum from QuantEcon's ``DiscreteDP``
  (an independent solver used as a cross-check).

A *mixture* of processes over the same nodes (weights summing to 1) models a shared latent
per question (dependent samples): the latent is drawn once and every sample follows it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .grids import RewardGrid
from .planner import Decision, PlannerConfig, PlanningState, Strategy, plan


class ProcessError(ValueError):
    """A sample process (exact world) is malformed."""


class StateLimitError(ValueError):
    """Exact evaluation would enumerate more meta-states or outcomes than allowed.

    A ``ValueError`` so that the command line reports it in one line (exit 2): a large cap
    makes enumeration explode (every joint outcome of every advanced sample), and failing
    fast with the limit named beats running for hours."""


DEFAULT_MAX_STATES = 2_000_000


def _limit_error(what: str, n: float, limit: int) -> StateLimitError:
    return StateLimitError(f"exact evaluation of {what} needs more than {limit:,} meta-states or "
                           f"outcomes (at least {n:,.0f}); lower the cap, use a smaller world or "
                           "raise --max-states")


def _check_outcomes(process: "SampleProcess", movers, limit: int, what: str) -> None:
    """Fail before enumerating a joint step whose outcome count exceeds ``limit``."""
    n = 1
    for node in movers:
        n *= len(process.successors[node])
        if n > limit:
            raise _limit_error(what, n, limit)


@dataclass(frozen=True)
class SampleProcess:
    """A finite layered generative process for one sample.

    ``successors[n]`` lists ``(next_node, probability)``; ``value_index[n]`` is the reward-grid
    index of terminal node ``n`` (-1 for non-terminal); ``depth[n]`` is the number of ticks
    from the root; ``labels[n]`` is the node's external id (for messages).
    """

    rewards: RewardGrid
    root: int
    successors: tuple
    value_index: np.ndarray
    depth: np.ndarray
    labels: tuple = ()

    @property
    def n_nodes(self) -> int:
        return len(self.successors)

    def label(self, n: int):
        return self.labels[n] if self.labels else n

    def is_terminal(self, n: int) -> bool:
        return self.value_index[n] >= 0

    @property
    def max_ticks(self) -> int:
        """Longest remaining length from the root, in ticks."""
        term = self.value_index >= 0
        return int(self.depth[term].max())


def build_process(rewards: RewardGrid, root: int, successors: Sequence, value_index: Sequence,
                  labels: Sequence = (), tol: float = 1e-9) -> SampleProcess:
    """Validate a process and compute node depths; errors name the offending node."""
    n = len(successors)
    vi = np.asarray(value_index, dtype=np.int64)
    lab = tuple(labels) if labels else tuple(range(n))
    name = lambda k: f"node {lab[k]!r}"  # noqa: E731
    if vi.shape != (n,):
        raise ProcessError(f"value_index has {vi.size} entries for {n} nodes")
    if not 0 <= root < n:
        raise ProcessError(f"root {root} is not a node")
    succ = []
    for k in range(n):
        s = tuple((int(m), float(p)) for m, p in successors[k])
        if vi[k] >= 0:
            if s:
                raise ProcessError(f"{name(k)} is terminal (has a value) but also has transitions")
            if vi[k] >= rewards.size:
                raise ProcessError(f"{name(k)} has reward index {vi[k]} off the grid")
        else:
            if not s:
                raise ProcessError(f"{name(k)} has neither a value nor transitions")
            probs = np.array([p for _, p in s])
            if not np.all(np.isfinite(probs)) or np.any(probs < 0):
                raise ProcessError(f"{name(k)} has a negative or NaN transition probability")
            if abs(probs.sum() - 1.0) > tol:
                raise ProcessError(f"{name(k)}: transition probabilities sum to {probs.sum():.12g}, not 1")
            for m, _ in s:
                if not 0 <= m < n:
                    raise ProcessError(f"{name(k)} points to a node that does not exist")
            if len({m for m, _ in s}) != len(s):
                raise ProcessError(f"{name(k)} lists the same successor twice")
        succ.append(s)
    if vi[root] >= 0:
        raise ProcessError(f"root {name(root)} is terminal: a sample must take at least one tick")
    # Cycles first (Kahn's algorithm over the nodes reachable from the root) ...
    reach = {root}
    stack = [root]
    while stack:
        k = stack.pop()
        for m, _ in succ[k]:
            if m not in reach:
                reach.add(m)
                stack.append(m)
    indeg = {k: 0 for k in reach}
    for k in reach:
        for m, _ in succ[k]:
            indeg[m] += 1
    ready = [k for k in reach if indeg[k] == 0]
    done = 0
    while ready:
        k = ready.pop()
        done += 1
        for m, _ in succ[k]:
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    if done < len(reach):
        on_cycle = min((k for k in reach if indeg[k] > 0), key=lambda k: str(lab[k]))
        raise ProcessError(f"{name(on_cycle)} lies on a cycle: worlds must be acyclic")
    # ... then layering: every node is reached after one fixed number of ticks.
    depth = np.full(n, -1, dtype=np.int64)
    depth[root] = 0
    frontier = [root]
    while frontier:
        nxt = []
        for k in frontier:
            for m, _ in succ[k]:
                if depth[m] < 0:
                    depth[m] = depth[k] + 1
                    nxt.append(m)
                elif depth[m] != depth[k] + 1:
                    raise ProcessError(f"{name(m)} is reached after both {depth[m]} and {depth[k] + 1} "
                                       f"ticks (via {name(k)}): worlds must be layered, one tick "
                                       "per transition")
        frontier = nxt
    unreachable = [lab[k] for k in range(n) if depth[k] < 0]
    if unreachable:
        raise ProcessError(f"node {unreachable[0]!r} is unreachable from the root")
    return SampleProcess(rewards=rewards, root=int(root), successors=tuple(succ), value_index=vi,
                         depth=depth, labels=lab)


def exact_joints(process: SampleProcess, max_ticks: int | None = None) -> np.ndarray:
    """Exact joint ``p(v, l | n)`` of every node on the tick-exact grid.

    Returns ``(n_nodes, B, T)``; bin ``l`` means ``l + 1`` more ticks. Terminal nodes get
    all-zero rows (they have nothing left to predict).
    Backward recursion: ``p(v, l | n) = sum_m P(n -> m) p(v, l - 1 | m)``, with a terminal
    successor contributing ``(its value, 1 tick)``.
    """
    T = process.max_ticks if max_ticks is None else int(max_ticks)
    B = process.rewards.size
    out = np.zeros((process.n_nodes, B, T))
    for k in np.argsort(-process.depth, kind="stable"):
        if process.is_terminal(k):
            continue
        for m, p in process.successors[k]:
            if process.is_terminal(m):
                out[k, process.value_index[m], 0] += p
            else:
                out[k, :, 1:] += p * out[m, :, :-1]
    return out


# --------------------------------------------------------------------------- meta-states


@dataclass(frozen=True)
class MetaState:
    """Samples of one question: unfinished nodes and finished (terminal) nodes, sorted."""

    unfinished: tuple
    finished: tuple

    @property
    def n_created(self) -> int:
        return len(self.unfinished) + len(self.finished)


def canonical(unfinished, finished) -> MetaState:
    return MetaState(tuple(sorted(unfinished)), tuple(sorted(finished)))


def floor_index(process: SampleProcess, state: MetaState) -> int:
    if not state.finished:
        return 0
    return int(max(process.value_index[n] for n in state.finished))


def _advance_outcomes(process: SampleProcess, movers: Sequence[int]):
    """Joint distribution of the movers' next nodes: yields (next_nodes, probability)."""
    choices = [process.successors[n] for n in movers]
    for combo in itertools.product(*choices):
        p = 1.0
        for _, q in combo:
            p *= q
        if p > 0.0:
            yield tuple(m for m, _ in combo), p


def step_distribution(process: SampleProcess, state: MetaState, movers_idx: Sequence[int],
                      new_nodes: Sequence[int], max_outcomes: int = DEFAULT_MAX_STATES) -> dict:
    """Next-state distribution when the unfinished samples at ``movers_idx`` and new samples
    started at ``new_nodes`` each advance one tick."""
    stay = [n for i, n in enumerate(state.unfinished) if i not in set(movers_idx)]
    movers = [state.unfinished[i] for i in movers_idx] + list(new_nodes)
    _check_outcomes(process, movers, max_outcomes, "one step")
    dist: dict = {}
    for nxt, p in _advance_outcomes(process, movers):
        unf = list(stay)
        fin = list(state.finished)
        for m in nxt:
            (fin if process.is_terminal(m) else unf).append(m)
        s = canonical(unf, fin)
        dist[s] = dist.get(s, 0.0) + p
    return dist


# --------------------------------------------------------------------------- problems


Predictor = Callable[[int], np.ndarray]


@dataclass
class ExactProblem:
    """One question for exact evaluation.

    ``components``: ``[(weight, SampleProcess)]`` (one entry with weight 1 for independent
    samples; several for a shared latent). ``start``: the starting meta-state. ``d_objective``:
    the normaliser ``D`` of the *true* objective (fixed per question). ``predict(node)`` gives
    the joint the planner sees for a sample at ``node`` on ``config.lengths``;
    ``predict_root`` the one for a fresh sample.
    """

    components: list
    start: MetaState
    config: PlannerConfig
    d_objective: float
    predict: Predictor
    predict_root: np.ndarray

    @property
    def process(self) -> SampleProcess:
        return self.components[0][1]

    def epoch_cost(self, n_advanced: int) -> float:
        if n_advanced == 0:
            return 0.0
        c = self.config
        return c.beta / self.d_objective * (c.alpha * n_advanced + (1.0 - c.alpha))


def planning_state(problem: ExactProblem, state: MetaState) -> PlanningState:
    proc = problem.process
    B, L = problem.config.rewards.size, problem.config.lengths.size
    joints = (np.array([problem.predict(n) for n in state.unfinished]) if state.unfinished
              else np.zeros((0, B, L)))
    return PlanningState(joints=joints, root_joint=problem.predict_root,
                         floor_index=floor_index(proc, state), n_created=state.n_created,
                         elapsed=np.array([proc.depth[n] for n in state.unfinished], dtype=np.float64),
                         finished_lengths=np.array([proc.depth[n] for n in state.finished],
                                                   dtype=np.float64))


def ziprc_policy(problem: ExactProblem, fixed_normalizer: float | None = None):
    """ZIP-RC as a callback ``state -> Decision`` for :func:`policy_value`.

    With the ``fixed`` normaliser, ``D`` is the planner's own estimate from its root
    prediction, computed once per question; ``state`` recomputes it each epoch; ``raw`` is 1.
    """
    cfg = problem.config
    if cfg.normalizer == "fixed" and fixed_normalizer is None:
        from .planner import fixed_normalizer as _fixed
        fixed_normalizer = _fixed(problem.predict_root, cfg.lengths)

    def decide(state: MetaState) -> Decision:
        ps = planning_state(problem, state)
        return plan(ps, cfg, normalizer=fixed_normalizer if cfg.normalizer == "fixed" else None)

    return decide


def _movers(problem: ExactProblem, state: MetaState, strategy: Strategy):
    src_node = (problem.process.root if strategy.branch_from is None
                else state.unfinished[strategy.branch_from])
    return list(strategy.keep), [src_node] * int(strategy.new)


def policy_value(problem: ExactProblem, decide: Callable, max_states: int = DEFAULT_MAX_STATES,
                 state_values: dict | None = None, with_time: bool = False,
                 decisions: dict | None = None) -> tuple[float, int]:
    """Exact expected return of a meta-policy from ``problem.start``.

    The return is the best finished value at stop minus the epoch costs under the true
    objective. For a mixture, the policy (which sees only nodes) is evaluated in each
    component and the values are averaged with the component weights.
    Returns ``(value, number of meta-states visited)``.

    ``state_values`` (a dict, independent samples only) receives the policy's value at every
    meta-state it reaches: the theorem holds at each of them, not only at the start.
    ``with_time``: ``decide(state, t)`` also gets the epochs since the start and values are
    memoised per ``(state, t)`` (a policy with a clock, e.g. a strategy executed literally).
    ``decisions`` (a dict) caches ``decide`` across calls. More than ``max_states`` states or
    one step with more outcomes raises :class:`StateLimitError`.
    """
    total = 0.0
    visited = 0
    decisions = {} if decisions is None else decisions
    if state_values is not None and len(problem.components) != 1:
        raise ValueError("state_values needs independent samples (a single component)")
    for weight, proc in problem.components:
        memo: dict = {}

        def value(state: MetaState, t: int) -> float:
            key = (state, t) if with_time else state
            if key in memo:
                return memo[key]
            dec = decisions.get(key)
            if dec is None:
                dec = decide(state, t) if with_time else decide(state)
                decisions[key] = dec
            strat = dec.strategy
            if strat.is_stop:
                v = float(problem.config.rewards.values[floor_index(proc, state)])
            else:
                movers, new_nodes = _movers(problem, state, strat)
                v = -problem.epoch_cost(len(movers) + len(new_nodes))
                for s2, p in step_distribution(proc, state, movers, new_nodes, max_states).items():
                    v += p * value(s2, t + 1)
            memo[key] = v
            if len(memo) > max_states:
                raise _limit_error("the policy", len(memo), max_states)
            return v

        total += weight * value(problem.start, 0)
        visited += len(memo)
        if state_values is not None:
            state_values.update(memo)
    return total, visited


def literal_policy(problem: ExactProblem, strategy: Strategy, start: MetaState | None = None):
    """A predefined strategy executed literally, as a policy with a clock for
    ``policy_value(..., with_time=True)``: advance the kept samples and start the new ones at
    ``t = 0``, then advance whatever of them still runs, and stop at the horizon or when all
    have finished. (An oracle: its value must equal :func:`executed_strategy_value`.)

    The paused samples (unfinished, not kept) never move, so the running ones at time ``t``
    are the unfinished nodes minus the paused multiset: two samples at one node are
    interchangeable, so the multiset difference names the running samples correctly."""
    start = problem.start if start is None else start
    horizon = problem.config.lengths.horizon_ticks[strategy.horizon_index]
    paused = [n for i, n in enumerate(start.unfinished) if i not in set(strategy.keep)]
    stop = Strategy(keep=(), new=0, horizon_index=problem.config.lengths.size - 1)

    def decide(state: MetaState, t: int) -> Decision:
        if t == 0:
            if state != start:
                raise ValueError("literal_policy was built for another start state")
            return Decision(strategy=strategy, q=float("nan"), normalizer=float("nan"))
        if t >= horizon:
            return Decision(strategy=stop, q=float("nan"), normalizer=float("nan"))
        left = list(paused)
        keep = []
        for i, n in enumerate(state.unfinished):
            if n in left:
                left.remove(n)
            else:
                keep.append(i)
        s = Strategy(keep=tuple(keep), new=0, horizon_index=strategy.horizon_index) if keep else stop
        return Decision(strategy=s, q=float("nan"), normalizer=float("nan"))

    return decide


def executed_strategy_value(problem: ExactProblem, strategy: Strategy,
                            state: MetaState | None = None,
                            max_states: int = DEFAULT_MAX_STATES) -> float:
    """A predefined strategy executed literally, enumerating every outcome tick by tick.

    The kept samples and the new ones run in parallel; each stops when it finishes; any
    still running when ``horizon`` ticks have elapsed is pruned (reward 0); the answer is
    the best finished value. Costs are those of the true objective.
    """
    state = problem.start if state is None else state
    cfg = problem.config
    horizon = cfg.lengths.horizon_ticks[strategy.horizon_index]
    total = 0.0
    for weight, proc in problem.components:
        floor = floor_index(proc, state)
        if strategy.is_stop:
            total += weight * float(cfg.rewards.values[floor])
            continue
        movers, new_nodes = _movers(problem, state, strategy)
        # configuration: tuple of running nodes; track the best finished value index
        dist = {(tuple(sorted([state.unfinished[i] for i in movers] + new_nodes)), floor): 1.0}
        value = 0.0
        t = 0
        while dist:
            t += 1
            nxt: dict = {}
            if len(dist) > max_states:
                raise _limit_error("a strategy", len(dist), max_states)
            for (running, best), p in dist.items():
                value -= p * problem.epoch_cost(len(running))
                _check_outcomes(proc, running, max_states, "a strategy")
                for moved, q in _advance_outcomes(proc, running):
                    b = best
                    still = []
                    for m in moved:
                        if proc.is_terminal(m):
                            b = max(b, int(proc.value_index[m]))
                        else:
                            still.append(m)
                    if not still or t >= horizon:
                        value += p * q * float(cfg.rewards.values[b])
                    else:
                        key = (tuple(sorted(still)), b)
                        nxt[key] = nxt.get(key, 0.0) + p * q
            dist = nxt
        total += weight * value
    return total


# --------------------------------------------------------------------------- optimal policy


def _all_actions(problem: ExactProblem, state: MetaState):
    """Every non-empty action: a sub-multiset of the unfinished samples to advance plus any
    multiset of new samples (fresh from the root or branched from an unfinished prefix)."""
    cfg = problem.config
    max_new = max(0, cfg.cap - state.n_created)
    root = problem.process.root
    sources = [root] + (sorted(set(state.unfinished)) if cfg.branching else [])
    # group identical unfinished nodes: which copy is advanced does not matter
    groups: dict = {}
    for i, n in enumerate(state.unfinished):
        groups.setdefault(n, []).append(i)
    group_lists = list(groups.values())
    keep_choices = [range(len(g) + 1) for g in group_lists]
    new_choices = list(_compositions(max_new, len(sources)))
    for counts in itertools.product(*keep_choices):
        movers = [idx for g, c in zip(group_lists, counts) for idx in g[:c]]
        for nc in new_choices:
            new_nodes = [src for src, c in zip(sources, nc) for _ in range(c)]
            if movers or new_nodes:
                yield movers, new_nodes


def _compositions(total_max: int, parts: int):
    """All tuples of ``parts`` non-negative ints summing to at most ``total_max``."""
    if parts == 0:
        yield ()
        return
    for first in range(total_max + 1):
        for rest in _compositions(total_max - first, parts - 1):
            yield (first,) + rest


def _count_actions(problem: ExactProblem, state: MetaState) -> int:
    """How many actions :func:`_all_actions` yields at ``state`` (without listing them)."""
    from math import comb

    max_new = max(0, problem.config.cap - state.n_created)
    n_src = 1 + (len(set(state.unfinished)) if problem.config.branching else 0)
    keep = 1
    for n in set(state.unfinished):
        keep *= state.unfinished.count(n) + 1
    return keep * comb(max_new + n_src, n_src)


def optimal_value(problem: ExactProblem, max_states: int = 500_000) -> tuple[float, int]:
    """Value of the optimal meta-policy at ``problem.start`` by backward induction.

    Only for independent samples (one component). Returns ``(value, states)``.
    """
    if len(problem.components) != 1:
        raise ValueError("optimal_value needs independent samples (a single component)")
    proc = problem.process
    values = problem.config.rewards.values
    memo: dict = {}

    def key(state: MetaState):
        # with a fixed objective only the best finished value and the count matter
        return (state.unfinished, floor_index(proc, state), len(state.finished))

    def value(state: MetaState) -> float:
        k = key(state)
        if k in memo:
            return memo[k]
        best = float(values[floor_index(proc, state)])
        n_act = _count_actions(problem, state)
        if n_act > max_states:
            raise _limit_error("the optimal policy", n_act, max_states)
        for movers, new_nodes in _all_actions(problem, state):
            v = -problem.epoch_cost(len(movers) + len(new_nodes))
            for s2, p in step_distribution(proc, state, movers, new_nodes, max_states).items():
                v += p * value(s2)
            if v > best:
                best = v
        memo[k] = best
        if len(memo) > max_states:
            raise _limit_error("the optimal policy", len(memo), max_states)
        return best

    return value(problem.start), len(memo)


def optimal_value_discrete_dp(problem: ExactProblem, max_states: int = 200_000) -> float:
    """The optimal value from QuantEcon's ``DiscreteDP`` (finite-horizon backward induction).

    Builds the reachable meta-MDP explicitly (states keyed like :func:`optimal_value`, an
    absorbing terminal state, stop = move to it collecting the best finished value) and
    solves it with ``quantecon.markov.ddp.backward_induction`` at discount 1.
    """
    import scipy.sparse as sp
    from quantecon.markov import DiscreteDP
    from quantecon.markov.ddp import backward_induction

    proc = problem.process
    values = problem.config.rewards.values

    def key(state: MetaState):
        return (state.unfinished, floor_index(proc, state), len(state.finished))

    index: dict = {}
    reps: list = []
    index[key(problem.start)] = 0
    reps.append(problem.start)
    rows_s, rows_a, rewards, trans = [], [], [], []
    head = 0
    while head < len(reps):
        state = reps[head]
        s = head
        head += 1
        # action 0: stop
        rows_s.append(s)
        rows_a.append(0)
        rewards.append(float(values[floor_index(proc, state)]))
        trans.append({-1: 1.0})
        for a, (movers, new_nodes) in enumerate(_all_actions(problem, state), start=1):
            row = {}
            for s2, p in step_distribution(proc, state, movers, new_nodes).items():
                k2 = key(s2)
                if k2 not in index:
                    index[k2] = len(reps)
                    reps.append(s2)
                    if len(reps) > max_states:
                        raise _limit_error("the DiscreteDP cross-check", len(reps), max_states)
                row[index[k2]] = row.get(index[k2], 0.0) + p
            rows_s.append(s)
            rows_a.append(a)
            rewards.append(-problem.epoch_cost(len(movers) + len(new_nodes)))
            trans.append(row)
    n = len(reps) + 1  # + absorbing terminal state
    term = n - 1
    rows_s.append(term)
    rows_a.append(0)
    rewards.append(0.0)
    trans.append({term: 1.0})
    data, ri, ci = [], [], []
    for r, row in enumerate(trans):
        for c, p in row.items():
            ri.append(r)
            ci.append(term if c == -1 else c)
            data.append(p)
    Q = sp.csr_matrix((data, (ri, ci)), shape=(len(trans), n))
    ddp = DiscreteDP(np.array(rewards), Q, 1.0, np.array(rows_s), np.array(rows_a))
    # Every advance moves a sample one tick deeper, so no path is longer than this.
    horizon = problem.config.cap * proc.max_ticks + 2
    vs, _ = backward_induction(ddp, horizon)
    return float(vs[0, 0])
