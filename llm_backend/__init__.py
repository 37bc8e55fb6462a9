"""A real model that predicts its own reward and remaining length (ZIP-RC), trained here.

Modules
-------
``config``     the pipeline's configuration and the model's grid (torch-free: the CLI reads
               its defaults from here).
``slice``      the reserved slice of the output head: grid <-> token ids, reading joints,
               masking, a Hugging Face ``LogitsProcessor``.
``task``       a procedurally generated arithmetic task with an exact checker.
``tok``        a character-level tokenizer built with ``tokenizers``.
``model``      a small ``LlamaForCausalLM``, pretraining on noisy scratchpads, save/load.
``decode``     the project's own decode loop: a pool of KV caches advanced in one batch.
``rollouts``   temperature-1 rollouts with exact correctness labels.
``train``      ZIP-RC training (full with forward KL, value denoising, ZIP-RC-Lite).
``evaluate``   Table 1 analogue, calibration, remaining-length coverage.
``sampler``    the online sampler driven by the engine's planner; majority voting.
``checkpoint`` loading a local checkpoint with the official ZIP-RC layout.
``bench``      the zero-overhead benchmark.
``rows``       sampling results as result rows, compared with majority voting at matched
               cost (numbers from :mod:`simulators.results`).
``pipeline``   the demo and its stages; ``external``: any prompt set on any local checkpoint.

Torch is imported lazily by these modules; ``metamdp`` never imports this package.
"""
