"""Tokenizers behind one small interface: a byte-level BPE trained on the titles (for decoders
trained from scratch, see README.md "How to run") or a local Hugging Face tokenizer folder.

``tokenizers`` / ``transformers`` are imported only when a tokenizer is built (optional extra).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["TextTokenizer", "load_tokenizer", "train_bpe_tokenizer"]

PAD, EOS = "<pad>", "<eos>"


class TextTokenizer:
    """``encode_batch``/``decode`` without special tokens, plus ``eos_id``, ``pad_id`` and
    ``vocab_size``; wraps a ``tokenizers.Tokenizer`` or a transformers fast tokenizer."""

    def __init__(self, backend: Any, eos_id: int, pad_id: int, vocab_size: int):
        self.backend = backend
        self.eos_id = int(eos_id)
        self.pad_id = int(pad_id)
        self.vocab_size = int(vocab_size)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        if hasattr(self.backend, "encode_batch"):  # tokenizers.Tokenizer
            return [e.ids for e in self.backend.encode_batch(list(texts), add_special_tokens=False)]
        return self.backend(list(texts), add_special_tokens=False)["input_ids"]

    def decode(self, ids: Sequence[int]) -> str:
        return self.backend.decode([int(i) for i in ids if i not in (self.eos_id, self.pad_id)])

    def save(self, path: str | Path) -> None:
        """Writes ``tokenizer.json`` (BPE) or the tokenizer folder (transformers) to ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if hasattr(self.backend, "encode_batch"):
            tmp = path / "tokenizer.json.tmp"
            self.backend.save(str(tmp))
            tmp.replace(path / "tokenizer.json")
        else:
            self.backend.save_pretrained(str(path))


def _wrap_bpe(tok: Any) -> TextTokenizer:
    return TextTokenizer(tok, tok.token_to_id(EOS), tok.token_to_id(PAD), tok.get_vocab_size())


def train_bpe_tokenizer(
    texts: Sequence[str], vocab_size: int = 4096, min_frequency: int = 2
) -> TextTokenizer:
    """A byte-level BPE (GPT-2/LLaMA-3 style pre-tokenisation) trained on ``texts`` (the titles
    and the prompt words), with ``<pad>`` = 0 and ``<eos>`` = 1. Deterministic for fixed input."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[PAD, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    return _wrap_bpe(tok)


def load_tokenizer(path: str | Path) -> TextTokenizer:
    """Loads ``path/tokenizer.json`` saved by :meth:`TextTokenizer.save` (BPE), or a local Hugging
    Face tokenizer folder through ``transformers.AutoTokenizer`` (no hub access). A tokenizer
    without a pad token pads with EOS.

    Raises:
      FileNotFoundError: if ``path`` is not a folder.
      ValueError: if the tokenizer has no EOS token.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: tokenizer folder not found")
    if (path / "tokenizer.json").is_file() and not (path / "tokenizer_config.json").is_file():
        from tokenizers import Tokenizer

        return _wrap_bpe(Tokenizer.from_file(str(path / "tokenizer.json")))
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    if tok.eos_token_id is None:
        raise ValueError(f"{path}: tokenizer has no EOS token")
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    return TextTokenizer(tok, tok.eos_token_id, pad, len(tok))
