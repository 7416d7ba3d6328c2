"""Shared diffusion layer: noise schedules, the DDPM loss, samplers (DDPM, DDIM, DPM-Solver++
2M) as pure functions of any ``eps_fn(x, t, cond)``, and classifier-free guidance. Imports no
model and no method, so any JAX codebase can drive it with its own denoiser."""

from jaxrec.diffusion.guidance import cfg_eps_fn, check_guidance_scale
from jaxrec.diffusion.samplers import (
    EpsFn,
    ddim_sample,
    ddim_step,
    ddim_timesteps,
    ddpm_sample,
    ddpm_step,
    dpm_solver_pp_sample,
    dpm_solver_pp_step,
    dpm_solver_timesteps,
)
from jaxrec.diffusion.schedules import (
    PREDICTION_TYPES,
    SCHEDULE_KINDS,
    NoiseSchedule,
    add_noise,
    ddpm_loss,
    diffusion_target,
    make_noise_schedule,
    to_x0_eps,
)
from jaxrec.diffusion.training import make_denoising_loss

__all__ = [
    "PREDICTION_TYPES",
    "SCHEDULE_KINDS",
    "EpsFn",
    "NoiseSchedule",
    "add_noise",
    "cfg_eps_fn",
    "check_guidance_scale",
    "ddim_sample",
    "ddim_step",
    "ddim_timesteps",
    "ddpm_loss",
    "ddpm_sample",
    "ddpm_step",
    "diffusion_target",
    "dpm_solver_pp_sample",
    "dpm_solver_pp_step",
    "dpm_solver_timesteps",
    "make_denoising_loss",
    "make_noise_schedule",
    "to_x0_eps",
]
