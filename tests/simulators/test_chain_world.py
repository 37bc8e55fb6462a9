"""Malformed worlds are rejected with a message naming the node; the CLI prints it."""

import copy
import json

import pytest

from simulators.chain_world import ChainWorld, WorldError, WorldShape, random_world
from ziprc_cli.main import main

GOOD = {"values": [0.0, 0.5, 1.0], "root": 0,
        "nodes": [{"id": 0, "next": [[1, 0.4], [2, 0.6]]},
                  {"id": 1, "value": 1.0},
                  {"id": 2, "next": [[3, 1.0]]},
                  {"id": 3, "value": 0.0}]}


def mutate(fn):
    d = copy.deepcopy(GOOD)
    fn(d)
    return d


BAD = [
    (lambda d: d["nodes"][0].update(next=[[1, 0.4], [2, 0.5]]), "node 0: transition probabilities sum to 0.9"),
    (lambda d: d["nodes"][0].update(next=[[1, 1.4], [2, -0.4]]), "node 0: transition probability -0.4 is negative"),
    (lambda d: d["nodes"][0].update(next=[[1, float("nan")], [2, 0.6]]), "node 0: transition probability nan"),
    (lambda d: d["nodes"][1].update(value=0.7), "node 1 has value 0.7, which is not on the grid"),
    (lambda d: d["nodes"][2].update(next=[[9, 1.0]]), "node 2 points to 9, which does not exist"),
    (lambda d: d["nodes"][2].update(next=[[0, 1.0]]), "lies on a cycle"),
    (lambda d: d["nodes"].append({"id": 4, "value": 1.0}), "node 4 is unreachable"),
    (lambda d: d["nodes"].append({"id": 1, "value": 1.0}), "node 1 is defined twice"),
    (lambda d: d.update(root=7), "root 7 is not a node"),
    (lambda d: d.pop("nodes"), "missing the field 'nodes'"),
    (lambda d: d["nodes"][1].update(next=[[3, 1.0]]), "node 1 must have exactly one of"),
    (lambda d: d.update(samples=[{"node": 8}]), "samples[0] is at node 8"),
    (lambda d: d.update(values=[0.0, 1.0, 0.5]), "strictly increasing"),
    (lambda d: d["nodes"][0].update(next=[[1, 0.2], [2, 0.4], [3, 0.4]]), "node 3 is reached after both 1 and 2 ticks"),
]


@pytest.mark.parametrize("fn,message", BAD)
def test_malformed_worlds_name_the_culprit(fn, message):
    with pytest.raises(WorldError) as e:
        ChainWorld.from_dict(mutate(fn))
    assert message in str(e.value)


@pytest.mark.parametrize("fn,message", BAD[:5])
def test_cli_reports_malformed_world_without_traceback(tmp_path, capsys, fn, message):
    path = tmp_path / "w.json"
    path.write_text(json.dumps(mutate(fn)))
    code = main(["exact", "--world", str(path), "--cap", "2", "--alpha", "0.5", "--beta", "0.1"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_cli_rejects_bad_parameters(tmp_path, capsys):
    path = tmp_path / "w.json"
    path.write_text(json.dumps(GOOD))
    assert main(["exact", "--world", str(path), "--cap", "2", "--alpha", "1.5", "--beta", "0.1"]) == 2
    assert "alpha must be in [0, 1]" in capsys.readouterr().err
    path2 = tmp_path / "s.json"
    path2.write_text(json.dumps(dict(GOOD, samples=[{"node": 2}, {"node": 2}])))
    assert main(["exact", "--world", str(path2), "--cap", "1", "--alpha", "0.5", "--beta", "0.1"]) == 2
    assert "below the 2 samples the world lists" in capsys.readouterr().err
    assert main(["exact", "--world", str(tmp_path / "missing.json"), "--cap", "1", "--alpha", "0.5",
                 "--beta", "0.1"]) == 2
    assert "cannot read world file" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{nope")
    assert main(["exact", "--world", str(tmp_path / "broken.json"), "--cap", "1", "--alpha", "0.5",
                 "--beta", "0.1"]) == 2
    assert "not valid JSON" in capsys.readouterr().err


@pytest.mark.parametrize("seed", range(20))
def test_random_worlds_are_valid_and_round_trip(seed, tmp_path):
    w = random_world(seed, WorldShape(max_depth=5, width=3, tree=seed % 2 == 0))
    w.save(tmp_path / "w.json")
    again = ChainWorld.load(tmp_path / "w.json")
    assert again.to_dict() == w.to_dict()
    assert again.process.max_ticks <= 5


def test_samples_at_terminal_nodes_are_finished_samples():
    """A sample listed at a terminal node has finished with that value: it counts toward the
    cap and its value is the floor; the unfinished ones keep the world's list order."""
    w = ChainWorld.from_dict(dict(GOOD, samples=[{"node": 2}, {"node": 1}, {"node": 0}]))
    st = w.start_state()
    idx = w.index
    assert st.finished == (idx[1],) and st.unfinished == tuple(sorted([idx[0], idx[2]]))
    assert st.n_created == 3 and w.n_finished == 1
    # engine order: node 0 (list index 2), then node 2 (list index 0)
    assert w.start_positions() == [2, 0]


def test_nondegenerate_shape_knobs():
    shape = WorldShape(max_depth=4, width=3, min_width=2, min_distinct_values=2,
                       informative_samples=True, shared_prefix=True, max_finished=1,
                       max_samples_in_progress=3, values=(0.0, 0.5, 1.0))
    for seed in range(30):
        w = random_world(seed, shape)
        proc = w.process
        reach = {int(proc.value_index[k]) for k in range(proc.n_nodes) if proc.is_terminal(k)}
        assert len(reach) >= 2
        widths = [int((proc.depth == d).sum()) for d in range(1, int(proc.depth.max()) + 1)]
        assert max(widths) >= 2
        for k in w.start_state().unfinished:  # every sample in progress still has a choice ahead
            assert len({v for v in _values_below(proc, k)}) >= 2


def _values_below(proc, k):
    if proc.is_terminal(k):
        yield int(proc.value_index[k])
        return
    for m, _ in proc.successors[k]:
        yield from _values_below(proc, m)
