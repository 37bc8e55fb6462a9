"""A character-level tokenizer built with ``tokenizers`` and wrapped as ``PreTrainedTokenizerFast``."""

from __future__ import annotations

CHARS = "0123456789+*=;?QA:,"
SPECIAL = ("<pad>", "<bos>", "<eos>")


def build_tokenizer():
    """Return a ``PreTrainedTokenizerFast`` with one token per character of :data:`CHARS`.

    Ids: ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, then the characters. Decoding concatenates.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIAL)}
    for c in CHARS:
        vocab[c] = len(vocab)
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<pad>"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tk.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", bos_token="<bos>",
                                  eos_token="<eos>", unk_token="<pad>")
    return tok


def encode(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]
