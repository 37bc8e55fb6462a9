"""``ziprc llm``: the LLM backend (a small model trained here that predicts its own reward and
remaining length; ZIP-RC sampling with it).

Subcommands: ``demo`` (everything from nothing), the stages ``pretrain``, ``rollouts``,
``train``, ``evaluate``, ``sample``, ``frontier`` (each reads and writes ``--out DIR``), ``predict``
(per-token predictions of any local checkpoint) and ``score`` (recorded rollouts, e.g. the
authors' pipeline's, scored into replayable traces by any local checkpoint).
"""

from __future__ import annotations

import json
from pathlib import Path

from llm_backend.config import FAST, Config, make_config


class LLMCommandError(ValueError):
    """A user error in ``ziprc llm`` arguments."""


DEFAULT_OUT = "runs/llm"
QUIET_HELP = "no progress bars"
_DEFAULT = Config()


def _fmt(value) -> str:
    if isinstance(value, tuple):
        return ",".join(_fmt(v) for v in value)
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _default(field: str) -> str:
    """``(default N; --fast M)`` of a Config field, read from the Config itself (the help must
    not drift from the pipeline's defaults, and building the parser must not import torch)."""
    value = getattr(_DEFAULT, field)
    if field in FAST and FAST[field] != value:
        return f"(default {_fmt(value)}; --fast {_fmt(FAST[field])})"
    return f"(default {_fmt(value)})"


def _torch_setup(args):
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the install
        raise LLMCommandError("the LLM backend needs the [llm] extra: pip install -e '.[llm]'") from None
    if args.device not in ("cpu", "cuda") and not str(args.device).startswith("cuda:"):
        raise LLMCommandError(f"--device must be cpu or cuda, got {args.device!r}")
    if str(args.device).startswith("cuda") and not torch.cuda.is_available():
        raise LLMCommandError("--device cuda was requested but CUDA is not available")
    if args.device == "cpu" and getattr(args, "threads", None):
        torch.set_num_threads(int(args.threads))
    import warnings

    warnings.filterwarnings("ignore", message=".*past_key_values.*")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def _config(args):
    over = {"device": args.device, "seed": args.seed}
    if getattr(args, "size", None):
        over["size"] = args.size
    for k in ("pretrain_steps", "train_steps", "eval_questions", "eval_k", "sample_questions",
              "train_prompts", "alpha_kl"):
        if getattr(args, k, None) is not None:
            over[k] = getattr(args, k)
    if getattr(args, "betas", None):
        over["betas"] = tuple(float(b) for b in args.betas.split(","))
    if getattr(args, "denoise", None) is not None:
        over["denoise"] = bool(args.denoise)
    if getattr(args, "policies", None):
        from llm_backend.policies import PolicyConfigError, parse_policy_names

        try:
            over["policies"] = tuple(parse_policy_names(args.policies))
        except PolicyConfigError as e:
            raise LLMCommandError(f"--policies: {e}") from None
    if getattr(args, "policy_module", None):
        from metamdp.policies import POLICY_NAMES, load_policies

        load_policies(args.policy_module, reserved=POLICY_NAMES)   # fail early, with a clear message
        over["policy_modules"] = tuple(args.policy_module)
    if getattr(args, "smooth_tokens", None) is not None:
        if args.smooth_tokens < 0:
            raise LLMCommandError(f"--smooth-tokens must be >= 0 (0 = off), got {args.smooth_tokens}")
        over["smooth_tokens"] = args.smooth_tokens
    if getattr(args, "floor", None):
        over["floor"] = args.floor
    if getattr(args, "planner", None):
        over["planner"] = args.planner
    return make_config(fast=getattr(args, "fast", False), **over)


def _need(path: Path, what: str, stage: str):
    if not path.exists():
        raise LLMCommandError(f"{path} not found: run `ziprc llm {stage} --out {path.parent}` first ({what})")


def _common(p, out=True):
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (same code path; default cpu)")
    p.add_argument("--seed", type=int, default=0, help="seed of the task, model and sampling (default 0)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--fast", action="store_true",
                   help="the smoke-run configuration (fewer steps and questions; under 2 minutes)")
    if out:
        p.add_argument("--out", default=DEFAULT_OUT, help=f"run directory (default {DEFAULT_OUT})")


def cmd_demo(args):
    _torch_setup(args)
    from llm_backend.pipeline import run_demo

    if args.denoise is None:
        args.denoise = True         # the demo shows the paper's 7-state denoised value head
    c = _config(args)
    if args.fast:
        print("smoke run (--fast): every stage on a few questions, to check the install, not the method")
    run_demo(Path(args.out), c, progress=not args.quiet, smoke=args.fast, json_path=args.json)
    print(f"wrote {Path(args.out) / 'summary.json'}" + (f" and {args.json}" if args.json else ""))
    return 0


def cmd_pretrain(args):
    _torch_setup(args)
    from llm_backend.pipeline import stage_pretrain

    r = stage_pretrain(Path(args.out), _config(args), progress=not args.quiet)
    print(json.dumps(r, indent=2))
    return 0


def cmd_rollouts(args):
    _torch_setup(args)
    from llm_backend.pipeline import stage_rollouts

    _need(Path(args.out) / "pretrained", "the pretrained model", "pretrain")
    r = stage_rollouts(Path(args.out), _config(args), progress=not args.quiet)
    print(json.dumps({k: v for k, v in r.items() if k != "by_steps"}, indent=2))
    return 0


def cmd_train(args):
    _torch_setup(args)
    from llm_backend.pipeline import stage_train

    _need(Path(args.out) / "rollouts.jsonl", "training rollouts", "rollouts")
    name = args.name or ("ziprc_lite" if args.lite else "ziprc")
    r = stage_train(Path(args.out), _config(args), name=name, alpha_kl=args.alpha_kl, lite=args.lite,
                    progress=not args.quiet)
    print(json.dumps(r, indent=2))
    return 0


def cmd_evaluate(args):
    _torch_setup(args)
    from llm_backend.pipeline import stage_evaluate

    names = tuple(args.models.split(","))
    for n in names:
        _need(Path(args.out) / n, f"model {n}", "train")
    r = stage_evaluate(Path(args.out), _config(args), names, progress=not args.quiet)
    for n, m in r.items():
        keep = ("start_tv", "start_tv_noise_floor", "end_f1", "end_accuracy", "end_recall_incorrect",
                "end_auroc", "within_question_auroc", "ece_end", "ece_start", "length_coverage_80")
        print(n, json.dumps({k: round(m[k], 4) for k in keep}))
    return 0


#: what ``sample --prompts`` runs when ``--policies`` is not given: the paper's comparison
PROMPT_FILE_POLICIES = ("mv", "ziprc")


def _sample_prompts(args):
    """``sample --prompts``: any prompt file on any local checkpoint directory."""
    from llm_backend.external import sample_prompts
    from llm_backend.rows import format_matched, format_rows

    d = Path(args.model)
    if not d.is_dir():
        raise LLMCommandError(f"--model {d} is not a directory: with --prompts, --model is a local checkpoint")
    betas = tuple(float(b) for b in args.betas.split(",")) if args.betas else (0.01, 0.1)
    r = sample_prompts(d, args.prompts, Path(args.out), answer_regex=args.answer_regex, chat=args.chat,
                       reward_states=args.reward_states, distribution_token_id=args.distribution_token_id,
                       length_bins=args.length_bins, dtype=args.dtype, device=args.device, cap=args.cap,
                       betas=betas, max_new_tokens=args.max_new_tokens or 512, delta=args.delta,
                       seed=args.seed, floor=args.floor or "distribution", limit=args.sample_questions,
                       planner=args.planner or "ours", policy_modules=tuple(args.policy_module or ()),
                       concurrent=args.concurrent, progress=not args.quiet, engine=args.engine,
                       policies=args.policies or PROMPT_FILE_POLICIES)
    print(format_rows(r["rows"]))
    for m in r["matched"]:
        print(format_matched(m))
    print(f"wrote {Path(args.out) / 'sampling.json'} and the traces (replay: ziprc replay --traces "
          f"{Path(args.out) / 'traces_majority.parquet'})")
    return 0


def cmd_sample(args):
    _torch_setup(args)
    if args.prompts:
        return _sample_prompts(args)
    if args.engine != "hf":
        raise LLMCommandError(f"--engine {args.engine} needs --prompts (the demo's own sample stage runs "
                              "on the hf engine)")
    from llm_backend.pipeline import stage_sample

    _need(Path(args.out) / args.model, f"model {args.model}", "train")
    from llm_backend.rows import format_matched, format_rows

    r = stage_sample(Path(args.out), _config(args), args.model, progress=not args.quiet)
    print(format_rows(r["rows"]))
    for m in r["matched"]:
        print(format_matched(m))
    return 0


def cmd_frontier(args):
    from simulators.traces import read_metadata

    from llm_backend.pipeline import format_frontier, stage_frontier

    out = Path(args.out)
    traces = out / "traces_majority.parquet"
    _need(traces, "the majority-vote recordings", "sample")
    c = _config(args)
    # the recorded run's settings, so that the replay runs ZIP-RC as that run did (flags win)
    rec = read_metadata(traces).get("params", {})
    keep = {k: rec[k] for k in ("alpha", "cap", "search", "floor", "planner") if k in rec}
    if "betas" in rec and not args.betas:
        keep["betas"] = tuple(float(b) for b in rec["betas"])
    for k in ("floor", "planner"):
        if getattr(args, k, None):
            keep.pop(k, None)
    if args.betas:
        keep["betas"] = tuple(float(b) for b in args.betas.split(","))
    from dataclasses import replace

    c = replace(c, **keep)
    f = stage_frontier(out, c, progress=not args.quiet)
    print(format_frontier(f))
    print(f"({f['seconds']}s) wrote {out / 'frontier.json'} and {out / 'frontier.png'}")
    return 0


def cmd_predict(args):
    if not args.prompt.strip():  # checked first: no need to load torch to say so
        raise LLMCommandError("--prompt is empty: give the text the model should continue")
    _torch_setup(args)
    from llm_backend.checkpoint import load_ziprc, predict

    d = Path(args.model)
    if not d.is_dir():
        raise LLMCommandError(f"--model {d} is not a directory (checkpoints load only from local directories)")
    if args.max_new_tokens < 1:
        raise LLMCommandError(f"--max-new-tokens must be >= 1, got {args.max_new_tokens}")
    model, tok, reserved, rewards, lengths = load_ziprc(d, args.distribution_token_id, args.reward_states,
                                                        args.length_bins, args.device, dtype=args.dtype)
    r = predict(model, tok, reserved, rewards, lengths, args.prompt, args.max_new_tokens,
                sample=args.sample, seed=args.seed, chat=args.chat)
    print(format_predictions(r))
    if args.json:
        from simulators.io import provenance, write_json_atomic

        write_json_atomic(args.json, dict(r, provenance=provenance(
            "ziprc llm predict", args.seed, {"model": str(d), "prompt": args.prompt,
                                             "max_new_tokens": args.max_new_tokens, "sample": args.sample,
                                             "chat": args.chat, "dtype": args.dtype or "float32"})))
        print(f"wrote {args.json}")
    return 0


def cmd_score(args):
    _torch_setup(args)
    from llm_backend.score import score_rollouts

    d = Path(args.model)
    if not d.is_dir():
        raise LLMCommandError(f"--model {d} is not a directory (checkpoints load only from local directories)")
    regex = None if args.answer_regex == "none" else args.answer_regex
    s = score_rollouts(d, args.rollouts, args.out, delta=args.delta, batch_tokens=args.batch_tokens,
                       shard_rows=args.shard_rows, dtype=args.dtype, device=args.device,
                       reward_states=args.reward_states, distribution_token_id=args.distribution_token_id,
                       length_bins=args.length_bins, answer_regex=regex, progress=not args.quiet)
    rate = f"{s['tokens_per_s']:,.0f} tokens/s" if s["tokens_per_s"] else "every shard resumed"
    print(f"scored {s['rows']} rollouts of {s['questions']} questions ({s['ticks']} decision points, one "
          f"every {s['delta']} tokens) in {s['seconds']:.1f}s, {rate}"
          + (f"; {s['resumed_shards']} shard(s) resumed" if s["resumed_shards"] else ""))
    print(f"head shortcut vs the full forward pass: max |joint difference| {s['head_check']:.2g}")
    print(f"wrote {s['out']} (replay: ziprc replay --traces {s['out']})")
    return 0


def format_predictions(r: dict) -> str:
    """``predict``'s table: one row per generated token, with a header that gives the units."""
    vals = r["reward_values"]
    lines = [f"prediction read when each token was chosen (for the prompt and the tokens before it); "
             f"reward grid {len(vals)} states in [{min(vals):g}, {max(vals):g}]",
             f"{'step':>4}  {'token':<14}{'E[value]':>9}  {'E[remaining] (tokens)':>21}"]
    for t, (tk, ev, er) in enumerate(zip(r["tokens"], r["expected_value"], r["expected_remaining"])):
        lines.append(f"{t:>4}  {tk!r:<14}{ev:>9.3f}  {er:>21.1f}")
    lines.append(f"{len(r['tokens'])} token(s); E[value]: expected final reward; E[remaining]: "
                 "expected tokens still to come (length-bin midpoints)")
    return "\n".join(lines)


def _sampling_options(p):
    from llm_backend.policies import ONLINE_DEFAULT_POLICIES, ONLINE_FLOORS, ONLINE_POLICY_NAMES

    p.add_argument("--policies", default=None,
                   help="comma-separated online policies: " + ",".join(ONLINE_POLICY_NAMES)
                   + " (default: all but " + ",".join(sorted(set(ONLINE_POLICY_NAMES) - set(ONLINE_DEFAULT_POLICIES)))
                   + ", which run when named; with --prompts: " + ",".join(PROMPT_FILE_POLICIES) + ")")
    p.add_argument("--policy-module", action="append", default=None, metavar="PATH.py:ClassName",
                   help="also run your own metamdp.policies.Policy subclass (repeatable or comma-separated)")
    p.add_argument("--smooth-tokens", type=int, default=None, metavar="W",
                   help="causal moving average of the joint over the last W tokens (default 0 = off)")
    p.add_argument("--floor", choices=ONLINE_FLOORS, default=None,
                   help="how ZIP-RC's planner sees finished samples: their predicted reward "
                        "distributions (distribution, the default) or a floor at the best finished "
                        "value rounded down or to the nearest grid value")
    from .planner_option import add_planner_option

    add_planner_option(p, default=None)


def _checkpoint_options(p):
    p.add_argument("--reward-states", type=int, default=None,
                   help="reward states of the head (2 or 7); required without ziprc.json")
    p.add_argument("--distribution-token-id", type=int, default=None,
                   help="first head row of the slice (default: ziprc.json's, else the first row without a token)")
    p.add_argument("--length-bins", type=int, default=None, help="length bins (default: ziprc.json's, else 8)")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default=None, help="weights dtype (default float32)")


def register(subparsers):
    p = subparsers.add_parser("llm", help="a small model that predicts its own reward and length; ZIP-RC sampling with it")
    sub = p.add_subparsers(dest="llm_command", metavar="STAGE")
    sub.required = True

    d = sub.add_parser("demo", help="the whole pipeline from nothing, ending in a table")
    _common(d)
    d.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    d.add_argument("--json", default=None, metavar="OUT",
                   help="write the headline numbers (within_question_auroc, policy_accuracy, matched_cost) here")
    d.add_argument("--denoise", action="store_true", default=None,
                   help="the 7-state denoised value head (the default of the demo)")
    d.add_argument("--binary", dest="denoise", action="store_false",
                   help="a 2-state correctness head instead of the 7-state value head")
    _sampling_options(d)
    d.set_defaults(func=cmd_demo)

    s = sub.add_parser("pretrain", help="build and pretrain the policy on noisy scratchpads")
    _common(s)
    s.add_argument("--size", choices=["tiny", "small", "base", "large"],
                   help=f"model size {_default('size')}")
    s.add_argument("--pretrain-steps", type=int, metavar="N", help=f"pretraining steps {_default('pretrain_steps')}")
    s.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    s.set_defaults(func=cmd_pretrain)

    s = sub.add_parser("rollouts", help="temperature-1 rollouts with exact labels")
    _common(s)
    s.add_argument("--train-prompts", type=int, metavar="N",
                   help=f"prompts to roll out for training {_default('train_prompts')}")
    s.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    s.set_defaults(func=cmd_rollouts)

    s = sub.add_parser("train", help="ZIP-RC training (full with KL, or --lite)")
    _common(s)
    s.add_argument("--alpha-kl", type=float, default=None, metavar="W",
                   help=f"weight of the KL to the frozen model {_default('alpha_kl')}")
    s.add_argument("--lite", action="store_true", help="ZIP-RC-Lite: only the slice rows learn")
    s.add_argument("--denoise", action="store_true", help="value-denoising stage (7 reward states)")
    s.add_argument("--train-steps", type=int, metavar="N", help=f"training steps {_default('train_steps')}")
    s.add_argument("--name", default=None, help="output model name (default ziprc / ziprc_lite)")
    s.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("evaluate", help="Table 1 analogue, calibration, length coverage")
    _common(s)
    s.add_argument("--models", default="ziprc", help="comma-separated model names in --out (default ziprc)")
    s.add_argument("--eval-questions", type=int, metavar="N", help=f"evaluation questions {_default('eval_questions')}")
    s.add_argument("--eval-k", type=int, metavar="K", help=f"samples per evaluation question {_default('eval_k')}")
    s.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("sample", help="ZIP-RC sampling vs majority voting (writes traces)")
    _common(s)
    s.add_argument("--model", default="ziprc", help="model name in --out to sample with (default ziprc)")
    s.add_argument("--sample-questions", type=int, metavar="N", help=f"questions to sample {_default('sample_questions')}")
    s.add_argument("--betas", default=None, help=f"comma-separated ZIP-RC cost weights beta {_default('betas')}")
    s.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    _sampling_options(s)
    s.add_argument("--prompts", default=None, metavar="FILE.jsonl",
                   help='any prompt set: one {"id", "prompt", "answer"} object per line; --model is then '
                        "a local checkpoint directory (ziprc.json optional)")
    s.add_argument("--answer-regex", default=None,
                   help="with --prompts: the answer is the last match (group 1 if any; default: the last number)")
    s.add_argument("--chat", action="store_true", help="with --prompts: apply the tokenizer's chat template")
    s.add_argument("--cap", type=int, default=8, help="with --prompts: samples per question at most (default 8)")
    s.add_argument("--max-new-tokens", type=int, default=None,
                   help="with --prompts: tokens per sample at most (default 512)")
    s.add_argument("--delta", type=int, default=None,
                   help="with --prompts: tokens between decisions (default: ziprc.json's, else 64)")
    s.add_argument("--concurrent", type=int, default=1,
                   help="with --prompts: questions decoded together (their samples share each forward pass)")
    s.add_argument("--engine", choices=["hf", "vllm"], default="hf",
                   help="with --prompts: hf (the project's decode loop, default) or vllm (the checkpoint "
                        "served by vLLM; install: see docs/llm.md)")
    _checkpoint_options(s)
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("frontier", help="every policy over its knob, replayed from the sample stage's recordings",
                       description="Replay ZIP-RC (over beta, without branching) and every baseline (over its "
                                   "knob) exactly on traces_majority.parquet of --out; writes frontier.json "
                                   "(rows, matched-cost table at MV N=cap's cost, provenance) and frontier.png. "
                                   "alpha, cap, search, floor, planner and betas default to the recorded run's.")
    _common(s)
    s.add_argument("--betas", default=None, help="ZIP-RC betas added to the study's beta grid (default: the run's)")
    s.add_argument("--policy-module", action="append", default=None, metavar="PATH.py:ClassName",
                   help="also replay your own metamdp.policies.Policy subclass (repeatable or comma-separated)")
    from llm_backend.policies import ONLINE_FLOORS

    s.add_argument("--floor", choices=ONLINE_FLOORS, default=None,
                   help="how ZIP-RC's planner sees finished samples (default: the recorded run's)")
    from .planner_option import add_planner_option

    add_planner_option(s, default=None)
    s.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    s.set_defaults(func=cmd_frontier)

    s = sub.add_parser("predict", help="per-token joint, E[value] and E[remaining] from a local checkpoint")
    s.add_argument("--model", required=True, help="local checkpoint directory")
    s.add_argument("--prompt", required=True, help="the prompt text (not empty)")
    s.add_argument("--distribution-token-id", type=int, default=None, metavar="ID",
                   help="first logit row of the ZIP-RC slice (default: from ziprc.json, else the "
                        "tokenizer's size; a real Qwen3 checkpoint: 151669)")
    s.add_argument("--reward-states", type=int, default=None, metavar="R",
                   help="reward states of the slice (default: from ziprc.json, else 2)")
    s.add_argument("--length-bins", type=int, default=None, metavar="L",
                   help="length bins of the slice (default: from ziprc.json, else the official 8)")
    s.add_argument("--dtype", choices=["float32", "bfloat16"], default=None, help="weights dtype (default float32)")
    s.add_argument("--chat", action="store_true", help="apply the tokenizer's chat template to the prompt")
    s.add_argument("--max-new-tokens", type=int, default=64, metavar="N",
                   help="tokens to generate at most (default 64)")
    s.add_argument("--sample", action="store_true", help="sample at temperature 1 (default greedy)")
    s.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    s.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    s.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    s.add_argument("--json", default=None, help="write the predictions to this JSON file")
    s.set_defaults(func=cmd_predict)

    from llm_backend.score import DEFAULT_BATCH_TOKENS, DEFAULT_SHARD_ROWS

    s = sub.add_parser("score", help="score recorded rollouts (the authors' Parquet layout) into replayable traces",
                       description="Run every rollout of --rollouts teacher-forced through the checkpoint and "
                                   "write the joint it predicts after 0, delta, 2 delta, ... output tokens "
                                   "(the online sampler's decision points) as a trace file for `ziprc replay`. "
                                   "Columns read: prompt_idx, prompt_token_ids + output_token_ids (or input_ids "
                                   "+ label_positions), finished, correct, and when present value, response, "
                                   "answer, length. An interrupted run resumes from OUT.parts/.")
    s.add_argument("--model", required=True, help="local checkpoint directory")
    s.add_argument("--rollouts", required=True, metavar="FILE.parquet", help="rollouts, one row per sample")
    s.add_argument("--out", required=True, metavar="TRACES.parquet", help="trace file to write")
    s.add_argument("--delta", type=int, default=None, metavar="TOKENS",
                   help="tokens between decision points (default: ziprc.json's, else 64)")
    s.add_argument("--batch-tokens", type=int, default=None, metavar="N",
                   help="tokens per forward pass, padding included; longer rollouts are fed in chunks "
                        f"of N (default {DEFAULT_BATCH_TOKENS['cpu']} on CPU, {DEFAULT_BATCH_TOKENS['cuda']} on CUDA)")
    s.add_argument("--shard-rows", type=int, default=DEFAULT_SHARD_ROWS, metavar="N",
                   help=f"rollouts per resumable shard (default {DEFAULT_SHARD_ROWS})")
    s.add_argument("--answer-regex", default="boxed",
                   help="how the answer is read from response (after the last </think>): boxed (the last "
                        "\\boxed{...}, default), a regular expression (its last match), or none")
    _checkpoint_options(s)
    s.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    s.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    s.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    s.set_defaults(func=cmd_score)
