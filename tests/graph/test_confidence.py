"""Stage-1 confidence: entropy and confidences against numpy, contrastive rescaling, cache."""

import numpy as np
import pytest

from jaxrec.graph.confidence import (
    cached_arrays,
    confidence_from_probs,
    contrastive_confidence,
    entropy,
    stage1_key,
)


def test_entropy_and_confidence_against_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5, 4))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    probs[0, 0] = [1.0, 0.0, 0.0, 0.0]  # 0 ln 0 = 0
    h_np = -(probs * np.log(np.where(probs > 0, probs, 1.0))).sum(-1)
    np.testing.assert_allclose(entropy(probs), h_np, rtol=1e-12)
    c, h = confidence_from_probs(probs)
    np.testing.assert_allclose(h, h_np.mean(0), rtol=1e-6)
    np.testing.assert_allclose(c, np.exp(-h_np.mean(0)), rtol=1e-6)  # mean entropy, then exp
    assert not np.allclose(c, np.exp(-h_np).mean(0))
    uniform = np.full((1, 2, 4), 0.25)
    np.testing.assert_allclose(confidence_from_probs(uniform)[1], np.log(4), rtol=1e-6)
    with pytest.raises(ValueError, match="seeds, n, C"):
        confidence_from_probs(probs[0])


def test_contrastive_confidence_rescaling():
    losses = np.array([3.7, 5.0, 7.3])
    c = contrastive_confidence(losses)
    np.testing.assert_allclose(c, np.exp(3.7 - losses), rtol=1e-6)
    assert c.max() == 1.0
    mm = contrastive_confidence(losses, "minmax")
    raw = np.exp(-losses)
    np.testing.assert_allclose(mm, (raw - raw.min()) / (raw.max() - raw.min()), rtol=1e-5)
    with pytest.raises(ValueError, match="rescale"):
        contrastive_confidence(losses, "sum")


def test_cache_is_written_once_and_keyed(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"confidence": np.arange(3.0)}

    key = stage1_key("grcn", "cora", {"k": 100}, [0, 1, 2])
    assert key != stage1_key("grcn", "cora", {"k": 50}, [0, 1, 2])
    assert key != stage1_key("grcn", "cora", {"k": 100}, [0, 1])
    first = cached_arrays(tmp_path / f"stage1-{key}.npz", compute)
    second = cached_arrays(tmp_path / f"stage1-{key}.npz", compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(first["confidence"], second["confidence"])
    assert [p.name for p in tmp_path.iterdir()] == [f"stage1-{key}.npz"]  # no temp left
