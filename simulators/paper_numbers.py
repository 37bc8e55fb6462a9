"""The paper's reported numbers (Manvi et al., arXiv 2512.01457), typed once.

The world fit (:mod:`simulators.worldfit`) reads the rows it fits to; the figures
(``paper_figures/``) print them beside ours. Which of them the fit may use (fitted) and
which it only predicts is decided in :mod:`simulators.worldfit`, not here.

Table 2: Qwen3-1.7B, alpha = 0.1, beta = 0.01, cap 8; accuracy in % at matched generation
cost (the paper reports one cost per method). Table 1: prediction quality per model.
"""

TABLE2_SUITES = ("aime24", "amc23", "math500", "gsm8k", "mixed")

#: policy of this testbed that implements a row -> the paper's name, its generation cost and
#: its accuracy (%) per suite
TABLE2 = {
    "ziprc": {"label": "ZIP-RC sampling", "cost": 1.43,
              "acc": {"aime24": 65.8, "amc23": 90.9, "math500": 94.1, "gsm8k": 92.2, "mixed": 92.2}},
    "mv": {"label": "Majority vote", "cost": 1.40,
           "acc": {"aime24": 53.1, "amc23": 87.9, "math500": 93.0, "gsm8k": 91.2, "mixed": 91.0}},
    "length_prune": {"label": "MV + length pruning", "cost": 1.46,
                     "acc": {"aime24": 25.1, "amc23": 58.5, "math500": 84.7, "gsm8k": 91.6, "mixed": 88.0}},
    "wbon_rm": {"label": "Weighted BoN (external RM)", "cost": 1.43,
                "acc": {"aime24": 54.7, "amc23": 86.5, "math500": 92.6, "gsm8k": 91.4, "mixed": 91.0}},
    "wbon": {"label": "Weighted BoN (self-eval GenRM)", "cost": 1.40,
             "acc": {"aime24": 59.4, "amc23": 89.1, "math500": 93.6, "gsm8k": 91.6, "mixed": 91.6}},
    "reward_prune": {"label": "ZIP-RC reward pruning (E[value] < 0.4)", "cost": 1.33,
                     "acc": {"aime24": 43.3, "amc23": 86.0, "math500": 90.3, "gsm8k": 89.6, "mixed": 88.9}},
}

#: LFM2-350M-Math on Mixed: ZIP-RC vs MV
TABLE2_LFM2_350M = {"ziprc": {"acc": 74.1, "cost": 1.49}, "mv": {"acc": 68.8, "cost": 1.70}}

#: model -> start TV, end F1, end accuracy, end recall on incorrect (threshold 0.5)
TABLE1 = {
    "Qwen3-1.7B": {"start_tv": 0.46, "end_f1": 0.91, "end_accuracy": 0.88, "end_recall_incorrect": 0.82},
    "LFM2-1.2B-Math": {"start_tv": 0.45, "end_f1": 0.91, "end_accuracy": 0.87, "end_recall_incorrect": 0.69},
    "LFM2-350M-Math": {"start_tv": 0.48, "end_f1": 0.80, "end_accuracy": 0.82, "end_recall_incorrect": 0.87},
}
#: ZIP-RC-Lite is reported worse at the start of generation (start TV about 0.63)
TABLE1_LITE_START_TV = 0.63
