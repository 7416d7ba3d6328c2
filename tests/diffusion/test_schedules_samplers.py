"""Diffusion layer: schedules against their formulas, the DDPM loss in closed form, samplers on a
Gaussian data distribution whose exact eps is known, and classifier-free guidance."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec import diffusion as dfn

MU, STD = 1.0, 0.5  # x0 ~ N(MU, STD^2) per element


def gaussian_output(schedule: dfn.NoiseSchedule):
    """The exact denoiser for x0 ~ N(MU, STD^2): E[eps | x_t] (or E[v | x_t])."""

    def eps_fn(x, t, cond):
        del cond
        a = schedule.alphas_cumprod[t].reshape((-1,) + (1,) * (x.ndim - 1))
        var = a * STD**2 + 1 - a
        eps = jnp.sqrt(1 - a) * (x - jnp.sqrt(a) * MU) / var
        if schedule.prediction_type == "epsilon":
            return eps
        x0 = MU + jnp.sqrt(a) * STD**2 * (x - jnp.sqrt(a) * MU) / var
        return jnp.sqrt(a) * eps - jnp.sqrt(1 - a) * x0

    return eps_fn


def marginal_noise(schedule, t0: int, shape, seed: int) -> jax.Array:
    """A draw from the exact marginal of x_{t0}."""
    a = float(schedule.alphas_cumprod[t0])
    z = jax.random.normal(jax.random.key(seed), shape)
    return math.sqrt(a) * MU + math.sqrt(a * STD**2 + 1 - a) * z


def test_schedules_follow_their_formulas():
    lin = dfn.make_noise_schedule("linear", 10, 1e-3, 0.1)
    np.testing.assert_allclose(lin.betas, np.linspace(1e-3, 0.1, 10), rtol=1e-6)
    sl = dfn.make_noise_schedule("scaled_linear", 1000)
    np.testing.assert_allclose(
        sl.betas, np.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2, rtol=1e-6
    )
    np.testing.assert_allclose(sl.alphas_cumprod, np.cumprod(1 - np.asarray(sl.betas, np.float64)),
                               rtol=1e-5)  # fmt: skip
    cos = dfn.make_noise_schedule("cosine", 1000)
    f = lambda u: np.cos((u + 0.008) / 1.008 * np.pi / 2) ** 2  # noqa: E731
    i = np.arange(1000)
    np.testing.assert_allclose(cos.betas, np.minimum(1 - f((i + 1) / 1000) / f(i / 1000), 0.999),
                               rtol=1e-5)  # fmt: skip
    assert float(cos.betas[-1]) == pytest.approx(0.999)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kind": "quadratic"}, "unknown noise schedule 'quadratic'"),
        ({"prediction_type": "sample"}, "unknown prediction_type 'sample'"),
        ({"kind": "linear", "beta_start": 0.5, "beta_end": 0.1}, "beta_start <= beta_end"),
    ],
)
def test_schedule_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dfn.make_noise_schedule(**kwargs)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_ddpm_loss_equals_numpy_closed_form(prediction_type):
    s = dfn.make_noise_schedule("linear", 100, prediction_type=prediction_type)
    rng = np.random.default_rng(0)
    x0, noise, pred = (rng.normal(size=(4, 3, 2)).astype(np.float32) for _ in range(3))
    t = np.array([0, 10, 50, 99])
    a = np.asarray(s.alphas_cumprod, np.float64)[t][:, None, None]
    target = noise if prediction_type == "epsilon" else np.sqrt(a) * noise - np.sqrt(1 - a) * x0
    expected = np.mean((pred - target) ** 2)
    loss = jax.jit(lambda *z: dfn.ddpm_loss(s, *z))(pred, x0, noise, t)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    where = np.array([True, False, True, False])
    masked = dfn.ddpm_loss(s, pred, x0, noise, t, where=where)
    np.testing.assert_allclose(masked, np.mean(((pred - target) ** 2)[where]), rtol=1e-5)
    xt = dfn.add_noise(s, x0, noise, t)
    np.testing.assert_allclose(xt, np.sqrt(a) * x0 + np.sqrt(1 - a) * noise, rtol=1e-5, atol=1e-6)


def test_ddpm_loss_of_the_exact_denoiser_is_the_posterior_variance():
    """For Gaussian data the best eps predictor's loss is Var(eps | x_t) = a s^2 / (a s^2 + 1 - a)."""
    s = dfn.make_noise_schedule("scaled_linear")
    n, t0 = 200_000, 300
    k1, k2 = jax.random.split(jax.random.key(1))
    x0 = MU + STD * jax.random.normal(k1, (n, 1))
    noise = jax.random.normal(k2, (n, 1))
    t = jnp.full((n,), t0)
    pred = gaussian_output(s)(dfn.add_noise(s, x0, noise, t), t, None)
    a = float(s.alphas_cumprod[t0])
    expected = a * STD**2 / (a * STD**2 + 1 - a)
    assert float(dfn.ddpm_loss(s, pred, x0, noise, t)) == pytest.approx(expected, rel=0.01)
    assert float(dfn.ddpm_loss(s, jnp.zeros_like(noise), x0, noise, t)) == pytest.approx(
        1, rel=0.01
    )


@pytest.mark.parametrize(
    "sampler, kind, prediction_type, steps, rel",
    [
        ("ddim", "scaled_linear", "epsilon", 200, 0.04),
        ("ddim_eta1", "linear", "epsilon", 1000, 0.04),
        ("ddpm", "scaled_linear", "epsilon", 1000, 0.04),
        ("dpm", "cosine", "v_prediction", 20, 0.03),
        ("dpm", "scaled_linear", "epsilon", 50, 0.07),
    ],
)
def test_samplers_reproduce_gaussian_data_mean_and_variance(
    sampler, kind, prediction_type, steps, rel
):
    """With the exact eps of x0 ~ N(MU, STD^2) and x_T drawn from the exact marginal, samples
    have the data's mean and variance up to discretisation. The variance falls short by a few
    percent at these step counts, because the last step (to sigma 0, as in diffusers) returns
    the posterior mean E[x0 | x_t], whose variance is below STD^2; ``rel`` bounds it."""
    s = dfn.make_noise_schedule(kind, prediction_type=prediction_type)
    eps_fn = gaussian_output(s)
    timesteps = dfn.dpm_solver_timesteps if sampler == "dpm" else dfn.ddim_timesteps
    x_T = marginal_noise(s, int(timesteps(1000, steps)[0]), (8192, 2), seed=2)
    key = jax.random.key(3)
    if sampler == "ddim":
        x = dfn.ddim_sample(eps_fn, x_T, None, s, steps)
    elif sampler == "ddim_eta1":
        x = dfn.ddim_sample(eps_fn, x_T, None, s, steps, eta=1.0, key=key)
    elif sampler == "ddpm":
        x = dfn.ddpm_sample(eps_fn, x_T, None, s, steps, key=key)
    else:
        x = dfn.dpm_solver_pp_sample(eps_fn, x_T, None, s, steps)
    x = np.asarray(x, np.float64)
    assert abs(x.mean() - MU) < 0.015
    assert x.var() == pytest.approx(STD**2, rel=rel)


def test_dpm_solver_variance_error_shrinks_with_steps():
    s = dfn.make_noise_schedule("scaled_linear")
    errors = []
    for steps in (10, 20, 50):
        t0 = int(dfn.dpm_solver_timesteps(1000, steps)[0])
        x_T = marginal_noise(s, t0, (8192, 1), seed=4)
        x = dfn.dpm_solver_pp_sample(gaussian_output(s), x_T, None, s, steps)
        errors.append(abs(float(jnp.var(x)) - STD**2))
    assert errors[0] > errors[1] > errors[2]


def test_cfg_combines_conditional_and_unconditional_calls():
    def eps_fn(x, t, cond):  # a denoiser that reads its conditioning
        return x * 0.5 + cond["emb"].sum(-1)[:, None] + t[:, None] * 0.0

    x = jnp.ones((3, 4))
    t = jnp.full((3,), 7)
    cond = {"emb": jnp.arange(6.0).reshape(3, 2)}
    neg = {"emb": jnp.full((1, 2), -1.0)}
    c_out, u_out = eps_fn(x, t, cond), eps_fn(x, t, {"emb": jnp.full((3, 2), -1.0)})
    for scale in (0.0, 1.0, 5.0):
        got = jax.jit(dfn.cfg_eps_fn(eps_fn, scale, neg))(x, t, cond)
        np.testing.assert_allclose(got, u_out + scale * (c_out - u_out), rtol=1e-6)
    with pytest.raises(ValueError, match="guidance scale must be finite and >= 0"):
        dfn.cfg_eps_fn(eps_fn, -1.0, neg)


def test_sampler_rejects_bad_step_counts():
    s = dfn.make_noise_schedule("linear", 10)
    with pytest.raises(ValueError, match="num_steps"):
        dfn.ddim_timesteps(10, 11)
    with pytest.raises(ValueError, match="needs a key"):
        dfn.ddim_sample(gaussian_output(s), jnp.zeros((2, 1)), None, s, 5, eta=0.5)
