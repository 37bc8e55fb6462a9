"""Exact checks of the dominance theorem (spec section 4) and of where it stops holding
(section 6), on random chain worlds.

For every instance we compute, with exact enumeration:

* ``W``: the best predefined strategy's value at the starting state under the truth
  (exhaustive class, tick-exact horizons, fixed ``D``);
* ``V_ZIPRC`` for each planner variant (what it sees may be wrong; it is always scored
  under the truth);
* ``V*``: the optimal meta-policy (independent samples only).

The theorem says ``V* >= V_ZIPRC >= W`` for the ``exact`` variant; the other variants each
break one assumption.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from metamdp.exact import (DEFAULT_MAX_STATES, ExactProblem, MetaState, _movers, floor_index,
                           executed_strategy_value, exact_joints, literal_policy, optimal_value,
                           planning_state, policy_value, step_distribution, ziprc_policy)
from metamdp.grids import LengthGrid
from metamdp.joints import rebin_lengths
from metamdp.planner import PlannerConfig, enumerate_strategies, fixed_normalizer, plan
from metamdp.recourse import plan_recourse

from .chain_world import ChainWorld, WorldShape, random_world

VARIANTS = ("exact", "two_prefix", "top_k_value", "state_normalizer", "binned_lengths",
            "miscalibrated", "dependent_samples", "authors_planner", "recourse")
VARIANT_HELP = {
    "exact": "exhaustive search, fixed D, exact predictions (the theorem's setting)",
    "two_prefix": "the authors' two-prefix search (not closed under continuation)",
    "top_k_value": "kept sets restricted to the top-k samples by expected value",
    "state_normalizer": "D recomputed from the current state each epoch (authors' code)",
    "binned_lengths": "planner sees coarse length bins with midpoints (geometric edges)",
    "miscalibrated": "planner sees tempered, optimistic, noisy predictions",
    "dependent_samples": "a shared latent per question; planner assumes independence",
    "authors_planner": "the authors' research simulator's planner (PlannerConfig.authors)",
    "recourse": "the recourse planner (two-stage strategies) against the best two-stage strategy",
}
#: the variants in which the theorem holds (a violation there is a bug)
HOLDING = ("exact", "recourse")
VIOLATION_TOL = 1e-9


@dataclass(frozen=True)
class Instance:
    """One random question with its objective."""

    world: ChainWorld
    cap: int
    alpha: float
    beta: float
    seed: int
    # dependent-samples variant: one tree, two transition laws (the shared latent)
    tree_world: ChainWorld | None = None
    tree_world_alt: ChainWorld | None = None
    alt_weight: float = 0.5


MAX_INSTANCE_REDRAWS = 100


def random_instance(seed: int, shape: WorldShape | None = None, max_depth: int = 4,
                    max_samples: int = 4, degenerate: bool = False) -> Instance:
    """A random instance; everything derives from ``seed``.

    ``max_depth`` bounds the ticks a sample can take; ``max_samples`` the samples already in
    progress at the start (the cap allows one or two more).

    By default the instance is non-degenerate, so that the theorem has something to bite on:
    layers at least 2 wide, at least two distinct terminal values, samples in progress only
    where the future is still open, in groups on shared prefixes (so branching is a real
    choice), sometimes a finished sample (a floor), a cap allowing at least two samples, and
    ``W`` above the value of stopping now. Instances that miss are redrawn from the same
    generator. ``degenerate=True`` gives the earlier unconstrained generator (single paths,
    all-zero worlds, immediate stops: the cases the theorem holds trivially).
    """
    if max_depth < 2:
        raise ValueError(f"max_depth must be >= 2, got {max_depth}")
    if max_samples < 0:
        raise ValueError(f"max_samples must be >= 0, got {max_samples}")
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    if degenerate:
        return _draw_instance(seed, rng, shape, max_depth, max_samples, True)
    for _ in range(MAX_INSTANCE_REDRAWS):
        inst = _draw_instance(seed, rng, shape, max_depth, max_samples, False)
        truth = exact_problem(inst.world, inst.cap, inst.alpha, inst.beta)
        w, strat = best_strategy(truth)
        if not strat.is_stop:  # W above stopping now: there is a plan to re-plan
            return inst
    raise ValueError(f"seed {seed}: no non-degenerate instance in {MAX_INSTANCE_REDRAWS} draws")


def _draw_instance(seed, rng, shape, max_depth, max_samples, degenerate) -> Instance:
    if degenerate:
        shape = shape or WorldShape(
            max_depth=int(rng.integers(2, max_depth + 1)), width=int(rng.integers(1, 4)),
            branching=2, terminal_prob=float(rng.uniform(0.2, 0.5)),
            values=(0.0, 1.0) if rng.random() < 0.6 else (0.0, 0.5, 1.0),
            max_samples_in_progress=int(rng.integers(0, max_samples + 1)))
    else:
        shape = shape or WorldShape(
            max_depth=int(rng.integers(2, max_depth + 1)), width=int(rng.integers(2, 4)),
            branching=2, terminal_prob=float(rng.uniform(0.2, 0.5)),
            values=(0.0, 1.0) if rng.random() < 0.6 else (0.0, 0.5, 1.0),
            max_samples_in_progress=int(rng.integers(0, max_samples + 1)),
            min_width=2, min_distinct_values=2, informative_samples=True, shared_prefix=True,
            max_finished=1 if rng.random() < 0.25 else 0)
    world = random_world(None, shape, rng=rng)
    n_created = len(world.samples)
    if degenerate:
        cap = max(1, n_created + int(rng.integers(0, 3)))  # 0: the cap is already reached
    else:
        cap = max(2, n_created + int(rng.integers(0, 3)))
    alpha = float(np.round(rng.uniform(0, 1), 3))
    beta = float(np.round(rng.uniform(0, 1.2), 3))
    tree_shape = replace(shape, tree=True, max_depth=min(shape.max_depth, 3))
    tree = random_world(None, tree_shape, rng=rng)
    tree = ChainWorld.from_dict({k: v for k, v in tree.to_dict().items() if k != "samples"})
    alt = _redraw_probabilities(tree, rng)
    return Instance(world=world, cap=cap, alpha=alpha, beta=beta, seed=int(seed),
                    tree_world=tree, tree_world_alt=alt,
                    alt_weight=float(np.round(rng.uniform(0.3, 0.7), 3)))


def instance_to_dict(inst: Instance) -> dict:
    """JSON form of an instance (regression examples are stored this way)."""
    return {"seed": inst.seed, "cap": inst.cap, "alpha": inst.alpha, "beta": inst.beta,
            "world": inst.world.to_dict(),
            "tree_world": inst.tree_world.to_dict() if inst.tree_world else None,
            "tree_world_alt": inst.tree_world_alt.to_dict() if inst.tree_world_alt else None,
            "alt_weight": inst.alt_weight}


def instance_from_dict(d: dict) -> Instance:
    tw = d.get("tree_world")
    ta = d.get("tree_world_alt")
    return Instance(world=ChainWorld.from_dict(d["world"]), cap=int(d["cap"]),
                    alpha=float(d["alpha"]), beta=float(d["beta"]), seed=int(d["seed"]),
                    tree_world=ChainWorld.from_dict(tw) if tw else None,
                    tree_world_alt=ChainWorld.from_dict(ta) if ta else None,
                    alt_weight=float(d.get("alt_weight", 0.5)))


def _redraw_probabilities(world: ChainWorld, rng) -> ChainWorld:
    nodes = []
    for node in world.nodes:
        node = dict(node)
        if "next" in node:
            kids = [m for m, _ in node["next"]]
            p = rng.dirichlet(np.full(len(kids), 0.7))
            p = np.round(p, 6)
            p[-1] = 1.0 - p[:-1].sum()
            if p[-1] < 0:
                p = np.full(len(kids), 1.0 / len(kids))
            node["next"] = [[m, float(q)] for m, q in zip(kids, p)]
        nodes.append(node)
    d = world.to_dict()
    d["nodes"] = nodes
    return ChainWorld.from_dict(d)


# --------------------------------------------------------------------------- predictions


def corrupt_joint(p: np.ndarray, temperature: float, optimism: float, noise: float,
                  rng: np.random.Generator) -> np.ndarray:
    """A miscalibrated prediction: tempered, mass shifted to higher rewards, noise mixed in."""
    q = np.where(p > 0, p, 0.0) ** (1.0 / temperature)
    q = q / q.sum()
    if optimism > 0:
        shifted = q.copy()
        shifted[:-1] -= optimism * q[:-1]
        shifted[1:] += optimism * q[:-1]
        q = shifted
    if noise > 0:
        support = p.sum(axis=0) > 0  # only lengths that can happen: keep it plausible
        z = rng.dirichlet(np.ones(q.size)).reshape(q.shape) * support[None, :]
        q = (1 - noise) * q + noise * z / z.sum()
    return q / q.sum()


def coarse_tick_grid(max_ticks: int, delta: int = 64) -> LengthGrid:
    """Geometric length bins in ticks (1, 2-3, 4-7, ...), the chain-world analogue of the
    official token edges: representatives are midpoints, horizons fall on bin edges."""
    edges = [1]
    while edges[-1] <= max_ticks:
        edges.append(edges[-1] * 2)
    return LengthGrid.binned([e * delta for e in edges], delta=delta)


# --------------------------------------------------------------------------- evaluation


@dataclass
class InstanceResult:
    """Exact results of one variant on one instance.

    ``best_strategy_value`` / ``v_ziprc``: ``W`` and ``V_ZIPRC`` at the start state.
    ``state_margin``: the smallest ``V_ZIPRC(s) - W(s)`` over the ``states_checked``
    meta-states ZIP-RC can reach (the theorem holds at each; start state only for dependent
    samples, whose ``W(s)`` would need the posterior over the shared latent).
    ``informative``: re-planning changes ZIP-RC's action at some reachable state compared
    with executing its first plan literally (for ``exact`` that plan is the best strategy).
    Without that, ``V_ZIPRC = W`` holds trivially.
    """

    seed: int
    variant: str
    best_strategy_value: float
    v_ziprc: float
    v_optimal: float | None
    states: int
    states_checked: int = 1
    state_margin: float | None = None
    informative: bool = False
    worst_state: MetaState | None = None

    @property
    def margin(self) -> float:
        """The worst ``V_ZIPRC(s) - W(s)`` over the checked states (the start included)."""
        m = self.v_ziprc - self.best_strategy_value
        return m if self.state_margin is None else min(m, self.state_margin)

    @property
    def start_margin(self) -> float:
        return self.v_ziprc - self.best_strategy_value

    @property
    def violated(self) -> bool:
        return self.margin < -VIOLATION_TOL

    @property
    def gap_to_optimal(self) -> float | None:
        return None if self.v_optimal is None else self.v_optimal - self.v_ziprc


def exact_problem(world: ChainWorld, cap: int, alpha: float, beta: float,
                  search: str = "exhaustive", normalizer: str = "fixed", branching: bool = True
                  ) -> ExactProblem:
    """The exact problem of a world with exact predictions on the tick-exact grid."""
    proc = world.process
    joints = exact_joints(proc)
    lengths = LengthGrid.ticks(joints.shape[2])
    cfg = PlannerConfig(proc.rewards, lengths, alpha=alpha, beta=beta, cap=cap, search=search,
                        normalizer=normalizer, branching=branching)
    root = joints[proc.root]
    d_obj = 1.0 if normalizer == "raw" else fixed_normalizer(root, lengths)
    return ExactProblem(components=[(1.0, proc)], start=world.start_state(), config=cfg,
                        d_objective=d_obj, predict=lambda n: joints[n], predict_root=root)


def best_strategy(problem: ExactProblem, state: MetaState | None = None):
    """``W`` and its strategy at ``state`` (default: the start): exhaustive closed form under
    exact predictions (tick-exact, independent samples, where closed form = executed value).
    The problem's own objective (fixed ``D``, cap, branching) defines the class."""
    d = problem.d_objective
    cfg = replace(problem.config, search="exhaustive", normalizer="fixed", prune_charge="edge",
                  ordering="ours")
    dec = plan(planning_state(problem, problem.start if state is None else state), cfg,
               normalizer=d)
    return dec.q, dec.strategy


def best_two_stage(problem: ExactProblem, state: MetaState | None = None):
    """``W`` of the two-stage class (:mod:`metamdp.recourse`) and its strategy at ``state``:
    the recourse planner's exhaustive closed form under exact predictions, fixed ``D``."""
    cfg = replace(problem.config, search="exhaustive", normalizer="fixed", prune_charge="edge",
                  ordering="ours")
    dec = plan_recourse(planning_state(problem, problem.start if state is None else state), cfg,
                        normalizer=problem.d_objective)
    return dec.q, dec.plan


def recourse_policy(problem: ExactProblem):
    """The recourse planner as a callback ``state -> Decision`` for :func:`policy_value`
    (fixed ``D`` from its root prediction, as :func:`metamdp.exact.ziprc_policy`)."""
    cfg = problem.config
    d = fixed_normalizer(problem.predict_root, cfg.lengths)

    def decide(state: MetaState):
        return plan_recourse(planning_state(problem, state), cfg, normalizer=d)

    return decide


def _action_nodes(problem: ExactProblem, state: MetaState, strategy) -> tuple:
    """What an action physically does: the nodes advanced and the nodes new samples start at."""
    movers, new_nodes = _movers(problem, state, strategy)
    return (tuple(sorted(state.unfinished[i] for i in movers)), tuple(sorted(new_nodes)))


def replanning_matters(problem: ExactProblem, decide, decisions: dict | None = None) -> bool:
    """True when ZIP-RC's action differs, at some state it reaches, from what executing its
    first plan literally would do there (a depth-first walk while the two agree)."""
    decisions = {} if decisions is None else decisions

    def zip_decision(state):
        d = decisions.get(state)
        if d is None:
            d = decisions[state] = decide(state)
        return d

    first = zip_decision(problem.start).strategy
    literal = literal_policy(problem, first)
    proc = problem.process
    stack = [(problem.start, 0)]
    seen = set()
    while stack:
        state, t = stack.pop()
        if (state, t) in seen:
            continue
        seen.add((state, t))
        zs = zip_decision(state).strategy
        ls = literal(state, t).strategy
        if _action_nodes(problem, state, zs) != _action_nodes(problem, state, ls):
            return True
        if zs.is_stop:
            continue
        movers, new_nodes = _movers(problem, state, zs)
        for s2 in step_distribution(proc, state, movers, new_nodes):
            stack.append((s2, t + 1))
    return False


def replanning_matters_two_stage(problem: ExactProblem, decide, decisions: dict | None = None
                                 ) -> bool:
    """:func:`replanning_matters` for the recourse planner: its first two-stage plan executed
    literally (stage 1 until every sample it runs has finished or reached its horizon, then
    stage 2 from the root if the best finished value is below ``tau``), walked with that
    plan's own bookkeeping (which nodes it runs, since when) while the two agree."""
    decisions = {} if decisions is None else decisions

    def dec(state):
        d = decisions.get(state)
        if d is None:
            d = decisions[state] = decide(state)
        return d

    proc = problem.process
    ticks = problem.config.lengths.horizon_ticks
    plan0 = dec(problem.start).plan
    first = plan0.first
    if first.is_stop:
        return False
    movers0, new0 = _movers(problem, problem.start, first)
    # entries: (state, ticks into this stage, stage, nodes the literal plan runs, action)
    stack = [(problem.start, 0, 1, None)]
    seen = set()
    while stack:
        state, t, stage, running = stack.pop()
        key = (state, t, stage, running)
        if key in seen:
            continue
        seen.add(key)
        if running is None:  # the first epoch: the plan's own first action
            moved, new_nodes = (tuple(sorted(state.unfinished[i] for i in movers0)),
                                tuple(sorted(new0)))
            nxt_stage, hz = 1, ticks[first.horizon_index]
        elif running and t < (ticks[first.horizon_index] if stage == 1
                              else ticks[plan0.horizon2_index]):
            moved, new_nodes, nxt_stage = running, (), stage
            hz = None
        elif (stage == 1 and plan0.has_second_stage
              and floor_index(proc, state) < plan0.tau_index):
            moved, new_nodes, nxt_stage, t = (), (proc.root,) * plan0.new2, 2, 0
        else:
            moved, new_nodes, nxt_stage = (), (), 0  # stop
        zs = dec(state).strategy
        if _action_nodes(problem, state, zs) != (tuple(sorted(moved)), tuple(sorted(new_nodes))):
            return True
        if nxt_stage == 0:
            continue
        left = list(state.unfinished)
        idx = []
        for node in moved:
            k = next(i for i, u in enumerate(left) if u == node and i not in idx)
            idx.append(k)
        stay = [u for i, u in enumerate(state.unfinished) if i not in idx]
        for s2 in step_distribution(proc, state, idx, list(new_nodes)):
            run = list(s2.unfinished)
            for u in stay:
                run.remove(u)
            stack.append((s2, t + 1, nxt_stage, tuple(sorted(run))))
    return False


def check_all_states(truth: ExactProblem, state_values: dict, w_cache: dict, best=best_strategy):
    """``min_s V_ZIPRC(s) - W(s)`` over the reachable states, that state, and how many were
    checked. ``w_cache`` keeps ``W(s)`` per state across the variants of one instance;
    ``best`` computes ``W`` (:func:`best_two_stage` for the two-stage class)."""
    worst, worst_state = np.inf, None
    for state, v in state_values.items():
        w = w_cache.get(state)
        if w is None:
            w = w_cache[state] = best(truth, state)[0]
        if v - w < worst:
            worst, worst_state = v - w, state
    return float(worst), worst_state, len(state_values)


def evaluate(instance: Instance, variant: str, with_optimal: bool = True,
             optimal_cache: dict | None = None, w_cache: dict | None = None,
             max_states: int = DEFAULT_MAX_STATES) -> InstanceResult:
    """Exact ``W``, ``V_ZIPRC`` and (for independent samples) ``V*`` for one variant, the
    theorem checked at every meta-state ZIP-RC reaches, and whether re-planning mattered.
    ``w_cache`` (a dict per instance) shares ``W(s)`` between the variants."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    if variant == "dependent_samples":
        return _evaluate_dependent(instance)
    if variant == "recourse":
        return _evaluate_recourse(instance, with_optimal, optimal_cache, w_cache, max_states)
    # the authors' planner never branches: judge it against the class without branching
    branching = variant != "authors_planner"
    truth = exact_problem(instance.world, instance.cap, instance.alpha, instance.beta,
                          branching=branching)
    w, _ = best_strategy(truth)
    if w_cache is not None and not branching:
        w_cache = w_cache.setdefault("no_branching", {})
    problem = truth
    search, normalizer = "exhaustive", "fixed"
    if variant == "two_prefix":
        search = "two-prefix"
    elif variant == "top_k_value":
        search = "top-k"
    elif variant == "state_normalizer":
        normalizer = "state"
    problem = replace(truth, config=replace(truth.config, search=search, normalizer=normalizer))
    if variant == "authors_planner":
        c = truth.config
        problem = replace(truth, config=PlannerConfig.authors(c.rewards, c.alpha, c.beta, c.cap,
                                                              lengths=c.lengths))
    proc = instance.world.process
    joints = exact_joints(proc)
    if variant == "binned_lengths":
        coarse = coarse_tick_grid(joints.shape[2])
        tick = truth.config.lengths
        binned = np.array([rebin_lengths(joints[n], tick, coarse) for n in range(proc.n_nodes)])
        problem = replace(problem, config=replace(problem.config, lengths=coarse),
                          predict=lambda n: binned[n], predict_root=binned[proc.root])
    elif variant == "miscalibrated":
        rng = np.random.default_rng(np.random.SeedSequence([instance.seed, 7]))
        temperature = float(rng.choice([0.5, 2.0]))
        optimism = float(rng.uniform(0.0, 0.4))
        noise = float(rng.uniform(0.0, 0.3))
        bad = np.array([corrupt_joint(joints[n], temperature, optimism, noise, rng)
                        if not proc.is_terminal(n) else joints[n] for n in range(proc.n_nodes)])
        problem = replace(problem, predict=lambda n: bad[n], predict_root=bad[proc.root])
    decide = ziprc_policy(problem)
    decisions: dict = {}
    state_values: dict = {}
    v, states = policy_value(problem, decide, max_states=max_states, state_values=state_values,
                             decisions=decisions)
    worst, worst_state, checked = check_all_states(truth, state_values,
                                                   {} if w_cache is None else w_cache)
    informative = replanning_matters(problem, decide, decisions)
    v_opt = _optimal(instance, with_optimal, optimal_cache)
    return InstanceResult(seed=instance.seed, variant=variant, best_strategy_value=w, v_ziprc=v,
                          v_optimal=v_opt, states=states, states_checked=checked,
                          state_margin=worst, informative=informative, worst_state=worst_state)


def _optimal(instance: Instance, with_optimal: bool, optimal_cache: dict | None):
    """``V*`` of an instance (every action, branching too), cached per seed."""
    if not with_optimal:
        return None
    key = instance.seed
    if optimal_cache is not None and key in optimal_cache:
        return optimal_cache[key]
    v_opt, _ = optimal_value(exact_problem(instance.world, instance.cap, instance.alpha,
                                           instance.beta))
    if optimal_cache is not None:
        optimal_cache[key] = v_opt
    return v_opt


def _evaluate_recourse(instance: Instance, with_optimal: bool, optimal_cache: dict | None,
                       w_cache: dict | None, max_states: int) -> InstanceResult:
    """The ``recourse`` variant: the recourse planner (exhaustive, fixed ``D``, exact
    predictions) against ``W`` of the two-stage class at every state it reaches."""
    truth = exact_problem(instance.world, instance.cap, instance.alpha, instance.beta)
    w, _ = best_two_stage(truth)
    decide = recourse_policy(truth)
    decisions: dict = {}
    state_values: dict = {}
    v, states = policy_value(truth, decide, max_states=max_states, state_values=state_values,
                             decisions=decisions)
    cache = {} if w_cache is None else w_cache.setdefault("two_stage", {})
    worst, worst_state, checked = check_all_states(truth, state_values, cache, best_two_stage)
    return InstanceResult(seed=instance.seed, variant="recourse", best_strategy_value=w, v_ziprc=v,
                          v_optimal=_optimal(instance, with_optimal, optimal_cache), states=states,
                          states_checked=checked, state_margin=worst,
                          informative=replanning_matters_two_stage(truth, decide, decisions),
                          worst_state=worst_state)


def dependent_problem(instance: Instance) -> ExactProblem:
    """Mixture of two transition laws on one tree (a latent drawn once per question).

    The planner sees each sample's exact posterior predictive given its own prefix (the tree
    gives each node a unique path), but plans as if samples were independent. Starts with
    no samples, so the starting state is the same under both laws.
    """
    comps = [(1.0 - instance.alt_weight, instance.tree_world.process),
             (instance.alt_weight, instance.tree_world_alt.process)]
    proc = comps[0][1]
    joint_by = [exact_joints(p, proc.max_ticks) for _, p in comps]
    path_prob = np.ones((2, proc.n_nodes))
    for n in np.argsort(proc.depth, kind="stable"):
        for c, (_, pc) in enumerate(comps):
            for m, p in pc.successors[n]:
                path_prob[c, m] = path_prob[c, n] * p
    weights = np.array([w for w, _ in comps])
    predictions = np.zeros_like(joint_by[0])
    for n in range(proc.n_nodes):
        post = weights * path_prob[:, n]
        if post.sum() > 0:
            post = post / post.sum()
            predictions[n] = post[0] * joint_by[0][n] + post[1] * joint_by[1][n]
    lengths = LengthGrid.ticks(joint_by[0].shape[2])
    cfg = PlannerConfig(proc.rewards, lengths, alpha=instance.alpha, beta=instance.beta,
                        cap=instance.cap, search="exhaustive", normalizer="fixed")
    root = predictions[proc.root]
    return ExactProblem(components=comps, start=MetaState((), ()), config=cfg,
                        d_objective=fixed_normalizer(root, lengths),
                        predict=lambda n: predictions[n], predict_root=root)


def _evaluate_dependent(instance: Instance) -> InstanceResult:
    problem = dependent_problem(instance)
    n_unf = len(problem.start.unfinished)
    w = -math.inf
    for s in enumerate_strategies(n_unf, problem.config, problem.start.n_created):
        w = max(w, executed_strategy_value(problem, s))
    decide = ziprc_policy(problem)
    decisions: dict = {}
    v, states = policy_value(problem, decide, decisions=decisions)
    return InstanceResult(seed=instance.seed, variant="dependent_samples", best_strategy_value=w,
                          v_ziprc=v, v_optimal=None, states=states, states_checked=1,
                          informative=replanning_matters(problem, decide, decisions))


def world_at_state(world: ChainWorld, state: MetaState) -> ChainWorld:
    """The same world with its samples placed as in ``state`` (unfinished and finished), so a
    state reached mid-run can be replayed as a start."""
    labels = world.process.labels
    d = world.to_dict()
    d["samples"] = [{"node": labels[n]} for n in state.unfinished + state.finished]
    return ChainWorld.from_dict(d)


# --------------------------------------------------------------------------- batches


def instance_seed(seed: int, i: int) -> int:
    """Independent, reproducible per-instance seeds (the same as ``ziprc theorem``'s)."""
    return int(np.random.SeedSequence([seed, i]).generate_state(1)[0])


def check_instances(instances: int, seed: int = 0, variants=VARIANTS, max_depth: int = 4,
                    max_samples: int = 4, with_optimal: bool = True, progress: bool = False) -> dict:
    """Evaluate ``instances`` random worlds under every variant, exactly.

    Returns
    -------
    dict
        ``{variant: {"seed": [...], "best_strategy_value": [...], "v_ziprc": [...],
        "v_optimal": [...] (None where not computed), "margin": [...]}}``, one entry per
        instance in order, the worlds being those of ``ziprc theorem --seed seed``.
    """
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        raise ValueError(f"unknown variant {bad[0]!r}; choose from {', '.join(VARIANTS)}")
    if int(instances) < 1:
        raise ValueError(f"instances must be >= 1, got {instances!r}")
    out = {v: {"seed": [], "best_strategy_value": [], "v_ziprc": [], "v_optimal": [], "margin": []}
           for v in variants}
    cache: dict = {}
    it = range(int(instances))
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="theorem", unit="world", mininterval=0.5, leave=False)
    for i in it:
        inst = random_instance(instance_seed(seed, i), max_depth=max_depth, max_samples=max_samples)
        for v in variants:
            r = evaluate(inst, v, with_optimal=with_optimal, optimal_cache=cache)
            d = out[v]
            d["seed"].append(r.seed)
            d["best_strategy_value"].append(r.best_strategy_value)
            d["v_ziprc"].append(r.v_ziprc)
            d["v_optimal"].append(r.v_optimal)
            d["margin"].append(r.margin)
    return out
