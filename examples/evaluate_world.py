"""Evaluate a small world exactly: every predefined strategy, ZIP-RC and the optimal
meta-policy, by enumerating outcomes (no Monte Carlo).

The world is a chain of latent reasoning states (``examples/two_paths.json``: one sample is
in progress at node 2); see ``docs/theory.md`` and spec section 5 for the JSON form. Same
as ``ziprc exact --world examples/two_paths.json``.

Run: ``python examples/evaluate_world.py``
"""

from pathlib import Path

from metamdp.exact import optimal_value, policy_value, ziprc_policy
from simulators.chain_world import ChainWorld
from simulators.theorem_check import best_strategy, exact_problem

world = ChainWorld.load(Path(__file__).with_name("two_paths.json"))
problem = exact_problem(world, cap=3, alpha=0.5, beta=0.2)   # exact predictions, tick-exact lengths

w_best, strategy = best_strategy(problem)           # W: the best predefined strategy's value
v_ziprc, n_states = policy_value(problem, ziprc_policy(problem))
v_opt, _ = optimal_value(problem)
print(f"best predefined strategy W = {w_best:.6f}: keep {list(strategy.keep)}, {strategy.new} new")
print(f"ZIP-RC                     = {v_ziprc:.6f} ({n_states} meta-states)")
print(f"optimal meta-policy V*     = {v_opt:.6f}")

if __name__ == "__main__":
    # the dominance theorem (exact predictions, fixed D, exhaustive search): V* >= ZIP-RC >= W
    assert v_opt >= v_ziprc - 1e-12 and v_ziprc >= w_best - 1e-12
