"""The authors' planner preset (``PlannerConfig.authors``) against an independent, plain
re-statement of the decision rule of their research simulator (``zip_offline_prune_7.py`` of
rohinmanvi/ZIP-RC at 21e32aa, read for behaviour): two-prefix kept sets crossed with a future
prune bin B in (None, 1, ..., L-1), B-major; pruning at B collapses the mass of bins >= B to
reward 0 at bin B's midpoint; finished samples' reward distributions always inside E[max];
ties to the larger kept set, then the first visited; then dropped samples re-added in sample
order when that does not lower the objective."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metamdp import LengthGrid, PlannerConfig, PlanningState, RewardGrid, plan
from metamdp.planner import normalizer_value
from metamdp.planner_numpy import plan_numpy

TOL = 1e-12


def _emax(pmfs, x):
    if not pmfs:
        return 0.0
    g = np.prod([np.cumsum(p) for p in pmfs], axis=0)
    return float(np.diff(g, prepend=0.0) @ x)


def authors_decision(joints, finished, values, mids, c_pt, c_seq):
    """(kept set, B, objective) as the authors' simulator decides, with no new samples."""
    n, V, L = joints.shape
    rm = joints.sum(axis=2)
    tm = joints.sum(axis=1)
    ev, et = rm @ values, tm @ mids
    by_tok = sorted(range(n), key=lambda i: et[i])
    by_val = sorted(range(n), key=lambda i: -ev[i])

    def marg(i, B):
        if B is None:
            return rm[i], tm[i]
        r = joints[i, :, :B].sum(axis=1).copy()
        t = np.zeros(L)
        t[:B] = tm[i, :B]
        r[0] += joints[i, :, B:].sum()
        t[B] = joints[i, :, B:].sum()
        return r, t

    def objective(S, B):
        ms = [marg(i, B) for i in sorted(S)]
        val = _emax([r for r, _ in ms] + list(finished), values)
        return val - c_pt * sum(t @ mids for _, t in ms) - c_seq * _emax([t for _, t in ms], mids)

    best, best_S, best_B, seen = -1e30, set(), None, set()
    for B in [None] + list(range(1, L)):
        for k1 in range(n + 1):
            for k2 in range(n + 1):
                S = frozenset(by_tok[:k1]) | frozenset(by_val[:k2])
                if (B, S) in seen:
                    continue
                seen.add((B, S))
                g = objective(S, B)
                if g > best + TOL or (abs(g - best) <= TOL and len(S) > len(best_S)):
                    best, best_S, best_B = g, set(S), B
    if best_S:
        for i in range(n):  # the no-harm guard: re-add in sample order
            if i not in best_S:
                g = objective(best_S | {i}, best_B)
                if g >= best - TOL:
                    best_S.add(i)
                    best = g
    return best_S, best_B, best


@st.composite
def authors_states(draw):
    rewards = draw(st.sampled_from([RewardGrid.binary(), RewardGrid.seven_state()]))
    lengths = LengthGrid.official()
    B, L = rewards.size, lengths.size
    g = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 6))
    k = draw(st.integers(0, 2))
    conc = draw(st.sampled_from([0.1, 0.4, 1.0]))
    joints = g.dirichlet(np.full(B * L, conc), size=n).reshape(n, B, L)
    finished = g.dirichlet(np.full(B, 0.5), size=k)
    state = PlanningState(joints=joints, root_joint=joints[0], n_created=n + k, finished=finished,
                          elapsed=g.integers(0, 60, size=n).astype(float),
                          finished_lengths=g.integers(1, 200, size=k).astype(float))
    cfg = PlannerConfig.authors(rewards, alpha=draw(st.floats(0, 1)), beta=draw(st.floats(0, 0.5)),
                                cap=n + k)
    return state, cfg


@given(authors_states())
def test_preset_reproduces_the_authors_decisions(case):
    state, cfg = case
    d = normalizer_value(cfg, state)
    ours = plan(state, cfg)
    S, B, g = authors_decision(np.asarray(state.joints), state.finished, cfg.rewards.values,
                               cfg.lengths.representative, cfg.beta * cfg.alpha / d,
                               cfg.beta * (1 - cfg.alpha) / d)
    assert ours.q == pytest.approx(g, abs=1e-9)
    assert set(ours.strategy.keep) == S
    if S:
        L = cfg.lengths.size
        assert ours.strategy.horizon_index == (L - 1 if B is None else B - 1)
    assert plan_numpy(state, cfg).q == pytest.approx(ours.q, abs=1e-9)


def test_preset_fields():
    rew = RewardGrid.seven_state()
    cfg = PlannerConfig.authors(rew, 0.1, 0.01, 8)
    assert (cfg.search, cfg.normalizer, cfg.branching, cfg.prune_charge, cfg.ordering) == \
        ("two-prefix", "state", False, "midpoint", "authors")
    assert cfg.lengths.token_edges == LengthGrid.official().token_edges
    rep = cfg.lengths.representative
    np.testing.assert_array_equal(cfg.prune_points[:-1], rep[1:])  # bin B's midpoint, B = j + 1
    assert cfg.planner_name == "authors"
    assert PlannerConfig(rew, LengthGrid.official()).planner_name == "ours"
    assert PlannerConfig.preset("ours", rew, LengthGrid.official(), 0.1, 0.01, 8).planner_name == "ours"


def test_the_differences_decide_actions():
    """Each rule that differs from ours changes some decisions (so the preset is not a
    relabelling), one difference at a time. The ordering rules (re-add in sample order,
    "never prune" visited first) matter only through exact ties, so those states have
    joints on a coarse lattice (multiples of 1/4), where ties are common."""
    from dataclasses import replace

    rew = RewardGrid.seven_state()
    g = np.random.default_rng(1)
    changed = {"prune_charge": 0, "ordering": 0}
    for t in range(4000):
        n = int(g.integers(3, 7))
        lengths = LengthGrid.official() if t % 2 else LengthGrid.ticks(4)
        L = lengths.size
        joints = g.dirichlet(np.full(rew.size * L, 0.05), size=n).reshape(n, rew.size, L)
        if t % 4 < 2:  # lattice joints (ties)
            joints = np.round(joints * 4) / 4
            if np.any(joints.reshape(n, -1).sum(axis=1) == 0):
                continue
            joints /= joints.reshape(n, -1).sum(axis=1)[:, None, None]
        base = PlannerConfig.authors(rew, float(g.choice([0.0, 0.5, 1.0])),
                                     float(g.choice([0.05, 0.2])), n, lengths=lengths)
        st_ = PlanningState(joints=joints, root_joint=joints[0], n_created=n)
        a = plan(st_, base, normalizer=3.0).strategy
        for k, cfg in (("prune_charge", replace(base, prune_charge="edge")),
                       ("ordering", replace(base, ordering="ours"))):
            changed[k] += plan(st_, cfg, normalizer=3.0).strategy.keep != a.keep
    assert all(v > 0 for v in changed.values()), changed


@pytest.mark.slow
def test_runner_kernel_and_reference_agree_with_the_authors_planner():
    """--planner authors in ziprc study: the Numba kernel and the reference object
    (metamdp.policies.ZipRC) take the same decisions, and the preset changes some episodes."""
    from simulators.policies import make
    from simulators.kernels.samples import METRICS
    from simulators.runner import run_policy
    from simulators.synthetic import Corruption, build_world

    world = build_world("mixed", n_questions=4)
    spec = make("ziprc", beta=0.02, planner="authors")
    assert (spec.search, spec.normalizer, spec.branching) == ("two-prefix", "state", False)
    differs = 0
    for k, corruption in enumerate((Corruption(), Corruption(temperature=2.0, noise=0.5))):
        fast = run_policy(world, spec, seed=k, episodes_per_question=3, corruption=corruption)
        ref = run_policy(world, spec, seed=k, episodes_per_question=3, corruption=corruption,
                         engine="python")
        assert fast.tolist() == ref.tolist()
        ours = run_policy(world, make("ziprc", beta=0.02, normalizer="state"), seed=k,
                          episodes_per_question=3, corruption=corruption)
        differs += int((ours != fast).any(axis=1).sum())
        assert fast[:, METRICS.index("started")].max() >= 1
    assert differs > 0
    # the authors' planner fixes its search, normaliser and branching over the knobs (one
    # rule, the reference class's; the old study spec refused the combination instead)
    fixed = make("ziprc", planner="authors", search="exhaustive", branching=True)
    assert (fixed.search, fixed.normalizer, fixed.branching) == ("two-prefix", "state", False)


def test_planner_option_reaches_replay_and_the_llm_policies(tmp_path):
    """--planner authors on replay (recorded traces) lands in the ZIP-RC policies replayed
    and in the provenance; the LLM sampler's ZIP-RC takes it too."""
    import json

    from llm_backend.policies import make_policy
    from ziprc_cli.main import main

    traces = tmp_path / "t.parquet"
    assert main(["replay", "--record", "--traces", str(traces), "--questions", "6"]) == 0
    out = tmp_path / "r.json"
    assert main(["replay", "--traces", str(traces), "--policies", "ziprc", "--planner", "authors",
                 "--no-progress", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["provenance"]["params"]["ziprc_params"] == {"planner": "authors"}
    pol = make_policy("ziprc", cap=8, planner="authors")
    assert (pol.search, pol.normalizer, pol.branching, pol.midpoint, pol.order_code) == \
        ("two-prefix", "state", False, True, 1)
    assert make_policy("ziprc", cap=8).planner == "ours"
