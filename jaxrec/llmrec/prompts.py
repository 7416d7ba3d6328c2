"""Prompts (paper §2, Table 1; the compact style: README.md "How to run") and their encoding into
fixed-shape training/eval arrays.

Alpaca style (the authors' ``generate_prompt`` layout)::

    <preamble>\\n\\n### Instruction:\\n<instruction>\\n\\n### Input:\\n<prefix>"t1", "t2"\\n \\n\\n
    ### Response:\\n"<target title>"<eos>

The compact style (for decoders trained from scratch, README.md) keeps only
``<prefix>"t1", ...\\n### Response:\\n``. Only the response (target title in quotes + EOS) is
supervised. Sequences are left-padded to a fixed length ``P + R`` (``P`` = prompt budget, ``R`` =
the trie's deepest entry) so the response always occupies the last ``R`` positions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from jaxrec.data.title_sequences import TitleSequences
from jaxrec.llmrec.tokenizer import TextTokenizer
from jaxrec.llmrec.trie import TitleTrie, title_entry, walk_responses

__all__ = ["PREAMBLE", "WORDING", "encode_windows", "prompt_text"]

PREAMBLE = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request. "
)

# dataset -> (instruction, history prefix); the authors' utils.get_prompt wording.
WORDING: dict[str, tuple[str, str]] = {
    "toy": (
        (
            "Given a list of toys the user has played before, please recommend a new toy that the "
            "user likes to the user."
        ),
        "The user has played the following toys before: ",
    ),
    "book": (
        (
            "Given a list of books the user has read before, please recommend a new book that the "
            "user likes to the user."
        ),
        "The user has read the following books before: ",
    ),
    "clothing": (
        (
            "Given a list of clothing the user has worn before, please recommend a new clothing that "
            "the user likes to the user."
        ),
        "The user has worn the following clothing before: ",
    ),
    "office": (
        (
            "Given a list of office products the user has used before, please recommend a new office "
            "product that the user likes to the user."
        ),
        "The user has used the following office products before: ",
    ),
    "synthetic": (
        (
            "Given a list of books the user has read before, please recommend a new book that the "
            "user likes to the user."
        ),
        "The user has read the following books before: ",
    ),
}

STYLES = ("alpaca", "compact")


def prompt_text(history: Sequence[str], *, dataset: str, style: str = "alpaca") -> str:
    """The prompt up to and including ``### Response:\\n`` for a history of raw titles."""
    if dataset not in WORDING:
        raise ValueError(f"unknown prompt dataset {dataset!r}; expected one of {sorted(WORDING)}")
    instruction, prefix = WORDING[dataset]
    listed = prefix + ", ".join(title_entry(t) for t in history)
    if style == "alpaca":
        return (
            f"{PREAMBLE}\n\n### Instruction:\n{instruction}\n\n### Input:\n{listed}\n \n\n"
            "### Response:\n"
        )
    if style == "compact":
        return f"{listed}\n### Response:\n"
    raise ValueError(f"unknown prompt style {style!r}; expected one of {STYLES}")


def _shorten(title: str, max_words: int) -> str:
    words = title.split(" ")
    return title if max_words <= 0 or len(words) <= max_words else " ".join(words[:max_words])


def _fit_prompts(
    tokenizer: TextTokenizer,
    histories: list[list[str]],
    dataset: str,
    style: str,
    max_prompt_len: int,
) -> tuple[list[str], list[list[int]]]:
    """Prompts whose tokens fit ``max_prompt_len``, dropping the oldest history titles as needed
    (re-encoding only the rows that are still too long)."""
    histories = [list(h) for h in histories]
    texts = [prompt_text(h, dataset=dataset, style=style) for h in histories]
    tokens = tokenizer.encode_batch(texts)
    long_rows = [i for i, t in enumerate(tokens) if len(t) > max_prompt_len]
    while long_rows:
        for i in long_rows:
            if not histories[i]:
                raise ValueError(
                    f"prompt row {i} exceeds max_prompt_len={max_prompt_len} with no history"
                )
            histories[i].pop(0)
            texts[i] = prompt_text(histories[i], dataset=dataset, style=style)
        for i, t in zip(long_rows, tokenizer.encode_batch([texts[i] for i in long_rows])):
            tokens[i] = t
        long_rows = [i for i in long_rows if len(tokens[i]) > max_prompt_len]
    return texts, tokens


def encode_windows(
    windows: TitleSequences,
    titles: Mapping[int, str],
    tokenizer: TextTokenizer,
    trie: TitleTrie,
    *,
    dataset: str,
    style: str = "alpaca",
    max_prompt_len: int = 256,
    max_history: int = 10,
    history_title_words: int = 0,
    drop_mismatched: bool = False,
    source: str = "windows",
) -> dict[str, np.ndarray]:
    """Tokenises windows into fixed-shape arrays (``S = max_prompt_len + R``, ``R =
    trie.max_depth``).

    The response is tokenised inside the full prompt, as training sees it, then walked down the
    trie; a response tokenised differently than its title alone raises
    :class:`~jaxrec.llmrec.trie.TokenizationMismatchError` naming the items (or, with
    ``drop_mismatched``, is dropped with a warning).

    Returns:
      ``input_ids`` int32 ``[n, S]`` (prompt + response, left-padded), ``attention_mask`` bool
      ``[n, S]``, ``targets`` int32 ``[n, R]`` the response tokens right-aligned (= the last ``R``
      inputs where supervised, -1 elsewhere), ``nodes`` int32 ``[n, R]`` the trie node before
      each target (-1 elsewhere), ``prompt_ids`` int32 ``[n, P]`` / ``prompt_mask`` bool
      ``[n, P]`` the left-padded prompt alone (for beam search), ``target_entry`` int32 ``[n]``
      the trie entry of the target item, ``row`` int32 ``[n]`` the window index.
    """
    histories = [
        [_shorten(titles[i], history_title_words) for i in h[-max_history:]]
        for h in windows.histories()
    ]
    texts, prompt_tokens = _fit_prompts(tokenizer, histories, dataset, style, max_prompt_len)
    targets = windows.targets
    full = tokenizer.encode_batch([p + title_entry(titles[int(t)]) for p, t in zip(texts, targets)])
    depth = trie.max_depth
    n = len(windows)
    responses = np.full((n, depth + 1), -1, np.int64)
    for i, (p, f) in enumerate(zip(prompt_tokens, full)):
        if f[: len(p)] != p:  # the prompt itself tokenises differently: a mismatch at token 0
            responses[i, 0] = trie.vocab_size
            continue
        r = f[len(p) :][:depth] + [tokenizer.eos_id]
        responses[i, : len(r)] = r
    nodes, keep = walk_responses(
        trie, responses, targets, drop_mismatched=drop_mismatched, source=source
    )
    rows = np.flatnonzero(keep)
    seq_len = max_prompt_len + depth
    out = {
        "input_ids": np.full((rows.size, seq_len), tokenizer.pad_id, np.int32),
        "attention_mask": np.zeros((rows.size, seq_len), bool),
        "targets": np.full((rows.size, depth), -1, np.int32),
        "nodes": np.full((rows.size, depth), -1, np.int32),
        "prompt_ids": np.full((rows.size, max_prompt_len), tokenizer.pad_id, np.int32),
        "prompt_mask": np.zeros((rows.size, max_prompt_len), bool),
        "target_entry": trie.entry_of_items(targets[rows]).astype(np.int32),
        "row": rows.astype(np.int32),
    }
    for k, i in enumerate(rows):
        p = prompt_tokens[i]
        r = responses[i][responses[i] >= 0]
        seq = np.concatenate([p, r])
        out["input_ids"][k, seq_len - seq.size :] = seq
        out["attention_mask"][k, seq_len - seq.size :] = True
        out["targets"][k, depth - r.size :] = r
        out["nodes"][k, depth - r.size :] = nodes[i, : r.size]
        out["prompt_ids"][k, max_prompt_len - len(p) :] = p
        out["prompt_mask"][k, max_prompt_len - len(p) :] = True
    return out
