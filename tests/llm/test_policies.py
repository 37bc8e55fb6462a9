"""The online sampler's policies: exact decisions on hand-built views, prediction smoothing,
the floor rule, and every policy end to end on a tiny model writing valid traces."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("pyarrow")

from metamdp.grids import RewardGrid  # noqa: E402
from metamdp.policies import POLICY_NAMES, Action, PolicyConfigError, View, floor_index, select  # noqa: E402
from simulators.traces import validate_traces, write_traces  # noqa: E402

from llm_backend.policies import ONLINE_POLICY_NAMES, make_policy, parse_policy_names  # noqa: E402
from llm_backend.rollouts import prompt_ids  # noqa: E402
from llm_backend.sampler import OnlineSampler, Sample  # noqa: E402

from ..oracles import pandora_reservation  # noqa: E402
from llm_backend.task import make_problems  # noqa: E402
from llm_backend.train import length_grid  # noqa: E402

torch.set_num_threads(1)
from .tiny import GRID, tiny_model  # noqa: E402
BIN = RewardGrid.official(2)
LEN = length_grid(GRID)


def joint(p_correct: float, rewards=BIN) -> np.ndarray:
    """A joint whose reward marginal puts ``p_correct`` on the top state (rest on 0)."""
    j = np.zeros((rewards.size, LEN.size))
    j[-1, 0] = p_correct
    j[0, 0] = 1 - p_correct
    return j


def smp(sid, status="running", p=0.5, value=0.0, answer=None, correct=False, tokens=0, ticks=0):
    return Sample(sid=sid, slot=None, tokens=[0] * tokens, prefix_tokens=0, pending=None,
                  joint=joint(p), status=status, value=value, answer=answer, correct=correct,
                  elapsed_ticks=ticks)


def view(samples, epoch, root_p=0.5, rewards=BIN):
    return View(unfinished=[s for s in samples if s.unfinished],
                finished=[s for s in samples if not s.unfinished],
                root_joint=joint(root_p, rewards), n_created=len(samples), epoch=epoch,
                rewards=rewards, lengths=LEN)


# --------------------------------------------------------------------------- factory


def test_factory_names_and_errors():
    assert set(ONLINE_POLICY_NAMES) == set(POLICY_NAMES) - {"wbon_rm"}
    for name in ONLINE_POLICY_NAMES:
        pol = make_policy(name, cap=8)
        assert pol.name == name
    with pytest.raises(PolicyConfigError, match="unknown policy"):
        make_policy("nope")
    with pytest.raises(PolicyConfigError, match="unknown knob"):
        make_policy("mv", threshold=0.3)
    with pytest.raises(PolicyConfigError, match="n must be"):
        make_policy("bon", cap=4, n=5)
    with pytest.raises(PolicyConfigError, match="window"):
        make_policy("esc", window=0)
    with pytest.raises(PolicyConfigError, match="keep_frac"):
        make_policy("spec_rejection", keep_frac=0.0)
    with pytest.raises(PolicyConfigError, match="threshold"):
        make_policy("ac", threshold=0.3)
    with pytest.raises(PolicyConfigError, match="floor"):
        make_policy("ziprc", floor="up")
    assert parse_policy_names("ziprc, mv,mv") == ["ziprc", "mv"]
    with pytest.raises(PolicyConfigError):
        parse_policy_names("ziprc,foo")
    assert make_policy("short_m_at_k", n=5, m=2).m == 2 and make_policy("short_m_at_k").m == 3


# --------------------------------------------------------------------------- answer selection


def test_selections():
    fin = [smp(0, "finished", value=0.9, answer="1"), smp(1, "finished", value=0.3, answer="2"),
           smp(2, "finished", value=0.35, answer="2"), smp(3, "finished", value=0.2, answer="3", correct=True),
           smp(4, "truncated")]
    assert make_policy("mv").choose(fin).answer == "2"        # 2 votes
    assert make_policy("bon").choose(fin).answer == "1"       # value 0.9
    assert make_policy("wbon").choose(fin).answer == "1"      # 0.9 > 0.3 + 0.35
    assert make_policy("pass_at_n").choose(fin).answer == "3"  # the correct one
    assert select("plurality", [smp(0, "finished")]) is None  # no answer, nothing chosen


def test_parallel_starts_and_length_prune():
    for name in ("mv", "bon", "wbon", "pass_at_n", "length_prune", "half_finished", "short_m_at_k",
                 "reward_prune", "spec_rejection"):
        a = make_policy(name, cap=6)(view([], 0))
        assert a.new == 6 and a.keep == [] and a.branch_from is None, name
    pol = make_policy("length_prune", cap=3, budget_tokens=8)
    s = [smp(0, tokens=4, ticks=1), smp(1, tokens=8, ticks=2), smp(2, "finished", answer="1")]  # delta 4
    assert pol(view(s, 1)).keep == [0]


def test_short_m_at_k_stops_exactly_when_m_finished():
    pol = make_policy("short_m_at_k", cap=5, m=3)
    s = [smp(0, "finished", answer="1"), smp(1, "finished", answer="1"), smp(2, "truncated"),
         smp(3), smp(4)]
    assert pol(view(s, 3)).keep == [3, 4]     # 2 finished (truncated does not count)
    s[3] = smp(3, "finished", answer="2")
    assert pol(view(s, 4)).stop


def test_half_finished_stops_all_at_half():
    pol = make_policy("half_finished", cap=8)
    s = [smp(i, "finished", answer="1") for i in range(3)] + [smp(i) for i in range(3, 8)]
    assert pol(view(s, 2)).keep == [3, 4, 5, 6, 7]
    s[3] = smp(3, "finished", answer="1")
    assert pol(view(s, 3)).stop
    odd = make_policy("half_finished", cap=5)  # ceil(5 / 2) = 3
    s = [smp(0, "finished", answer="1"), smp(1, "finished", answer="1"), smp(2), smp(3), smp(4)]
    assert not odd(view(s, 2)).stop
    s[2] = smp(2, "finished", answer="1")
    assert odd(view(s, 3)).stop


def test_reward_prune_drops_for_good():
    pol = make_policy("reward_prune", cap=3, threshold=0.4)
    pol.reset()
    s = [smp(0, p=0.3), smp(1, p=0.5), smp(2, p=0.9)]
    assert pol(view(s, 1)).keep == [1, 2]
    s[0].joint = joint(0.95)                   # recovers, but stays dropped
    assert pol(view(s, 2)).keep == [1, 2]


def test_spec_rejection_keeps_top_fraction_at_checkpoints():
    pol = make_policy("spec_rejection", cap=6, keep_frac=0.5)
    pol.reset()
    ps = [0.2, 0.9, 0.5, 0.7, 0.1, 0.6]
    s = [smp(i, p=p) for i, p in enumerate(ps)]
    assert pol(view(s, 3)).keep == [0, 1, 2, 3, 4, 5]   # no checkpoint before tick 4
    assert pol(view(s, 4)).keep == [1, 3, 5]             # ceil(0.5 * 6) = 3 best by E[value]
    assert pol(view(s, 5)).keep == [1, 3, 5]
    assert pol(view(s, 8)).keep == [1, 3]                # ceil(0.5 * 3) = 2
    s[1] = smp(1, "finished", answer="4", value=0.9)
    assert pol(view(s, 16)).keep == [3]                  # ceil(0.5 * 2) = 1
    pol.reset()
    assert pol(view([smp(i, p=p) for i, p in enumerate(ps)], 4)).keep == [1, 3, 5]


def test_pandora_reservation_closed_form():
    # binary reward with P(correct) = p: E[(X - z)+] = p (1 - z) = beta  =>  z = 1 - beta / p
    p, beta = 0.8, 0.05
    z = 1 - beta / p
    assert math.isclose(pandora_reservation([0.0, 1.0], [1 - p, p], beta), z)
    pol = make_policy("pandora", cap=8, beta=beta)
    assert math.isclose(pol.reservation(view([], 0, root_p=p)), z)
    assert pol(view([], 0, root_p=p)).new == 1
    assert pol(view([smp(0, p=0.6)], 1, root_p=p)).keep == [0]          # wait for it
    assert pol(view([smp(0, "finished", value=z - 1e-3, answer="1")], 2, root_p=p)).new == 1
    s = [smp(0, "finished", value=0.5, answer="1"), smp(1, "finished", value=z + 1e-3, answer="2")]
    assert pol(view(s, 5, root_p=p)).stop
    assert make_policy("pandora", beta=0.9)(view([], 0, root_p=0.5)).stop   # z <= 0: never sample
    full = [smp(i, "finished", value=0.1, answer="1") for i in range(3)]
    assert make_policy("pandora", cap=3, beta=beta)(view(full, 9, root_p=p)).stop  # cap reached


def _simulators_ac_stop(answers, threshold, n):
    """How many samples the simulators' Adaptive-Consistency loop draws on this stream."""
    from metamdp.policies.kernels import beta_stop_prob

    rule = getattr(beta_stop_prob, "py_func", beta_stop_prob)
    for i in range(1, n + 1):
        counts = sorted((answers[:i].count(a) for a in set(answers[:i])), reverse=True) + [0, 0]
        if rule(int(counts[0]), int(counts[1])) >= threshold:
            return i
    return n


@pytest.mark.parametrize("stream,threshold", [
    ("33333333", 0.95), ("35333333", 0.95), ("12345678", 0.95), ("31313333", 0.9),
    ("33553333", 0.75), ("77777777", 0.99), ("12121212", 0.6)])
def test_ac_matches_simulators_rule(stream, threshold):
    n = len(stream)
    pol = make_policy("ac", cap=n, threshold=threshold)
    samples = []
    epoch = 0
    while True:
        a = pol(view(samples, epoch))
        if a.stop:
            break
        assert a.new == 1 and a.keep == []
        samples.append(smp(len(samples), "running"))
        assert pol(view(samples, epoch + 1)).keep == [len(samples) - 1]  # runs it to its end
        samples[-1] = smp(len(samples) - 1, "finished", answer=stream[len(samples) - 1])
        epoch += 2
    assert len(samples) == _simulators_ac_stop(list(stream), threshold, n)


def test_esc_stops_after_first_unanimous_window():
    pol = make_policy("esc", cap=8, window=2)
    stream = "12" "34" "55" "66"
    samples, created = [], []
    while True:
        a = pol(view(samples, len(created)))
        if a.stop:
            break
        created.append(a.new)
        k = len(samples)
        samples += [smp(k + j, "finished", answer=stream[k + j]) for j in range(a.new)]
    assert created == [2, 2, 2] and len(samples) == 6
    last = make_policy("esc", cap=5, window=2)   # windows 2, 2, 1
    s = [smp(i, "finished", answer=str(i)) for i in range(4)]
    assert last(view(s, 3)).new == 1


def test_deepconf_warmup_cutoff_and_drop():
    pol = make_policy("deepconf", cap=4, warmup=2, percentile=50.0, window=1, threshold=0.95)
    pol.reset()
    assert pol(view([], 0)).new == 2
    s = [smp(0, p=0.8, ticks=1), smp(1, p=0.4, ticks=1)]
    assert pol(view(s, 1)).keep == [0, 1]
    s = [smp(0, "finished", value=0.9, answer="1"), smp(1, "finished", value=0.4, answer="2")]
    a = pol(view(s, 2))                          # warm-up done: lowest windows 0.8 and 0.4
    assert a.new == 2 and pol._cutoff == pytest.approx(0.6)
    s += [smp(2, p=0.5, ticks=1), smp(3, p=0.7, ticks=1)]
    assert pol(view(s, 3)).keep == [3]           # 0.5 < 0.6: dropped
    s[3] = smp(3, "finished", value=0.7, answer="1")
    a = pol(view(s, 4))                          # consensus share of "1": (0.8 + 0.7) / 1.9 < 0.95
    assert a.stop                                # nothing open left: stop
    assert pol.choose(s).answer == "1"


def test_floor_rule():
    assert floor_index(0.7, BIN, "down") == 0 and floor_index(0.7, BIN, "nearest") == 1
    assert floor_index(1.0, BIN, "down") == 1 and floor_index(0.2, BIN, "nearest") == 0
    seven = RewardGrid.official(7)
    v = seven.values
    assert floor_index(float(v[3]), seven, "down") == 3
    assert floor_index(float(v[3]) + 0.99 * (v[4] - v[3]), seven, "down") == 3
    assert floor_index(float(v[3]) + 0.99 * (v[4] - v[3]), seven, "nearest") == 4


# --------------------------------------------------------------------------- on a tiny model


@pytest.fixture(scope="module")
def tiny():
    return tiny_model()


class OneSample:
    """Start one sample and advance it ``ticks`` ticks, recording the joints it sees."""

    name = "one"
    selection = "value"

    def __init__(self, ticks):
        self.ticks, self.seen = ticks, []

    def __call__(self, v):
        if v.epoch == 0:
            return Action(keep=[], new=1)
        self.seen.append(v.unfinished[0].joint.copy())
        self.tokens = list(v.unfinished[0].tokens)
        return Action(keep=[0] if v.epoch < self.ticks else [])


def test_smoothing_is_the_causal_moving_average(tiny):
    model, tok, rs = tiny
    W, ticks = 6, 4
    s = OnlineSampler(model, tok, rs, GRID, cap=1, max_new_tokens=30, seed=5, smooth_tokens=W)
    s.sampler.mask[tok.eos_token_id] = True
    problem = make_problems(1, seed=6)[0]
    pol = OneSample(ticks)
    r = s.run(problem, pol)
    row = r.samples[0]
    assert row["total_tokens"] == ticks * GRID.delta
    # raw joints of every prefix from one full forward pass, no cache
    ids = prompt_ids(tok, problem)
    toks = row["tick_tokens"]
    full = torch.tensor([ids + pol.tokens])
    with torch.no_grad():
        logits = model(full).logits[0]
    raw = rs.joints(logits[len(ids) - 1:]).numpy().astype(np.float64)  # raw[t]: after t tokens
    for k, t in enumerate(toks[1:]):
        want = raw[max(0, t - W + 1): t + 1].mean(0)
        assert np.allclose(pol.seen[k], want, atol=1e-5)
        assert np.allclose(np.reshape(row["joints"][k + 1], want.shape), want, atol=1e-5)
    with pytest.raises(ValueError):
        OnlineSampler(model, tok, rs, GRID, cap=1, smooth_tokens=-1)


def test_every_policy_end_to_end_writes_valid_traces(tiny, tmp_path):
    model, tok, rs = tiny
    s = OnlineSampler(model, tok, rs, GRID, cap=4, max_new_tokens=24, seed=7, smooth_tokens=8)
    problems = make_problems(2, seed=8, max_steps=2)
    for name in ONLINE_POLICY_NAMES:
        knobs = {"search": "exhaustive"} if name == "ziprc" else {}
        pol = make_policy(name, cap=4, **knobs)
        rows = []
        for p in problems:
            r = s.run(p, pol)
            assert 1 <= r.n_started <= 4 or (name == "pandora" and r.n_started == 0), name
            assert r.compute_tokens == sum(x["total_tokens"] for x in r.samples), name
            assert r.pruned_tokens == sum(x["total_tokens"] for x in r.samples if x["status"] == "pruned")
            assert r.answer is None or any(x["answer"] == r.answer for x in r.samples)
            rows.extend(r.samples)
        assert s.pool.n_free == s.pool.capacity, name
        if rows:
            path = tmp_path / f"{name}.parquet"
            write_traces(path, rows, {"seed": 7, "params": {"policy": name}})
            assert validate_traces(path) is not None


def test_sampler_runs_a_users_policy_and_names_its_errors(tiny):
    from metamdp.policies import Policy, PolicyRunError

    class ThreeVotes(Policy):
        name = "three_votes"

        def __call__(self, view):
            if view.n_created == 0:
                return Action(keep=[], new=3)
            return Action(keep=[s.sid for s in view.unfinished])

    class Broken(ThreeVotes):
        name = "broken"

        def __call__(self, view):
            return Action(keep=[], new=-1)

    model, tok, rs = tiny
    s = OnlineSampler(model, tok, rs, GRID, cap=4, max_new_tokens=24, seed=3)
    problem = make_problems(1, seed=4, max_steps=2)[0]
    r = s.run(problem, ThreeVotes())
    assert r.policy == "three_votes" and r.n_started == 3 and r.selection == "plurality"
    assert all(x["status"] in ("finished", "truncated") for x in r.samples)
    with pytest.raises(PolicyRunError, match=rf"'broken' returned an invalid action at question "
                                             rf"'{problem.qid}', epoch 0: new must be an integer >= 0"):
        s.run(problem, Broken())
