"""Tests for jaxrec.losses: SL, PSL, BPR against independent numpy closed forms and properties."""

import doctest
import functools

import chex
import hypothesis
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.losses import _ranking, bpr_loss, psl_loss, softmax_loss

ACTIVATIONS = ("tanh", "atan", "relu", "softplus", "exp")
HEAVISIDE_SURROGATES = ("tanh", "atan", "relu")  # δ(d) ≤ σ(d) ≤ e^d on [-1, 1]
SETTINGS = {"max_examples": 30, "deadline": None, "derandomize": True}


# --------------------------------------------------------------------------- numpy reference
def np_sigma(activation, d):
    """σ(d) itself (not its log), float64; relu/atan are 0 where they would go negative."""
    return {
        "tanh": lambda: 1.0 + np.tanh(d),
        "atan": lambda: np.maximum(1.0 + np.arctan(d), 0.0),
        "relu": lambda: np.maximum(d + 1.0, 0.0),
        "softplus": lambda: np.exp(d) + 1.0,
        "exp": lambda: np.exp(d),
    }[activation]()


def np_psl(pos, neg, activation, tau, where=None, include_positive=False, inside=False):
    """Per-example log Σ_j σ(d_j)^{1/τ} with explicit loops; 0 for fully masked rows."""
    pos = np.asarray(pos, np.float64)
    neg = np.asarray(neg, np.float64)
    where = np.ones(neg.shape, bool) if where is None else np.asarray(where)
    out = np.zeros(pos.shape)
    for idx in np.ndindex(pos.shape):
        terms = []
        for j in range(neg.shape[-1]):
            if where[idx + (j,)]:
                d = neg[idx + (j,)] - pos[idx]
                terms.append(
                    np_sigma(activation, d / tau)
                    if inside
                    else np_sigma(activation, d) ** (1.0 / tau)
                )
        if terms:
            out[idx] = np.log(sum(terms) + (1.0 if include_positive else 0.0))
    return out


def np_bpr(pos, neg, where=None):
    pos = np.asarray(pos, np.float64)
    neg = np.asarray(neg, np.float64)
    where = np.ones(neg.shape, bool) if where is None else np.asarray(where)
    out = np.zeros(pos.shape)
    for idx in np.ndindex(pos.shape):
        vals = [
            np.log1p(np.exp(neg[idx + (j,)] - pos[idx]))
            for j in range(neg.shape[-1])
            if where[idx + (j,)]
        ]
        out[idx] = np.mean(vals) if vals else 0.0
    return out


def random_inputs(seed, shape=(3, 4), n=6, spread=0.45, mask_rows=True):
    """Scores in [-spread, spread] (so gaps lie in [-1, 1] for spread=0.5); random mask with
    the first row fully masked when ``mask_rows``."""
    rng = np.random.default_rng(seed)
    pos = rng.uniform(-spread, spread, shape).astype(np.float32)
    neg = rng.uniform(-spread, spread, shape + (n,)).astype(np.float32)
    where = rng.random(shape + (n,)) < 0.7
    where[..., 0] = True
    if mask_rows:
        where.reshape(-1, n)[0] = False
    return pos, neg, where


def jitted(fn, temperature=None, **kwargs):
    """``fn`` under jit: scores, mask and temperature traced, other ``kwargs`` static (cached,
    so each static configuration compiles once)."""
    return functools.partial(_jitted(fn, tuple(sorted(kwargs.items()))), t=temperature)


@functools.cache
def _jitted(fn, kwargs):
    def call(p, n, w=None, t=None):
        tau = {} if t is None else {"temperature": t}
        return fn(p, n, where=w, **tau, **dict(kwargs))

    return jax.jit(call)


# --------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("tau", [1.0, 0.2])
@pytest.mark.parametrize("include_positive", [False, True])
def test_psl_matches_numpy(activation, tau, include_positive):
    pos, neg, where = random_inputs(0)
    kw = {"activation": activation, "temperature": tau, "include_positive": include_positive}
    per = jitted(psl_loss, reduce_fn=None, **kw)(pos, neg, where)
    ref = np_psl(pos, neg, activation, tau, where, include_positive)
    np.testing.assert_allclose(per, ref, rtol=2e-5, atol=2e-5)
    valid = where.any(-1)
    mean = jitted(psl_loss, **kw)(pos, neg, where)
    np.testing.assert_allclose(mean, ref[valid].mean(), rtol=2e-5, atol=2e-5)
    unmasked = jitted(psl_loss, reduce_fn=None, **kw)(pos, neg)
    np.testing.assert_allclose(
        unmasked, np_psl(pos, neg, activation, tau, None, include_positive), rtol=2e-5, atol=2e-5
    )


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_inside_placement_matches_numpy(activation):
    pos, neg, where = random_inputs(1, spread=0.1)  # |d/τ| ≤ 1 for τ = 0.2
    per = jitted(
        psl_loss,
        activation=activation,
        temperature=0.2,
        reduce_fn=None,
        temperature_placement="inside",
    )(pos, neg, where)
    np.testing.assert_allclose(
        per, np_psl(pos, neg, activation, 0.2, where, inside=True), rtol=2e-5, atol=2e-5
    )


def test_hand_computed_values():
    # One example, gaps d = [0, -1/2]; τ = 1/2 squares σ.
    pos, neg = np.float32(0.5), np.array([0.5, 0.0], np.float32)
    loss = jitted(psl_loss, activation="relu", temperature=0.5)(pos, neg)
    np.testing.assert_allclose(loss, np.log(1.0 + 0.25), rtol=1e-6)
    loss = jitted(psl_loss, activation="tanh", temperature=0.5, include_positive=True)(pos, neg)
    np.testing.assert_allclose(loss, np.log(2.0 + (1 + np.tanh(-0.5)) ** 2), rtol=1e-6)
    loss = jitted(softmax_loss, temperature=0.5)(pos, neg)
    np.testing.assert_allclose(loss, np.log(1.0 + np.exp(-1.0)), rtol=1e-6)
    np.testing.assert_allclose(
        jitted(bpr_loss)(pos, neg), (np.log(2.0) + np.log1p(np.exp(-0.5))) / 2, rtol=1e-6
    )


def test_bpr_matches_numpy():
    pos, neg, where = random_inputs(2, spread=3.0)
    per = jitted(bpr_loss, reduce_fn=None)(pos, neg, where)
    ref = np_bpr(pos, neg, where)
    np.testing.assert_allclose(per, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        jitted(bpr_loss)(pos, neg, where), ref[where.any(-1)].mean(), rtol=1e-5
    )
    np.testing.assert_allclose(jitted(bpr_loss)(pos, neg), np_bpr(pos, neg).mean(), rtol=1e-5)


@pytest.mark.parametrize("include_positive", [False, True])
def test_exp_activation_equals_softmax_loss_exactly(include_positive):
    pos, neg, where = random_inputs(3, spread=2.0)
    for w in (None, where):
        for tau in (1.0, 0.05):
            kw = {"temperature": tau, "include_positive": include_positive, "reduce_fn": None}
            np.testing.assert_array_equal(
                jitted(psl_loss, activation="exp", **kw)(pos, neg, w),
                jitted(softmax_loss, **kw)(pos, neg, w),
            )


# --------------------------------------------------------------------------- bounds (paper §4)
@pytest.mark.parametrize("tau", [1.0, 0.25, 0.05])
def test_bound_chain_on_unit_interval(tau):
    # Gaps on a grid covering [-1, 1] exactly: pos = 0, neg = d.
    d = np.linspace(-1.0, 1.0, 41, dtype=np.float32).reshape(41, 1)
    d = np.concatenate([d, d[::-1], np.roll(d, 7)], axis=1)  # [41, 3] negatives per example
    pos = np.zeros(41, np.float32)
    for include_positive in (False, True):
        kw = {"temperature": tau, "reduce_fn": None, "include_positive": include_positive}
        sl = jitted(softmax_loss, **kw)(pos, d)
        for act in HEAVISIDE_SURROGATES:
            psl = jitted(psl_loss, activation=act, **kw)(pos, d)
            assert np.all(psl <= sl + 1e-5), act
        assert np.all(jitted(psl_loss, activation="softplus", **kw)(pos, d) >= sl - 1e-5)
    # −log DCG ≤ log(rank) ≤ PSL with the positive term (δ ≤ σ^{1/τ}); rank is 1-based.
    rank = 1 + np.sum(d >= 0, axis=-1)
    neg_log_dcg = np.log(np.log2(1.0 + rank))
    assert np.all(neg_log_dcg <= np.log(rank) + 1e-7)
    for act in HEAVISIDE_SURROGATES:
        psl = jitted(
            psl_loss, activation=act, temperature=tau, reduce_fn=None, include_positive=True
        )(pos, d)
        assert np.all(np.log(rank) <= psl + 1e-5), act
        # PSL ≤ log of the BPR-like pooled form (the authors' `--method 2`): by Jensen,
        # mean_i log Σ_j σ(d_ij)^{1/τ} ≤ log mean_i Σ_j σ(d_ij)^{1/τ}.
        pooled = np.log(np.mean(np.sum(np_sigma(act, d.astype(np.float64)) ** (1 / tau), -1)))
        assert jitted(psl_loss, activation=act, temperature=tau)(pos, d) <= pooled + 1e-5, act


@hypothesis.settings(**SETTINGS)
@hypothesis.given(
    seed=st.integers(0, 2**16), tau=st.floats(0.05, 2.0), act=st.sampled_from(HEAVISIDE_SURROGATES)
)
def test_dro_form_of_psl(seed, tau, act):
    """Thm 4.2: PSL = log N + max_Q {E_Q[log σ(d)/τ] − KL(Q‖uniform)}; the max is at
    Q* ∝ σ^{1/τ}, and any other Q gives a lower value (Q = uniform: PSL ≥ log N + mean BPR-type
    term log σ / τ)."""
    rng = np.random.default_rng(seed)
    n = 8
    d = rng.uniform(-0.9, 1.0, n)
    loss = float(
        jitted(psl_loss, activation=act, temperature=tau)(
            np.zeros(4, np.float32), np.tile(d.astype(np.float32), (4, 1))
        )
    )
    u = np.log(np_sigma(act, d)) / tau

    def objective(q):
        return np.log(n) + q @ u - np.sum(q * np.log(q * n))

    q_star = np.exp(u - u.max()) / np.exp(u - u.max()).sum()
    np.testing.assert_allclose(objective(q_star), loss, rtol=1e-4, atol=1e-4)
    for q in (np.full(n, 1.0 / n), rng.dirichlet(np.ones(n))):
        assert objective(q) <= loss + 1e-4


# --------------------------------------------------------------------------- NaN-safety
def _grads(fn, pos, neg, where=None, **kw):
    return jax.jit(jax.grad(lambda p, n, w: fn(p, n, where=w, **kw), argnums=(0, 1)))(
        pos, neg, where
    )


@pytest.mark.parametrize("tau", [1.0, 0.05])
def test_relu_at_and_below_minus_one_is_finite_with_zero_gradient(tau):
    pos = np.array([0.5, 0.5], np.float32)
    neg = np.array([[-0.5, 0.0], [-0.9, -0.5]], np.float32)  # d = -1 exactly, d = -1.4
    loss = jitted(psl_loss, activation="relu", temperature=tau, reduce_fn=None)(pos, neg)
    chex.assert_tree_all_finite(loss)
    g_pos, g_neg = _grads(psl_loss, pos, neg, activation="relu", temperature=tau)
    chex.assert_tree_all_finite((g_pos, g_neg))
    np.testing.assert_array_equal(g_neg[1], 0.0)  # both gaps ≤ −1: flat
    assert g_neg[0, 0] == 0.0 and g_neg[0, 1] > 0.0


@pytest.mark.parametrize(
    "fn,kw",
    [(softmax_loss, {}), (bpr_loss, {})]
    + [(psl_loss, {"activation": a}) for a in ACTIVATIONS]
    + [(psl_loss, {"activation": "relu", "include_positive": True})],
)
def test_fully_masked_rows_are_zero_excluded_and_have_zero_gradient(fn, kw):
    pos, neg, where = random_inputs(4)
    where[1, 2] = False  # a second fully masked row
    valid = where.any(-1)
    per = jitted(fn, reduce_fn=None, **kw)(pos, neg, where)
    np.testing.assert_array_equal(per[~valid], 0.0)
    np.testing.assert_allclose(jitted(fn, **kw)(pos, neg, where), per[valid].mean(), rtol=1e-6)
    g_pos, g_neg = _grads(fn, pos, neg, where, **kw)
    chex.assert_tree_all_finite((g_pos, g_neg))
    np.testing.assert_array_equal(g_pos[~valid], 0.0)
    np.testing.assert_array_equal(g_neg[~where], 0.0)
    # All rows masked: loss 0, gradient 0.
    none = np.zeros_like(where)
    assert jitted(fn, **kw)(pos, neg, none) == 0.0
    g = _grads(fn, pos, neg, none, **kw)
    chex.assert_trees_all_equal(g, jax.tree.map(jnp.zeros_like, g))


@pytest.mark.parametrize(
    "fn,kw",
    [(softmax_loss, {}), (bpr_loss, {})] + [(psl_loss, {"activation": a}) for a in ACTIVATIONS],
)
def test_extreme_inputs_have_finite_values_and_gradients(fn, kw):
    big = np.float32(1e37)
    pos = np.array([big, -big, 0.0, big], np.float32)
    neg = np.array([[-big, 0.0], [big, 0.0], [big, -big], [big, big]], np.float32)
    chex.assert_tree_all_finite(jitted(fn, reduce_fn=None, **kw)(pos, neg))
    chex.assert_tree_all_finite(_grads(fn, pos, neg, **kw))


def test_nans_in_inputs_are_not_hidden():
    pos, neg, where = random_inputs(5, mask_rows=False)
    neg[0, 0, 0] = np.nan  # a valid entry
    for fn in (softmax_loss, bpr_loss, psl_loss):
        assert np.isnan(jitted(fn)(pos, neg, where))
        assert np.isnan(jitted(fn, reduce_fn=None)(pos, neg, where)[0, 0])
    where[0, 0, 0] = False  # masked NaNs are ignored
    for fn in (softmax_loss, bpr_loss, psl_loss):
        chex.assert_tree_all_finite(jitted(fn)(pos, neg, where))
        chex.assert_tree_all_finite(_grads(fn, pos, neg, where))


# --------------------------------------------------------------------------- API behaviour
@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 2)])
@pytest.mark.parametrize(
    "fn,kw",
    [(psl_loss, {"activation": "atan", "temperature": 0.3}), (softmax_loss, {}), (bpr_loss, {})],
)
def test_arbitrary_leading_dims(shape, fn, kw):
    pos, neg, where = random_inputs(6, shape=(12,), n=4)
    where[3] = False
    size = int(np.prod(shape))
    p, n, w = pos[:size].reshape(shape), neg[:size].reshape(shape + (4,)), where[:size]
    per = jitted(fn, reduce_fn=None, **kw)(p, n, w.reshape(shape + (4,)))
    chex.assert_shape(per, shape)
    flat = jitted(fn, reduce_fn=None, **kw)(pos[:size], neg[:size], w)
    np.testing.assert_allclose(per.reshape(-1), flat, rtol=1e-6)


@pytest.mark.parametrize(
    "fn,kw",
    [
        (psl_loss, {"activation": "relu", "temperature": 0.2}),
        (softmax_loss, {"include_positive": True}),
        (bpr_loss, {}),
    ],
)
def test_reduce_fn_none_sums_to_sum_and_vmap_matches_batch(fn, kw):
    pos, neg, where = random_inputs(7)
    per = jitted(fn, reduce_fn=None, **kw)(pos, neg, where)
    np.testing.assert_allclose(
        per.sum(), jitted(fn, reduce_fn=jnp.sum, **kw)(pos, neg, where), rtol=1e-6
    )
    single = lambda p, n, w: fn(p, n, where=w, reduce_fn=None, **kw)
    vmapped = jax.jit(jax.vmap(jax.vmap(single)))(pos, neg, where)
    np.testing.assert_allclose(vmapped, per, rtol=1e-6)
    # grad of the mean equals the mean of per-example grads over valid rows.
    valid = where.any(-1)
    g_mean = _grads(fn, pos, neg, where, **kw)[1]
    g_each = jax.jit(jax.vmap(jax.vmap(jax.grad(single, argnums=1))))(pos, neg, where)
    np.testing.assert_allclose(g_mean, g_each / valid.sum(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_match_finite_differences(activation):
    pos, neg, where = random_inputs(8, shape=(2,), n=3, mask_rows=False)
    f = lambda p, n: psl_loss(p, n, where=where, activation=activation, temperature=0.5)
    jax.test_util.check_grads(
        jax.jit(f), (pos, neg), order=1, modes=["rev"], atol=5e-2, rtol=5e-2, eps=1e-3
    )


def test_traced_temperature_and_dtype():
    pos, neg, where = random_inputs(9)
    f = jax.jit(lambda p, n, w, t: psl_loss(p, n, where=w, temperature=t, reduce_fn=None))
    np.testing.assert_allclose(
        f(pos, neg, where, jnp.float32(0.3)),
        np_psl(pos, neg, "tanh", 0.3, where),
        rtol=2e-5,
        atol=2e-5,
    )
    out = jitted(psl_loss)(pos.astype(jnp.bfloat16), neg.astype(jnp.bfloat16), where)
    assert out.dtype == jnp.float32


def test_input_validation():
    pos, neg, where = random_inputs(10)
    with pytest.raises(ValueError, match="floating"):
        psl_loss(pos.astype(np.int32), neg)
    with pytest.raises(ValueError, match="neg_scores must have shape"):
        softmax_loss(pos, neg[0])
    with pytest.raises(ValueError, match="neg_scores must have shape"):
        bpr_loss(pos, neg[..., 0])
    with pytest.raises(ValueError, match="where must have shape"):
        psl_loss(pos, neg, where=where[..., :2])
    with pytest.raises(ValueError, match="bool"):
        psl_loss(pos, neg, where=where.astype(np.float32))
    with pytest.raises(ValueError, match="activation must be one of"):
        psl_loss(pos, neg, activation="sigmoid")
    with pytest.raises(ValueError, match="temperature must be positive"):
        softmax_loss(pos, neg, temperature=0.0)
    with pytest.raises(ValueError, match="temperature_placement"):
        psl_loss(pos, neg, temperature_placement="both")


@pytest.mark.parametrize(
    "bad", [0.0, -1.0, np.inf, np.nan, np.float32(0.0), np.float64(-2.0), jnp.float32(np.nan),
            jnp.array(-0.5), np.array([1.0, 2.0]), "1.0"],
)  # fmt: skip
@pytest.mark.parametrize("fn", [softmax_loss, psl_loss])
def test_concrete_temperatures_of_any_scalar_type_are_checked(fn, bad):
    pos, neg, _ = random_inputs(10)
    with pytest.raises(ValueError, match="temperature must be"):
        fn(pos, neg, temperature=bad)
    for good in (np.float32(0.5), jnp.float32(0.5), np.int64(2)):  # accepted, same value
        np.testing.assert_allclose(
            fn(pos, neg, temperature=good), fn(pos, neg, temperature=float(good))
        )


@pytest.mark.parametrize(
    "fn,kw",
    [(softmax_loss, {}), (bpr_loss, {})]
    + [(psl_loss, {"activation": a}) for a in ACTIVATIONS]
    + [(psl_loss, {"include_positive": True})],
)
def test_zero_negatives_and_empty_batches_give_zero_with_zero_gradient(fn, kw):
    for pos, neg in (
        (np.zeros(3, np.float32) + [0.1, -0.2, 0.3], np.zeros((3, 0), np.float32)),  # N = 0
        (np.zeros(0, np.float32), np.zeros((0, 4), np.float32)),  # empty batch
    ):
        for reduce_fn in (jnp.mean, jnp.sum):
            assert float(jitted(fn, reduce_fn=reduce_fn, **kw)(pos, neg)) == 0.0
        np.testing.assert_array_equal(
            jitted(fn, reduce_fn=None, **kw)(pos, neg), np.zeros(len(pos))
        )
        g_pos, g_neg = _grads(fn, pos, neg, **kw)
        np.testing.assert_array_equal(g_pos, np.zeros_like(pos))
        assert g_neg.shape == neg.shape


# --------------------------------------------------------------------------- properties
def _hyp_inputs(seed, n=7):
    rng = np.random.default_rng(seed)
    pos = rng.uniform(-0.5, 0.5, (4,)).astype(np.float32)
    neg = rng.uniform(-0.5, 0.5, (4, n)).astype(np.float32)
    where = rng.random((4, n)) < 0.8
    return rng, pos, neg, where


_PER = {
    a: jax.jit(
        lambda p, n, w, t, a=a: psl_loss(p, n, where=w, temperature=t, activation=a, reduce_fn=None)
    )
    for a in ACTIVATIONS
}


@hypothesis.settings(**SETTINGS)
@hypothesis.given(
    seed=st.integers(0, 2**16), tau=st.floats(0.05, 2.0), act=st.sampled_from(ACTIVATIONS)
)
def test_permutation_invariance_over_negatives(seed, tau, act):
    rng, pos, neg, where = _hyp_inputs(seed)
    perm = rng.permutation(neg.shape[-1])
    chex.assert_trees_all_close(
        _PER[act](pos, neg, where, tau),
        _PER[act](pos, neg[:, perm], where[:, perm], tau),
        rtol=1e-5,
        atol=1e-6,
    )


@hypothesis.settings(**SETTINGS)
@hypothesis.given(
    seed=st.integers(0, 2**16),
    tau=st.floats(0.05, 2.0),
    act=st.sampled_from(ACTIVATIONS),
    step=st.floats(1e-3, 0.5),
)
def test_monotone_in_each_negative_and_antitone_in_positive(seed, tau, act, step):
    rng, pos, neg, where = _hyp_inputs(seed)
    base = _PER[act](pos, neg, where, tau)
    j = rng.integers(neg.shape[-1])
    bumped = neg.copy()
    bumped[:, j] += step
    higher = _PER[act](pos, bumped, where, tau)
    assert np.all(higher >= base - 1e-5)
    assert np.all(_PER[act](pos + step, neg, where, tau) <= base + 1e-5)
    bpr = jitted(bpr_loss, reduce_fn=None)
    assert np.all(bpr(pos, bumped, where) >= bpr(pos, neg, where) - 1e-6)


@hypothesis.settings(**SETTINGS)
@hypothesis.given(
    seed=st.integers(0, 2**16),
    tau=st.floats(0.005, 0.05),
    act=st.sampled_from(HEAVISIDE_SURROGATES + ("exp",)),
)
def test_small_temperature_limit_is_the_max(seed, tau, act):
    """max_j log σ(d_j) ≤ τ·PSL ≤ max_j log σ(d_j) + τ log N: τ·PSL → max as τ → 0."""
    _, pos, neg, where = _hyp_inputs(seed)
    where[:, 0] = True
    scaled = tau * np.asarray(_PER[act](pos, neg, where, tau), np.float64)
    d = neg.astype(np.float64) - pos[:, None]
    log_sig = np.log(np_sigma(act, d))
    top = np.where(where, log_sig, -np.inf).max(-1)
    assert np.all(scaled >= top - 1e-4)
    assert np.all(scaled <= top + tau * np.log(where.sum(-1)) + 1e-4)


def test_docstring_examples():
    result = doctest.testmod(_ranking, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("axis_type", ["Auto", "Explicit"])
def test_sharded_batch_matches_single_device(axis_type):
    """Data-parallel inputs on an 8-device mesh give the single-device loss and gradients."""
    mesh = jax.make_mesh((8,), ("data",), axis_types=(getattr(jax.sharding.AxisType, axis_type),))
    pos, neg, where = random_inputs(11, shape=(8,), n=16)
    f = jax.jit(
        jax.value_and_grad(
            lambda p, n, w: psl_loss(p, n, where=w, activation="relu", temperature=0.1),
            argnums=(0, 1),
        )
    )
    expected = f(pos, neg, where)
    with jax.set_mesh(mesh):
        sharded = [jax.device_put(x, jax.P("data")) for x in (pos, neg, where)]
        got = f(*sharded)
    chex.assert_trees_all_close(got, expected, rtol=1e-5, atol=1e-7)
    assert got[1][1].sharding.spec[0] == "data"
