"""Average precision vs scikit-learn (ties included) and the detection report row."""

from __future__ import annotations

import numpy as np
import pytest

from jaxrec.metrics import average_precision, detection_metrics


def test_average_precision_matches_sklearn_with_ties_and_where():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for trial in range(5):
        labels = rng.integers(0, 2, 200)
        scores = np.round(rng.random(200), 1).astype(np.float32)  # many ties
        got = float(average_precision(labels, scores))
        assert got == pytest.approx(sk.average_precision_score(labels, scores), abs=1e-6), trial
        keep = rng.random(200) < 0.6
        got = float(average_precision(labels, scores, where=keep))
        want = sk.average_precision_score(labels[keep], scores[keep])
        assert got == pytest.approx(want, abs=1e-6), trial


def test_detection_metrics_hand_example():
    labels = np.array([0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.6, 0.2, 0.9, 0.4])
    m = detection_metrics(labels, scores)
    assert m["acc"] == pytest.approx(3 / 5)
    assert m["real_acc"] == pytest.approx(2 / 3) and m["fake_acc"] == pytest.approx(1 / 2)
    assert m["auroc"] == pytest.approx(5 / 6)  # 0.4 beats 0.1 and 0.2, 0.9 beats all three
    assert m["ap"] == pytest.approx((1 / 1 + 2 / 3) / 2)  # fakes ranked 1st and 3rd
    with pytest.raises(ValueError, match=r"must be \[n\]"):
        detection_metrics(labels[:4], scores)
