"""The reserved slice of the output head.

A ZIP-RC model reserves ``R * L`` contiguous rows of its output head starting at
``distribution_token_id``. The softmax over those logits is the joint distribution over
(final reward state, remaining-length bin) of the current prefix, laid out reward-major:
``index = reward_state * L + length_bin``. The slice is masked (set to ``-inf``) before a
token is sampled, so the prediction costs nothing beyond the forward pass that produced the
next-token logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

QWEN3_DISTRIBUTION_TOKEN_ID = 151669


class SliceError(ValueError):
    """The reserved slice does not fit the model's head or overlaps emittable tokens."""


@dataclass(frozen=True)
class ReservedSlice:
    """Where the joint lives in the head.

    Parameters
    ----------
    distribution_token_id : int
        First head row of the slice.
    reward_states : int
        Number of reward states ``R`` (2: correctness, 7: value head).
    length_bins : int
        Number of remaining-length bins ``L``.
    """

    distribution_token_id: int
    reward_states: int
    length_bins: int

    def __post_init__(self):
        for name in ("distribution_token_id", "reward_states", "length_bins"):
            v = getattr(self, name)
            if int(v) != v or v < (0 if name == "distribution_token_id" else 1):
                raise SliceError(f"{name} must be a {'non-negative' if name == 'distribution_token_id' else 'positive'} integer, got {v!r}")
        if self.reward_states < 2:
            raise SliceError(f"reward_states must be >= 2, got {self.reward_states}")

    @property
    def num_bins(self) -> int:
        return self.reward_states * self.length_bins

    @property
    def start(self) -> int:
        return int(self.distribution_token_id)

    @property
    def stop(self) -> int:
        return int(self.distribution_token_id) + self.num_bins

    def index(self, reward_state, length_bin):
        """Flat reward-major index ``reward_state * L + length_bin`` (within the slice)."""
        r = np.asarray(reward_state)
        b = np.asarray(length_bin)
        if np.any(r < 0) or np.any(r >= self.reward_states):
            raise SliceError(f"reward state out of range 0..{self.reward_states - 1}: {r}")
        if np.any(b < 0) or np.any(b >= self.length_bins):
            raise SliceError(f"length bin out of range 0..{self.length_bins - 1}: {b}")
        return r * self.length_bins + b

    def token_id(self, reward_state, length_bin):
        """Head row of grid cell ``(reward_state, length_bin)``."""
        return self.start + self.index(reward_state, length_bin)

    def cell(self, token_id: int) -> tuple[int, int]:
        """Grid cell ``(reward_state, length_bin)`` of a head row inside the slice."""
        k = int(token_id) - self.start
        if not 0 <= k < self.num_bins:
            raise SliceError(f"token id {token_id} is outside the slice [{self.start}, {self.stop})")
        return divmod(k, self.length_bins)

    # ------------------------------------------------------------------ checks

    def check(self, head_rows: int, tokenizer=None) -> None:
        """Raise :class:`SliceError` unless the slice fits the head and no emittable token
        of ``tokenizer`` (its whole vocabulary, added and special tokens included) falls in it."""
        if self.stop > int(head_rows):
            raise SliceError(f"the slice [{self.start}, {self.stop}) of {self.reward_states} x "
                             f"{self.length_bins} bins does not fit a head of {head_rows} rows")
        if tokenizer is not None:
            ids = set(tokenizer.get_vocab().values())
            ids.update(getattr(tokenizer, "all_special_ids", []) or [])
            bad = sorted(i for i in ids if self.start <= i < self.stop)
            if bad:
                raise SliceError(f"the slice [{self.start}, {self.stop}) overlaps {len(bad)} token(s) "
                                 f"the tokenizer can emit, first id {bad[0]} "
                                 f"({tokenizer.convert_ids_to_tokens(bad[0])!r})")

    # ------------------------------------------------------------------ tensors

    def slice_logits(self, logits: torch.Tensor) -> torch.Tensor:
        return logits[..., self.start:self.stop]

    def joints(self, logits: torch.Tensor) -> torch.Tensor:
        """Joint of every row of ``logits`` (``(..., V)`` -> ``(..., R, L)``), in float32."""
        p = torch.softmax(self.slice_logits(logits).float(), dim=-1)
        return p.reshape(*p.shape[:-1], self.reward_states, self.length_bins)

    def mask(self, head_rows: int, device=None, extra_from: int | None = None) -> torch.Tensor:
        """Boolean mask of the head rows never to sample: the slice, plus every row from
        ``extra_from`` on when given (rows the tokenizer has no token for)."""
        m = torch.zeros(int(head_rows), dtype=torch.bool, device=device)
        m[self.start:self.stop] = True
        if extra_from is not None:
            m[int(extra_from):] = True
        return m

    def to_json(self) -> dict:
        return {"distribution_token_id": self.start, "reward_states": self.reward_states,
                "length_bins": self.length_bins}


def expected_value(joint: torch.Tensor, reward_values) -> torch.Tensor:
    """``E[value]`` of joints ``(..., R, L)``."""
    v = torch.as_tensor(np.asarray(reward_values, dtype=np.float32), device=joint.device)
    return (joint.sum(-1) * v).sum(-1)


def expected_remaining(joint: torch.Tensor, length_representative) -> torch.Tensor:
    """``E[remaining]`` of joints ``(..., R, L)`` in the unit of ``length_representative``."""
    r = torch.as_tensor(np.asarray(length_representative, dtype=np.float32), device=joint.device)
    return (joint.sum(-2) * r).sum(-1)


class ZipRCLogitsProcessor:
    """A Hugging Face ``LogitsProcessor``: reads the joint from the scores of each step and
    masks the slice so that ``model.generate`` never samples it.

    The joints of every call are appended to :attr:`joints` (a list of ``(batch, R, L)``
    tensors, one per generated token; entry ``t`` is the prediction after ``t`` generated
    tokens). Masking follows ``SuppressTokensLogitsProcessor``: ``torch.where`` on a
    precomputed mask.
    """

    def __init__(self, reserved: ReservedSlice, head_rows: int, extra_from: int | None = None,
                 record: bool = True):
        self.reserved = reserved
        self.head_rows = int(head_rows)
        self.extra_from = extra_from
        self.record = record
        self.joints: list[torch.Tensor] = []
        self._mask = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.record:
            self.joints.append(self.reserved.joints(scores).detach().cpu())
        if self._mask is None or self._mask.device != scores.device or self._mask.numel() != scores.shape[-1]:
            self._mask = self.reserved.mask(scores.shape[-1], scores.device, self.extra_from)
        return torch.where(self._mask, torch.tensor(-float("inf"), dtype=scores.dtype,
                                                    device=scores.device), scores)


def as_hf_processor(proc: ZipRCLogitsProcessor):
    """Wrap :class:`ZipRCLogitsProcessor` in a ``LogitsProcessorList`` for ``generate``."""
    from transformers import LogitsProcessor, LogitsProcessorList

    class _P(LogitsProcessor):
        def __call__(self, input_ids, scores):
            return proc(input_ids, scores)

    return LogitsProcessorList([_P()])
