"""Step parity with diffusers' schedulers on the same inputs (torch + diffusers only here)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec import diffusion as dfn

torch = pytest.importorskip("torch", reason="torch is needed only for the diffusers parity test")
schedulers = pytest.importorskip("diffusers.schedulers", reason="diffusers is not installed")

SD = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}


def toy_output(x: np.ndarray, t: int, step: int) -> np.ndarray:
    """A deterministic stand-in for a denoiser that depends on x, t and the step."""
    return (0.3 * x + np.sin(0.01 * t + step + np.arange(x.size).reshape(x.shape))).astype(
        np.float32
    )


def _ours(kind: str, prediction_type: str) -> dfn.NoiseSchedule:
    return dfn.make_noise_schedule(kind, prediction_type=prediction_type)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_step_matches_diffusers(prediction_type, eta):
    ref = schedulers.DDIMScheduler(**SD, clip_sample=False, prediction_type=prediction_type,
                                   steps_offset=1)  # fmt: skip
    ref.set_timesteps(10)
    s = _ours("scaled_linear", prediction_type)
    np.testing.assert_array_equal(ref.timesteps.numpy(), dfn.ddim_timesteps(1000, 10, 1))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    for i, t in enumerate(ref.timesteps.tolist()):
        out = toy_output(x, t, i)
        noise = rng.normal(size=x.shape).astype(np.float32)
        expected = ref.step(torch.from_numpy(out), t, torch.from_numpy(x), eta=eta,
                            variance_noise=torch.from_numpy(noise)).prev_sample.numpy()  # fmt: skip
        got = dfn.ddim_step(s, out, t, t - 100, x, eta=eta, noise=noise)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
        x = expected


def test_ddpm_step_matches_diffusers():
    ref = schedulers.DDPMScheduler(**SD, clip_sample=False)
    ref.set_timesteps(10)
    s = _ours("scaled_linear", "epsilon")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5)).astype(np.float32)
    for i, t in enumerate(ref.timesteps.tolist()):
        out = toy_output(x, t, i)
        gen = torch.Generator().manual_seed(i)
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(i)).numpy()
        expected = ref.step(torch.from_numpy(out), t, torch.from_numpy(x), generator=gen)
        expected = expected.prev_sample.numpy()
        got = dfn.ddpm_step(s, out, t, t - 100, x, noise=noise)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
        x = expected


@pytest.mark.parametrize(
    "kind, prediction_type", [("scaled_linear", "epsilon"), ("cosine", "v_prediction")]
)
def test_dpm_solver_pp_steps_match_diffusers(kind, prediction_type):
    names = {"scaled_linear": SD, "cosine": {"beta_schedule": "squaredcos_cap_v2"}}
    ref = schedulers.DPMSolverMultistepScheduler(**names[kind], prediction_type=prediction_type)
    steps = 8
    ref.set_timesteps(steps)
    ts = dfn.dpm_solver_timesteps(1000, steps)
    np.testing.assert_array_equal(ref.timesteps.numpy(), ts)
    s = _ours(kind, prediction_type)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    x0_prev = np.zeros_like(x)
    for i, t in enumerate(ts.tolist()):
        out = toy_output(x, t, i)
        expected = ref.step(torch.from_numpy(out), t, torch.from_numpy(x)).prev_sample.numpy()
        t_next = int(ts[i + 1]) if i + 1 < steps else -1
        t_prev = int(ts[i - 1]) if i else t
        got, x0_prev = dfn.dpm_solver_pp_step(
            s, out, x, t, t_next, x0_prev, t_prev, first_order=jnp.asarray(i == 0)
        )
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
        x = expected


def test_dpm_solver_pp_sample_matches_a_diffusers_loop():
    ref = schedulers.DPMSolverMultistepScheduler(**SD)
    ref.set_timesteps(6)
    s = _ours("scaled_linear", "epsilon")
    w = np.float32(0.2)

    def eps_fn(x, t, cond):
        return w * x + cond * (t[:, None] / 1000.0)

    x = np.random.default_rng(3).normal(size=(3, 4)).astype(np.float32)
    cond = np.float32(0.5)
    got = dfn.dpm_solver_pp_sample(eps_fn, jnp.asarray(x), cond, s, 6)
    xt = torch.from_numpy(x)
    for t in ref.timesteps.tolist():
        xt = ref.step(w * xt + cond * (t / 1000.0), t, xt).prev_sample
    np.testing.assert_allclose(got, xt.numpy(), rtol=1e-4, atol=1e-4)
