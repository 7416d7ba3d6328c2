"""Masked softmax loss (MSL) and LML: closed forms, switches, NaN safety, dense == gather."""

import doctest

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.losses import _masked_softmax, lm_loss, masked_softmax_loss, masked_softmax_loss_gather


def _problem(seed: int, lead=(3,), t=5, v=11, f=4):
    """Random logits, per-position candidate sets (with one single-valid and one empty row) and
    targets inside the candidate sets."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(*lead, t, v)).astype(np.float32) * 3
    cand = np.full((*lead, t, f), -1, np.int32)
    targets = np.zeros((*lead, t), np.int32)
    for idx in np.ndindex(*lead, t):
        k = rng.integers(1, f + 1)
        ids = rng.choice(v, size=k, replace=False)
        cand[idx][:k] = ids
        targets[idx] = rng.choice(ids)
    first = (0,) * len(lead)
    cand[first + (1,)] = [targets[first + (1,)], -1, -1, -1]  # single valid token
    cand[first + (2,)] = -1  # no valid token (padding)
    valid = np.zeros((*lead, t, v), bool)
    for idx in np.ndindex(*lead, t, f):
        if cand[idx] >= 0:
            valid[idx[:-1] + (cand[idx],)] = True
    return logits, targets, valid, cand


def _reference(logits, targets, valid, tau, tau_factor, drop_single):
    """float64 numpy: per-position loss and the kept mask."""
    x = logits.astype(np.float64) / tau
    count = valid.sum(-1)
    m = np.where(valid, x, -np.inf).max(-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    total = np.where(valid, np.exp(x - m), 0).sum(-1)
    lse = np.log(np.maximum(total, 1e-300)) + m[..., 0]
    gold = np.take_along_axis(x, targets[..., None], -1)[..., 0]
    per = (lse - gold) * (tau if tau_factor else 1.0)
    keep = count > (1 if drop_single else 0)
    return np.where(keep, per, 0.0), keep


@pytest.mark.parametrize("tau_factor", [True, False])
@pytest.mark.parametrize("drop_single", [False, True])
@pytest.mark.parametrize("tau", [1.0, 2.5])
def test_masked_softmax_matches_numpy_and_gather(tau_factor, drop_single, tau):
    logits, targets, valid, cand = _problem(0)
    per, keep = _reference(logits, targets, valid, tau, tau_factor, drop_single)
    kw = {"temperature": tau, "tau_factor": tau_factor, "drop_single_valid": drop_single}
    dense = jax.jit(lambda *a: masked_softmax_loss(*a, **kw))(logits, targets, valid)
    gather = jax.jit(lambda *a: masked_softmax_loss_gather(*a, **kw))(logits, targets, cand)
    np.testing.assert_allclose(dense, per.sum() / keep.sum(), rtol=1e-5)
    np.testing.assert_allclose(gather, dense, rtol=1e-6)
    per_dense = masked_softmax_loss(logits, targets, valid, reduce_fn=None, **kw)
    np.testing.assert_allclose(per_dense, per, rtol=1e-5, atol=1e-6)
    summed = masked_softmax_loss_gather(logits, targets, cand, reduce_fn=jnp.sum, **kw)
    np.testing.assert_allclose(summed, per.sum(), rtol=1e-5)


def test_tau_one_is_negative_log_valid_probability():
    logits, targets, valid, _ = _problem(1)
    p = np.exp(logits.astype(np.float64)) * valid
    p_valid = np.take_along_axis(p, targets[..., None], -1)[..., 0] / np.maximum(p.sum(-1), 1e-300)
    keep = valid.any(-1)
    per = masked_softmax_loss(logits, targets, valid, reduce_fn=None)
    np.testing.assert_allclose(per[keep], -np.log(p_valid[keep]), rtol=1e-5, atol=1e-6)


def test_lml_equals_cross_entropy_and_bounds_msl():
    logits, targets, valid, _ = _problem(2)
    ce = -np.take_along_axis(jax.nn.log_softmax(logits.astype(np.float64)), targets[..., None], -1)
    np.testing.assert_allclose(lm_loss(logits, targets, reduce_fn=None), ce[..., 0], rtol=1e-5)
    # Lemma 1 per token: the valid-set softmax loss never exceeds the full-vocabulary one.
    msl = masked_softmax_loss(logits, targets, valid, reduce_fn=None)
    assert np.all(np.asarray(msl) <= ce[..., 0] + 1e-5)
    # tau: LML without factor = CE of logits / tau; with the factor it is tau times that.
    scaled = lm_loss(logits / 3.0, targets)
    np.testing.assert_allclose(lm_loss(logits, targets, temperature=3.0), scaled, rtol=1e-5)
    np.testing.assert_allclose(
        lm_loss(logits, targets, temperature=3.0, tau_factor=True), 3 * scaled, rtol=1e-5
    )


def test_where_excludes_positions():
    logits, targets, valid, _ = _problem(3)
    where = np.ones(targets.shape, bool)
    where[1] = False
    per, keep = _reference(logits, targets, valid, 1.0, True, False)
    keep &= where
    got = masked_softmax_loss(logits, targets, valid, where=where)
    np.testing.assert_allclose(got, np.where(keep, per, 0).sum() / keep.sum(), rtol=1e-5)


@pytest.mark.parametrize("form", ["dense", "gather"])
def test_gradients_zero_on_invalid_and_finite_everywhere(form):
    logits, targets, valid, cand = _problem(4)
    logits[0, 0, ~valid[0, 0]] = 1e30  # huge invalid logits must not leak in
    targets = targets.copy()
    targets[0, 2] = -100  # ignored padded position with no valid token

    def loss(x):
        if form == "dense":
            return masked_softmax_loss(x, targets, valid, temperature=2.0)
        return masked_softmax_loss_gather(x, targets, cand, temperature=2.0)

    value, grad = jax.jit(jax.value_and_grad(loss))(jnp.asarray(logits))
    grad = np.asarray(grad)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert np.all(grad[~valid] == 0.0)  # exactly zero, not just small
    assert np.all(grad[0, 1] == 0.0)  # single valid token: loss 0, no gradient
    assert np.all(grad[0, 2] == 0.0)  # empty valid set: excluded
    assert np.any(grad[valid] != 0.0)


def test_all_masked_is_zero_without_nan():
    logits, targets, valid, cand = _problem(5)
    where = np.zeros(targets.shape, bool)
    for fn, arg in ((masked_softmax_loss, valid), (masked_softmax_loss_gather, cand)):
        value, grad = jax.value_and_grad(
            lambda x, fn=fn, arg=arg: fn(x, targets, arg, where=where)
        )(logits)
        assert float(value) == 0.0 and np.all(np.asarray(grad) == 0.0)
    value, grad = jax.value_and_grad(lambda x: lm_loss(x, targets, where=where))(logits)
    assert float(value) == 0.0 and np.all(np.asarray(grad) == 0.0)


def test_extreme_logits_and_leading_dims():
    logits, targets, valid, cand = _problem(6, lead=(2, 3))
    big = np.where(valid, logits * 1e36, -1e37).astype(np.float32)
    value = masked_softmax_loss_gather(big, targets, cand, temperature=4.0)
    assert np.isfinite(value)
    flat = masked_softmax_loss(
        logits.reshape(6, 5, 11), targets.reshape(6, 5), valid.reshape(6, 5, 11)
    )
    np.testing.assert_allclose(masked_softmax_loss(logits, targets, valid), flat, rtol=1e-6)
    vmapped = jax.vmap(lambda a, b, c: masked_softmax_loss(a, b, c, reduce_fn=None))(
        logits, targets, valid
    )
    np.testing.assert_allclose(
        vmapped, masked_softmax_loss(logits, targets, valid, reduce_fn=None), rtol=1e-6
    )


def test_bad_inputs_raise():
    logits, targets, valid, cand = _problem(7)
    with pytest.raises(ValueError, match="valid_mask"):
        masked_softmax_loss(logits, targets, valid[..., :-1])
    with pytest.raises(ValueError, match="bool"):
        masked_softmax_loss(logits, targets, valid.astype(np.int32))
    with pytest.raises(ValueError, match="targets"):
        masked_softmax_loss(logits, targets[..., :-1], valid)
    with pytest.raises(ValueError, match="candidates"):
        masked_softmax_loss_gather(logits, targets, cand[0])
    with pytest.raises(ValueError, match="floating"):
        lm_loss(targets, targets[..., 0])


def _three_forms(logits, targets, valid, cand, **kw):
    """The dense MSL, gather MSL and LML values for the same inputs."""
    return (
        masked_softmax_loss(logits, targets, valid, **kw),
        masked_softmax_loss_gather(logits, targets, cand, **kw),
        lm_loss(logits, targets, **kw),
    )


@pytest.mark.parametrize(
    "bad", [0.0, -1.0, np.inf, np.nan, np.float32(0.0), jnp.float32(-1.0), np.array([1.0, 2.0])]
)
def test_concrete_temperatures_are_checked(bad):
    logits, targets, valid, cand = _problem(8)
    for form in range(3):
        with pytest.raises(ValueError, match="temperature must be"):
            _three_forms(logits, targets, valid, cand, temperature=bad)[form]
    # numpy / jax scalars are accepted and equal the Python float; a traced one is not checked
    ref = _three_forms(logits, targets, valid, cand, temperature=2.0)
    for good in (np.float32(2.0), jnp.float32(2.0)):
        np.testing.assert_allclose(
            _three_forms(logits, targets, valid, cand, temperature=good), ref
        )
    traced = jax.jit(lambda t: _three_forms(logits, targets, valid, cand, temperature=t))(2.0)
    np.testing.assert_allclose(traced, ref, rtol=1e-6)


def test_out_of_range_targets_are_errors_not_clipped():
    logits, targets, valid, cand = _problem(9)
    where = np.ones(targets.shape, bool)
    where[0, 2] = False  # the empty-valid-set position
    for bad in (-100, -1, logits.shape[-1]):
        t = targets.copy()
        t[1, 3] = bad  # a supervised position with a non-empty valid set
        for form in range(3):
            with pytest.raises(ValueError, match=r"targets must be token ids.*index \(1, 3\)"):
                _three_forms(logits, t, valid, cand, where=where)[form]
            with pytest.raises(ValueError, match="targets must be token ids"):  # where=None
                _three_forms(logits, t, valid, cand)[form]
        # traced: the position, hence the loss, is NaN (not the clipped token's value)
        traced = jax.jit(lambda x, t: _three_forms(x, t, valid, cand, where=where))(logits, t)
        assert all(np.isnan(v) for v in traced)
        # excluded by `where`: any id is fine, the loss equals the one without the position
        where_bad = where.copy()
        where_bad[1, 3] = False
        t_ok = targets.copy()
        t_ok[1, 3] = 0
        got = _three_forms(logits, t, valid, cand, where=where_bad)
        np.testing.assert_allclose(got, _three_forms(logits, t_ok, valid, cand, where=where_bad))
    # -100 at a position without valid tokens is not supervised by MSL: allowed with where=None
    t = targets.copy()
    t[0, 2] = -100
    assert np.isfinite(masked_softmax_loss(logits, t, valid))
    assert np.isfinite(masked_softmax_loss_gather(logits, t, cand))


def test_empty_batch_and_zero_candidates_are_zero_with_zero_gradient():
    v = 7
    cases = {
        "empty batch": (np.zeros((0, 4, v), np.float32), np.zeros((0, 4), np.int32), 2),
        "no positions": (np.zeros((3, 0, v), np.float32), np.zeros((3, 0), np.int32), 2),
        "F = 0": (np.ones((3, 4, v), np.float32), np.zeros((3, 4), np.int32), 0),
    }
    for name, (logits, targets, f) in cases.items():
        cand = np.full((*targets.shape, f), -1, np.int32)
        cand[..., :f] = np.arange(f)
        valid = np.zeros(logits.shape, bool)
        valid[..., :f] = True
        losses = [
            lambda x, t, m: masked_softmax_loss(x, t, m[0]),
            lambda x, t, m: masked_softmax_loss_gather(x, t, m[1]),
        ]
        if name != "F = 0":  # lm_loss has no valid set; F = 0 rows are not empty for it
            losses.append(lambda x, t, m: lm_loss(x, t))
        for loss in losses:
            value, grad = jax.value_and_grad(loss)(jnp.asarray(logits), targets, (valid, cand))
            assert float(value) == 0.0, name
            np.testing.assert_array_equal(grad, np.zeros_like(logits), err_msg=name)


def test_docstring_examples():
    result = doctest.testmod(_masked_softmax, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
