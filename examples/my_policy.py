"""Write your own policy: start three samples at once and answer by plurality vote.

This is majority voting with N = 3 written from scratch against the public interface; run
it beside the built-in policies (it reproduces ``mv`` with N = 3 exactly, same samples)::

    python -m ziprc_cli.main study --suite gsm8k --questions 100 --policies mv \\
        --policy-module examples/my_policy.py:ThreeVotes
    python -m ziprc_cli.main replay --traces runs/gsm8k.parquet --policies mv \\
        --policy-module examples/my_policy.py:ThreeVotes

or from Python: ``python examples/my_policy.py``.
"""

from metamdp.policies import Action, Policy, View


class ThreeVotes(Policy):
    name = "three_votes"        # labels its rows in tables, JSON and plots
    selection = "plurality"     # how the answer is chosen among finished samples

    def __call__(self, view: View) -> Action:
        if view.n_created == 0:
            return Action(keep=[], new=3)              # start three samples
        # advance every unfinished sample; once none is left this is empty: stop
        return Action(keep=[s.sid for s in view.unfinished])


if __name__ == "__main__":
    from simulators.policies import make
    from simulators.results import summarize
    from simulators.runner import run_policy
    from simulators.synthetic import build_world

    world = build_world("gsm8k", n_questions=50)
    mine = summarize(run_policy(world, ThreeVotes(), seed=0), alpha=0.1)
    mv3 = summarize(run_policy(world, make("mv", n=3), seed=0), alpha=0.1)
    print("three_votes", mine)
    print("mv (N=3)   ", mv3)
    assert mine == mv3, "the same samples and the same rule must give the same numbers"
