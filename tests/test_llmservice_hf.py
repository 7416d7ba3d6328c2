"""The HF path on the tiny Llama / Qwen2 fixtures: a task folder of JSONL files -> a world of
(service, task, context) settings; batching does not change the features; bad input errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the HF path needs transformers (extra llm)")

from jaxrec.llmservice import hf_world  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "llm"
SERVICES = [str(FIXTURES / "tiny_llama"), str(FIXTURES / "tiny_qwen2")]


def _task_folder(root: Path, n: int = 8) -> Path:
    root.mkdir()
    for name, fmt in [("add", "what is {i} plus 1"), ("echo", "repeat the word w{i}")]:
        lines = [
            json.dumps({"question": fmt.format(i=i), "answers": [str(i + 1), f"w{i}"]})
            for i in range(n)
        ]
        (root / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    return root


def test_hf_world_on_the_tiny_fixtures(tmp_path):
    world = hf_world.hf_world(
        SERVICES, _task_folder(tmp_path / "tasks"), num_contexts=2, num_examples=4, shots=2,
        demo_pool=4, batch_size=4, max_new_tokens=3,
    )  # fmt: skip
    assert world.f1.shape == (2 * 2 * 2, 4) and world.task_names == ("add", "echo")
    assert world.service_names == ("tiny_llama", "tiny_qwen2")
    for v in world.features.values():
        assert v.shape == (8, 4) and np.isfinite(v).all()
    assert ((world.f1 >= 0) & (world.f1 <= 100)).all()


def test_batching_does_not_change_the_features():
    model, tok = hf_world.load_service(SERVICES[0])
    prompts = [hf_world.prompt([("a b", ["c"])], q) for q in ["x", "y y y y", "z z"]]
    golds = [["c"]] * 3
    f2, y2 = hf_world.extract(
        model, tok, prompts, golds, batch_size=2, max_new_tokens=3, prompt_len=32
    )
    f3, y3 = hf_world.extract(
        model, tok, prompts, golds, batch_size=3, max_new_tokens=3, prompt_len=26
    )
    for k in f2:
        np.testing.assert_allclose(f2[k], f3[k], rtol=2e-4, atol=1e-5)
    np.testing.assert_array_equal(y2, y3)


def test_bad_input_names_the_file_or_folder(tmp_path):
    folder = _task_folder(tmp_path / "tasks")
    (folder / "bad.jsonl").write_text(json.dumps({"question": "q", "answers": []}) + "\n")
    with pytest.raises(ValueError, match="bad.jsonl line 1"):
        hf_world.load_tasks(folder)
    (folder / "bad.jsonl").unlink()
    with pytest.raises(ValueError, match="task add: 8 examples"):
        hf_world.hf_world(SERVICES[:1], folder, num_examples=10, demo_pool=4)
    with pytest.raises(ValueError, match="service folder .*nowhere does not load"):
        hf_world.load_service(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no \\*.jsonl"):
        hf_world.load_tasks(tmp_path)
