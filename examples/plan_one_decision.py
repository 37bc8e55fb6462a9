"""Plan one ZIP-RC decision from joints you supply.

Two samples are running; their predicted joints over (final reward, remaining length) say
the first is likely right and nearly done, the second likely wrong and long. Should we keep
both, drop one, or stop? (With a larger ``cap`` the planner may also start new samples.) ``metamdp.plan`` answers with the best predefined
strategy (keep set, new samples, prune horizon) and its value.

Run: ``python examples/plan_one_decision.py``
"""

import numpy as np

from metamdp import LengthGrid, PlannerConfig, PlanningState, RewardGrid, plan

rewards = RewardGrid.binary()            # reward states {0, 1}: a correctness head
lengths = LengthGrid.official()          # 8 length bins, token edges 0, 256, ..., 32768; delta 64
B, L = rewards.size, lengths.size


def joint(p_correct, length_bin):
    """A joint (B, L), reward-major: P(correct) = p_correct, remaining length in one bin."""
    j = np.zeros((B, L))
    j[1, length_bin] = p_correct
    j[0, length_bin] = 1.0 - p_correct
    return j


state = PlanningState(
    joints=np.stack([joint(0.9, 1),        # sample 0: 90% right, 256-512 tokens left
                     joint(0.2, 5)]),      # sample 1: 20% right, 4096-8192 tokens left
    root_joint=0.5 * joint(0.6, 3) + 0.5 * joint(0.6, 4),   # a fresh sample from the prompt
    n_created=2)
# cap 2: no new sample may start, the question is which running ones to keep
config = PlannerConfig(rewards, lengths, alpha=0.1, beta=0.05, cap=2, search="exhaustive")

decision = plan(state, config)
s = decision.strategy
h = lengths.horizon_label(s.horizon_index)       # ticks from now, None = never prune
print(f"keep samples {list(s.keep)}, start {s.new} new, prune {'never' if h is None else f'after {h} ticks'} "
      f"(value {decision.q:.4f}, D = {decision.normalizer:.2f} ticks)")
print("first action: advance", list(decision.advance), "and start", s.new, "| stop:", decision.stop)

if __name__ == "__main__":
    assert 0 in s.keep and 1 not in s.keep   # keep the promising sample, drop the long shot
