"""Replay policies over your own recorded rollouts.

Each row of a trace file is one sample: the joint it predicted every ``delta`` tokens, its
length, answer, correctness and final value (``docs/traces.md``). Write yours with
``simulators.traces.write_traces`` (validated), then replay every policy that only pauses,
resumes and prunes exactly, yours included. Here the rollouts are made up: per question,
four samples whose predictions sharpen toward their outcome.

Run: ``python examples/replay_traces.py [DIR]`` (the Parquet file goes to DIR, default a
temporary directory). The same from the shell: ``ziprc replay --traces FILE``.
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

from metamdp.grids import OFFICIAL_LENGTH_EDGES
from simulators.replay import replay_study
from simulators.report import format_table
from simulators.traces import write_traces

sys.path.insert(0, str(Path(__file__).parent))
from my_policy import ThreeVotes  # noqa: E402  (the example's own policy)

rng = np.random.default_rng(0)
delta, values = 64, [0.0, 1.0]
rows = []
for q in range(20):
    for s in range(4):
        correct = bool(rng.random() < 0.6)
        n_ticks = int(rng.integers(3, 40))                   # length in ticks of 64 tokens
        joints = []
        for t in range(n_ticks):
            p = 0.6 + (0.35 if correct else -0.5) * t / n_ticks   # P(correct) drifts to the truth
            remaining = (n_ticks - t) * delta
            b = int(np.searchsorted(OFFICIAL_LENGTH_EDGES, remaining, side="right")) - 1
            j = np.zeros((2, 8))
            j[1, min(b, 7)], j[0, min(b, 7)] = p, 1 - p
            joints.append(j.ravel())
        rows.append({"question_id": f"q{q}", "sample_id": s, "difficulty": None, "delta": delta,
                     "reward_values": values, "length_edges": list(OFFICIAL_LENGTH_EDGES),
                     "tick_tokens": [t * delta for t in range(n_ticks)], "joints": joints,
                     "total_tokens": n_ticks * delta, "finished": True,
                     "answer": "42" if correct else str(int(rng.integers(0, 3))),
                     "correct": correct, "value": 1.0 if correct else 0.0})

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
path = out / "my_traces.parquet"
write_traces(path, rows, {"seed": 0, "params": {"suite": "made-up"}})
result = replay_study(path, policies="mv,ziprc,reward_prune", cap=4, progress=False,
                      n_boot=200, user_policies=[ThreeVotes()])
print(format_table(result))

if __name__ == "__main__":
    mv3 = next(r for r in result["rows"] if r["policy"] == "mv" and r["knob"] == 3)
    mine = next(r for r in result["rows"] if r["policy"] == "three_votes")
    assert mine["accuracy"] == mv3["accuracy"] and mine["gen_cost"] == mv3["gen_cost"]
