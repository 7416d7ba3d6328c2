"""Tests for the weighted trunk-branch contrastive loss against an independent numpy loop."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.losses import classification_ce, tbc_loss, tbcnet_objective


def np_tbc(z, zv, y, p, mode, tau, extra=False, shift=False):
    """Loop-by-loop float64 transcription of the TBC loss (spec §2.4)."""
    z, zv, p = (np.asarray(a, np.float64) for a in (z, zv, p))
    b = len(y)
    s = np.array([[z[i] @ zv[j] / tau for j in range(b)] for i in range(b)])
    if shift:
        s = s - s.max(axis=1, keepdims=True)
    num, den = 0.0, 0.0
    for i in range(b):
        terms = []
        for k in range(b):
            w = p[k, y[i]] if mode == "cvl" else 1.0
            mneg = 0.0 if y[i] == y[k] else w
            terms.append(np.exp(s[i, k] * np.exp(mneg)))
        for j in range(b):
            w = p[j, y[i]] if mode == "cvl" else 1.0
            if y[i] != y[j]:
                continue
            d = sum(terms) + (np.exp(s[i, j]) if extra else 0.0)
            num += w * (s[i, j] - np.log(d))
            den += w
    return 0.0 if den == 0 else -(num / den) / b**2


def _inputs(seed, b=6, d=5, c=3):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(b, d))
    zv = rng.normal(size=(b, d))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    zv /= np.linalg.norm(zv, axis=1, keepdims=True)
    y = rng.integers(0, c, size=b)
    logits = rng.normal(size=(b, c)) * 2
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return z.astype(np.float32), zv.astype(np.float32), y, p.astype(np.float32)


@pytest.mark.parametrize(
    "mode,extra,shift", list(itertools.product(("cv", "cvl"), (False, True), (False, True)))
)
def test_matches_numpy_transcription(mode, extra, shift):
    for seed in range(3):
        z, zv, y, p = _inputs(seed)
        got = tbc_loss(z, zv, y, p, mode=mode, extra_positive_term=extra, shift_row_max=shift)
        want = np_tbc(z, zv, y, p, mode, 0.7, extra, shift)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_all_weights_one_equals_unweighted():
    z, zv, y, _ = _inputs(4)
    ones = np.ones((len(y), 3), np.float32)
    np.testing.assert_allclose(
        tbc_loss(z, zv, y, ones, mode="cvl"), tbc_loss(z, zv, y, mode="cv"), rtol=1e-6
    )
    # with unit weights M- = 1 on every negative, so cv's denominator amplifies by e: check that
    s = z @ zv.T / 0.7
    neg = y[:, None] != y[None, :]
    ell = s - np.log(np.exp(np.where(neg, s * np.e, s)).sum(1, keepdims=True))
    pos = ~neg
    want = -(ell[pos].sum() / pos.sum()) / len(y) ** 2
    np.testing.assert_allclose(tbc_loss(z, zv, y, mode="cv"), want, rtol=1e-5)


def test_no_positive_pair_is_finite_with_zero_grad():
    z, zv, _, p = _inputs(5, b=3)
    y = np.array([0, 1, 2])  # every anchor's class differs from every other sample's
    # the diagonal i == j is still a positive: drop it by giving the branch other labels
    zeros = np.zeros_like(p)
    loss, grad = jax.value_and_grad(lambda a: tbc_loss(a, zv, y, zeros, mode="cvl"))(z)
    assert np.isfinite(loss) and loss == 0.0
    assert np.all(np.isfinite(grad)) and np.all(grad == 0.0)


def test_jit_and_grad_finite_and_mode_c():
    z, zv, y, p = _inputs(6)
    f = jax.jit(lambda a, b: tbc_loss(a, b, y, p))
    g = jax.grad(f, argnums=(0, 1))(z, zv)
    assert all(np.all(np.isfinite(x)) for x in g)
    assert tbc_loss(z, zv, y, p, mode="c") == 0.0


def test_bad_inputs_raise():
    z, zv, y, p = _inputs(7)
    with pytest.raises(ValueError, match="mode"):
        tbc_loss(z, zv, y, p, mode="x")
    with pytest.raises(ValueError, match="branch_probs"):
        tbc_loss(z, zv, y, mode="cvl")
    with pytest.raises(ValueError, match="labels"):
        tbc_loss(z, zv, y[:-1], p)
    with pytest.raises(ValueError, match="temperature"):
        tbc_loss(z, zv, y, p, temperature=0.0)


def test_objective_combines_terms_and_double_softmax():
    rng = np.random.default_rng(0)
    v, b, c, d = 3, 6, 4, 5
    y = rng.integers(0, c, b)
    tl = rng.normal(size=(b, c)).astype(np.float32)
    vl = rng.normal(size=(v, b, c)).astype(np.float32)
    z = rng.normal(size=(b, d)).astype(np.float32)
    ve = rng.normal(size=(v, b, d)).astype(np.float32)
    loss, m = tbcnet_objective(tl, y, vl, z, ve, mode="cvl")
    probs = jax.nn.softmax(vl, -1)
    want = classification_ce(tl, y) + (0.5 / v) * sum(
        classification_ce(vl[k], y) + 0.5 * tbc_loss(z, ve[k], y, probs[k]) for k in range(v)
    )
    np.testing.assert_allclose(loss, want, rtol=1e-5)
    stage1, _ = tbcnet_objective(tl, y)
    np.testing.assert_allclose(stage1, classification_ce(tl, y), rtol=1e-6)
    # double softmax: CE of softmax outputs treated as logits, independent numpy
    sm = np.exp(tl) / np.exp(tl).sum(1, keepdims=True)
    ref = -np.mean(np.log(np.exp(sm) / np.exp(sm).sum(1, keepdims=True))[np.arange(b), y])
    np.testing.assert_allclose(classification_ce(tl, y, double_softmax=True), ref, rtol=1e-5)
    lc, mc = tbcnet_objective(tl, y, vl, mode="c")
    assert mc["tbc"] == 0.0 and jnp.isfinite(lc)
