"""Run a policy study in Python: ZIP-RC and baselines over their knobs on a synthetic
suite, the matched-cost table with bootstrap CIs, and the frontier plot.

The same as ``ziprc study --suite gsm8k --questions 60 --policies ziprc,mv,pandora
--corruption temperature2 --plot frontier.png``; every policy runs on the same samples.

Run: ``python examples/run_study.py [OUT.png]``
"""

import sys

from simulators.report import format_table, plot_frontier
from simulators.study import run_study
from simulators.sweeps import parse_corruption

result = run_study("gsm8k", alpha=0.1, policies="ziprc,mv,pandora", questions=60, seed=0,
                   corruption=parse_corruption("temperature2"), progress=False, n_boot=200)
print(format_table(result))
for row in result["rows"][:3]:
    print(row["policy"], row["knob_name"], row["knob"], "accuracy", round(row["accuracy"], 3),
          "gen cost", round(row["gen_cost"], 3))
if len(sys.argv) > 1:
    plot_frontier(result, sys.argv[1])
    print("wrote", sys.argv[1])

if __name__ == "__main__":
    assert {r["policy"] for r in result["rows"]} == {"ziprc", "mv", "pandora"}
