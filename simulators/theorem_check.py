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

from metamdp.exact import (ExactProblem, MetaState, executed_strategy_value, exact_joints,
                           optimal_value, planning_state, policy_value, ziprc_policy)
from metamdp.grids import LengthGrid
from metamdp.joints import rebin_lengths
from metamdp.planner import PlannerConfig, enumerate_strategies, fixed_normalizer, plan

from .chain_world import ChainWorld, WorldShape, random_world

VARIANTS = ("exact", "two_prefix", "top_k_value", "state_normalizer", "binned_lengths",
            "miscalibrated", "dependent_samples")
VARIANT_HELP = {
    "exact": "exhaustive search, fixed D, exact predictions (the theorem's setting)",
    "two_prefix": "the authors' two-prefix search (not closed under continuation)",
    "top_k_value": "kept sets restricted to the top-k samples by expected value",
    "state_normalizer": "D recomputed from the current state each epoch (authors' code)",
    "binned_lengths": "planner sees coarse length bins with midpoints (geometric edges)",
    "miscalibrated": "planner sees tempered, optimistic, noisy predictions",
    "dependent_samples": "a shared latent per question; planner assumes independence",
}
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


def random_instance(seed: int, shape: WorldShape | None = None, max_depth: int = 4,
                    max_samples: int = 4) -> Instance:
    """A random instance; everything derives from ``seed``.

    ``max_depth`` bounds the ticks a sample can take; ``max_samples`` the samples already in
    progress at the start (the cap allows one or two more).
    """
    if max_depth < 2:
        raise ValueError(f"max_depth must be >= 2, got {max_depth}")
    if max_samples < 0:
        raise ValueError(f"max_samples must be >= 0, got {max_samples}")
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    shape = shape or WorldShape(
        max_depth=int(rng.integers(2, max_depth + 1)), width=int(rng.integers(1, 4)), branching=2,
        terminal_prob=float(rng.uniform(0.2, 0.5)),
        values=(0.0, 1.0) if rng.random() < 0.6 else (0.0, 0.5, 1.0),
        max_samples_in_progress=int(rng.integers(0, max_samples + 1)))
    world = random_world(None, shape, rng=rng)
    cap = max(1, len(world.samples) + int(rng.integers(0, 3)))  # 0: the cap is already reached
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
    seed: int
    variant: str
    best_strategy_value: float
    v_ziprc: float
    v_optimal: float | None
    states: int

    @property
    def margin(self) -> float:
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


def best_strategy(problem: ExactProblem):
    """``W`` and its strategy: exhaustive closed form under exact predictions (tick-exact,
    independent samples, where closed form = executed value)."""
    d = problem.d_objective
    cfg = replace(problem.config, search="exhaustive")
    dec = plan(planning_state(problem, problem.start), cfg, normalizer=d)
    return dec.q, dec.strategy


def evaluate(instance: Instance, variant: str, with_optimal: bool = True,
             optimal_cache: dict | None = None) -> InstanceResult:
    """Exact ``W``, ``V_ZIPRC`` and (for independent samples) ``V*`` for one variant."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    if variant == "dependent_samples":
        return _evaluate_dependent(instance)
    truth = exact_problem(instance.world, instance.cap, instance.alpha, instance.beta)
    w, _ = best_strategy(truth)
    problem = truth
    search, normalizer = "exhaustive", "fixed"
    if variant == "two_prefix":
        search = "two-prefix"
    elif variant == "top_k_value":
        search = "top-k"
    elif variant == "state_normalizer":
        normalizer = "state"
    problem = replace(truth, config=replace(truth.config, search=search, normalizer=normalizer))
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
    v, states = policy_value(problem, ziprc_policy(problem))
    v_opt = None
    if with_optimal:
        key = instance.seed
        if optimal_cache is not None and key in optimal_cache:
            v_opt = optimal_cache[key]
        else:
            v_opt, _ = optimal_value(truth)
            if optimal_cache is not None:
                optimal_cache[key] = v_opt
    return InstanceResult(seed=instance.seed, variant=variant, best_strategy_value=w, v_ziprc=v,
                          v_optimal=v_opt, states=states)


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
    v, states = policy_value(problem, ziprc_policy(problem))
    return InstanceResult(seed=instance.seed, variant="dependent_samples", best_strategy_value=w,
                          v_ziprc=v, v_optimal=None, states=states)


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
