"""Real services: local Hugging Face folders run on a task folder of JSONL files.

Task folder format: one ``<task>.jsonl`` per task, one JSON object per line,
``{"question": str, "answers": [str, ...]}`` (at least one non-empty answer). For every service,
task and context ``c`` (``shots`` demonstrations drawn with the seed from the task's first
``demo_pool`` lines), the prompt of question ``q`` is
``"Q: {demo_q}\\nA: {demo_a}\\n\\n" * shots + "Q: {q}\\nA:"``; the evaluated questions are the
next ``num_examples`` lines (never a demonstration).

Extraction is batched with static shapes: every batch is left-padded to the longest prompt of
the whole run and to ``batch_size`` rows, then :func:`jaxrec.models.llm.greedy_generate`. The
answer text is the decoded generation up to the first newline (after EOS removal); F1 / EM are
scored on it, NLL over all generated tokens up to and including EOS.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxrec.llmservice.features import generation_features, token_f1
from jaxrec.llmservice.simulate import World
from jaxrec.models.llm import greedy_generate, load_pretrained

__all__ = ["extract", "hf_world", "load_service", "load_tasks", "prompt"]


def load_tasks(folder: str | Path) -> dict[str, list[tuple[str, list[str]]]]:
    """``{task: [(question, answers), ...]}`` from ``folder/*.jsonl`` (sorted by name)."""
    folder = Path(folder)
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"task folder {folder} has no *.jsonl files")
    tasks = {}
    for f in files:
        rows = []
        for i, line in enumerate(f.read_text().splitlines(), 1):
            if not line.strip():
                continue
            item = json.loads(line)
            answers = item.get("answers")
            if (
                not isinstance(item.get("question"), str)
                or not isinstance(answers, list)
                or not [a for a in answers if isinstance(a, str) and a.strip()]
            ):
                raise ValueError(
                    f"{f.name} line {i}: needs a 'question' string and a non-empty 'answers' list"
                )
            rows.append((item["question"], answers))
        tasks[f.stem] = rows
    return tasks


def prompt(demos: Sequence[tuple[str, list[str]]], question: str) -> str:
    return "".join(f"Q: {q}\nA: {a[0]}\n\n" for q, a in demos) + f"Q: {question}\nA:"


def load_service(path: str | Path):
    """``(model, tokenizer)`` of a local HF folder; errors name the folder."""
    try:
        model, tok = load_pretrained(path)
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"service folder {path} does not load: {e}") from e
    if tok is None or tok.eos_token_id is None:
        raise ValueError(f"service folder {path} has no tokenizer with an EOS token")
    return model, tok


def extract(
    model, tokenizer, prompts: Sequence[str], golds: Sequence[Sequence[str]], *,
    batch_size: int = 16, max_new_tokens: int = 16, prompt_len: int | None = None,
    nll_reduce: str = "mean",
) -> tuple[dict[str, np.ndarray], np.ndarray]:  # fmt: skip
    """Per-example ``({feature: [n]}, f1 [n] in points)`` for ``prompts`` (see module doc)."""
    ids = [tokenizer(p, add_special_tokens=True)["input_ids"] for p in prompts]
    t = prompt_len or max(len(x) for x in ids)
    if max(len(x) for x in ids) > t:
        raise ValueError(f"a prompt has {max(len(x) for x in ids)} tokens > prompt_len={t}")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    feats: dict[str, list] = {}
    f1 = []
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        arr = np.full((batch_size, t), pad, np.int32)
        mask = np.zeros((batch_size, t), bool)
        for r, x in enumerate(chunk + [chunk[0]] * (batch_size - len(chunk))):
            arr[r, t - len(x) :], mask[r, t - len(x) :] = x, True
        gen = greedy_generate(model, arr, mask, max_new_tokens=max_new_tokens,
                              eos_id=int(tokenizer.eos_token_id), pad_id=int(pad))  # fmt: skip
        for k, v in generation_features(gen, nll_reduce).items():
            feats.setdefault(k, []).append(np.asarray(v)[: len(chunk)])
        toks, keep = np.asarray(gen.tokens), np.asarray(gen.token_mask)
        for r in range(len(chunk)):
            text = tokenizer.decode(toks[r][keep[r]], skip_special_tokens=True).strip()
            answer = text.split("\n")[0]
            f1.append(100.0 * token_f1(answer, golds[start + r]))
    return {k: np.concatenate(v) for k, v in feats.items()}, np.asarray(f1)


def hf_world(
    services: Sequence[str], task_folder: str | Path, *, num_contexts: int = 10,
    num_examples: int = 200, shots: int = 3, demo_pool: int = 20, batch_size: int = 16,
    max_new_tokens: int = 16, seed: int = 0,
) -> World:  # fmt: skip
    """A :class:`World` of every (service, task, context) from real generations."""
    tasks = load_tasks(task_folder)
    for name, rows in tasks.items():
        if len(rows) < demo_pool + num_examples:
            raise ValueError(
                f"task {name}: {len(rows)} examples, needs demo_pool + num_examples = "
                f"{demo_pool + num_examples}"
            )
    rng = np.random.default_rng(seed)
    contexts = {
        n: [rng.choice(demo_pool, shots, replace=False) for _ in range(num_contexts)] for n in tasks
    }
    feats: dict[str, list] = {}
    f1, task, service, context = [], [], [], []
    for si, path in enumerate(services):
        model, tok = load_service(path)
        for ti, (name, rows) in enumerate(tasks.items()):
            evals = rows[demo_pool : demo_pool + num_examples]
            for ci, demo_idx in enumerate(contexts[name]):
                demos = [rows[i] for i in demo_idx]
                f, y = extract(model, tok, [prompt(demos, q) for q, _ in evals], [a for _, a in evals],
                               batch_size=batch_size, max_new_tokens=max_new_tokens)  # fmt: skip
                for k, v in f.items():
                    feats.setdefault(k, []).append(v)
                f1.append(y)
                task.append(ti)
                service.append(si)
                context.append(ci)
    return World(
        features={k: np.stack(v).astype(np.float32) for k, v in feats.items()},
        f1=np.stack(f1),
        task=np.asarray(task),
        service=np.asarray(service),
        context=np.asarray(context),
        task_names=tuple(tasks),
        service_names=tuple(Path(p).name for p in services),
    )
