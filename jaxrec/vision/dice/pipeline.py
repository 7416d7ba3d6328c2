"""The digits world's text-to-image pipeline: the model, its training loss, latents, sampling
(CFG, unguided, embedding scaling, DICE) and sample grids.

The UNet runs on the 2x2 space-to-depth "latent" of the canvas (``[S, S, 1] -> [S/2, S/2, 4]``,
lossless, standing in for SD's VAE), so a 32x32 canvas is a 16x16x4 latent.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxrec import diffusion as dfn
from jaxrec.models.clip_text import CLIPTextConfig, CLIPTextEncoder
from jaxrec.models.unet import UNet2DCondition, UNetConfig
from jaxrec.train.logging import write_bytes_atomic

__all__ = [
    "TextToImage",
    "from_latent",
    "make_base_loss",
    "make_generator",
    "save_grid",
    "to_latent",
]


def to_latent(images: np.ndarray | jax.Array) -> np.ndarray | jax.Array:
    """``[N, S, S, 1] -> [N, S/2, S/2, 4]`` (2x2 space-to-depth)."""
    n, s = images.shape[0], images.shape[1]
    x = images.reshape(n, s // 2, 2, s // 2, 2)
    return x.transpose(0, 1, 3, 2, 4).reshape(n, s // 2, s // 2, 4)


def from_latent(latents: np.ndarray | jax.Array) -> np.ndarray | jax.Array:
    """Inverse of :func:`to_latent`: ``[N, h, h, 4] -> [N, 2h, 2h, 1]``."""
    n, h = latents.shape[0], latents.shape[1]
    x = latents.reshape(n, h, h, 2, 2).transpose(0, 1, 3, 2, 4)
    return x.reshape(n, 2 * h, 2 * h, 1)


class TextToImage(nnx.Module):
    """``(x [B, h, h, 4], t [B], ids [B, L]) -> eps``: the UNet on the text encoder's output."""

    def __init__(self, unet: UNetConfig, text: CLIPTextConfig, *, rngs: nnx.Rngs) -> None:
        self.unet = UNet2DCondition(unet, rngs=rngs)
        self.text = CLIPTextEncoder(text, rngs=rngs)

    def __call__(self, x: jax.Array, t: jax.Array, ids: jax.Array) -> jax.Array:
        return self.unet(x, t, self.text(ids)[0])


def make_base_loss(schedule: dfn.NoiseSchedule, uncond_ids: np.ndarray, uncond_prob: float):
    """The DDPM loss of :class:`TextToImage` with each caption replaced by the empty caption
    ``uncond_ids [1, L]`` with probability ``uncond_prob`` (what makes CFG possible)."""
    denoise = dfn.make_denoising_loss(schedule)
    empty = jnp.asarray(uncond_ids, jnp.int32)

    def loss_fn(model, batch, *, key, context, extra):
        k_drop, k = jax.random.split(key)
        ids = batch["ids"]
        drop = jax.random.bernoulli(k_drop, uncond_prob, (ids.shape[0], 1))
        ids = jnp.where(drop, jnp.broadcast_to(empty, ids.shape), ids)
        return denoise(model, {"x0": batch["x0"], "context": ids}, key=k, context=context,
                       extra=extra)  # fmt: skip

    return loss_fn


def make_generator(
    unet_graphdef: nnx.GraphDef,
    schedule: dfn.NoiseSchedule,
    sampler: str,
    steps: int,
    clip_x0: float | None = 1.0,
) -> Callable:
    """A jitted ``generate(unet_params, cond, uncond, x_T, key, *, guided, guidance) -> x0``.

    ``guided=True`` runs CFG (``2 steps`` NFE: the conditional and unconditional calls as one
    doubled batch), else one call per step on ``cond`` (``steps`` NFE); ``cond`` is any
    embedding (``c``, ``s c`` or DICE's ``c'``), ``uncond [1, L, d]`` the empty caption's.
    ``key`` is used by the DDPM sampler only. ``clip_x0``: the (guided) prediction's implied
    data ``x0 = (x - sqrt(1-a) eps) / sqrt(a)`` is clipped to ``[-clip_x0, clip_x0]`` and eps
    recomputed (diffusers' ``clip_sample`` for pixel-space data in ``[-1, 1]``; None: off).
    """

    def clipped(eps_fn):
        if clip_x0 is None:
            return eps_fn

        def fn(x, t, cond):
            eps = eps_fn(x, t, cond)
            a = schedule.alphas_cumprod[t].reshape((-1,) + (1,) * (x.ndim - 1))
            x0 = jnp.clip((x - jnp.sqrt(1 - a) * eps) / jnp.sqrt(a), -clip_x0, clip_x0)
            return (x - jnp.sqrt(a) * x0) / jnp.sqrt(1 - a)

        return fn

    @functools.partial(jax.jit, static_argnames=("guided",))
    def generate(unet_params, cond, uncond, x_T, key, *, guided: bool, guidance=5.0):
        unet = nnx.merge(unet_graphdef, unet_params)
        eps_fn = unet.__call__
        if guided:
            eps_fn = dfn.cfg_eps_fn(eps_fn, guidance, uncond)
        eps_fn = clipped(eps_fn)
        if sampler == "dpm_solver_pp":
            return dfn.dpm_solver_pp_sample(eps_fn, x_T, cond, schedule, steps)
        if sampler == "ddim":
            return dfn.ddim_sample(eps_fn, x_T, cond, schedule, steps)
        return dfn.ddpm_sample(eps_fn, x_T, cond, schedule, steps, key=key)

    return generate


def save_grid(images: np.ndarray, titles: list[str], path: str | Path, title: str) -> None:
    """Writes ``images [N, S, S, 1]`` in [-1, 1] as a PNG grid of 8 columns with captions."""
    from matplotlib.figure import Figure

    n = len(images)
    cols = min(8, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(1.6 * cols, 1.75 * rows + 0.4))
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < n:
            ax.imshow(np.clip(images[i, ..., 0], -1, 1), cmap="gray", vmin=-1, vmax=1)
            ax.set_title(titles[i].replace(" , ", ",\n"), fontsize=5)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    write_bytes_atomic(path, buffer.getvalue())
