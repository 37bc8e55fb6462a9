"""The paper's figures and tables, and this project's own, one module each.

Every module has ``NAME``, ``collect(stages) -> data`` (the numbers, from the cached stages of
:mod:`paper_figures.stages`), ``make(data, out_dir, params) -> paths`` (draws and writes
``NAME.png/.pdf/.json`` or ``NAME.md/.json``) and ``build(stages, out_dir)``. Run all of them
with ``ziprc figures`` (:mod:`paper_figures.run`), or one alone with
``python -m paper_figures.NAME [--out DIR] [--fast]``.
"""

#: name -> (module, stages it needs), in the order they are built
FIGURES = {
    "planner_speed": ("planner_speed", ("planner",)),
    "theorem_margins": ("theorem_margins", ("theorem",)),
    "optimality_gap": ("optimality_gap", ("theorem",)),
    "fig3_frontiers": ("fig3_frontiers", ("sweep", "llm")),
    "table2_matched_cost": ("table2_matched_cost", ("sweep", "llm")),
    "corruption": ("corruption", ("corruption",)),
    "regimes": ("regimes", ("regimes",)),
    "fig4_kl": ("fig4_kl", ("llm",)),
    "table1_prediction_quality": ("table1_prediction_quality", ("llm",)),
    "fig1_reserved_logits": ("fig1_reserved_logits", ("llm", "initial")),
    "fig2_initial_joints": ("fig2_initial_joints", ("llm", "initial")),
    "fig5_lite": ("fig5_lite", ("llm", "initial")),
    "zero_overhead": ("zero_overhead", ("zero_overhead", "llm")),
}
NAMES = tuple(FIGURES)
