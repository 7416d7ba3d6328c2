"""``jaxrec run dice/digits``: DICE's sharpener distilled from the frozen base model's CFG.

Stages in ``run_dir`` (each a :func:`jaxrec.train.fit_experiment` run, resumable and cached):
``classifier/`` and ``base/`` exactly as ``jaxrec run diffusion/digits`` (the same configs, so
a folder trained by that command is reused), then ``sharpener/``: only the
:class:`~jaxrec.vision.dice.Sharpener` trains (the UNet and text encoder ride frozen in the
step's context), selected by a fixed-noise validation distillation loss. Then samples of CFG
(omega, 2N NFE), unguided (N), embedding scaling (N) and DICE (N) on held-out captions:
``samples_<method>.png`` and, in ``results.json``, alignment, Frechet distance, NFE and seconds
per image, and how much of the unguided-to-CFG alignment gap DICE closes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx

from jaxrec import diffusion as dfn
from jaxrec import train
from jaxrec.train.logging import write_json_atomic
from jaxrec.train.stage import StageSetup, build_stage, train_stage
from jaxrec.vision.dice.base_experiment import (
    empty_ids,
    prepare,
    report,
    sample_methods,
    text_encoder,
    unet_split,
)
from jaxrec.vision.dice.config import DiceDigitsExperiment
from jaxrec.vision.dice.distill import make_dice_loss
from jaxrec.vision.dice.pipeline import to_latent
from jaxrec.vision.dice.sharpener import Sharpener, scale_embedding, sharpen
from jaxrec.vision.dice.world import DigitsWorld

__all__ = ["build_sharpener", "dice_methods", "gap_closed", "run", "sharpener_evaluator"]

ATTRIBUTES = ("position", "digit", "size")


def frozen_context(cfg: DiceDigitsExperiment, base_graphdef, base_state: train.TrainState):
    """``(unet_graphdef, text_graphdef, context)`` for :func:`make_dice_loss`."""
    model = nnx.merge(base_graphdef, base_state.params, base_state.model_state)
    (ug, up), (tg, tp) = nnx.split(model.unet), nnx.split(model.text)
    context = {"unet": nnx.to_pure_dict(up), "text": nnx.to_pure_dict(tp),
               "uncond_ids": empty_ids(cfg.base)}  # fmt: skip
    return ug, tg, context


def _loss(cfg: DiceDigitsExperiment, ug, tg):
    return make_dice_loss(dfn.make_noise_schedule(cfg.base.schedule), ug, tg, omega=cfg.omega,
                          loss=cfg.loss, per_example_t=cfg.per_example_t)  # fmt: skip


def build_sharpener(
    cfg: DiceDigitsExperiment,
    world: dict[str, DigitsWorld],
    base_graphdef,
    base_state: train.TrainState,
    devices: list[jax.Device] | None = None,
) -> StageSetup:
    """The sharpener stage on the frozen base (Adam, constant lr, real training canvases)."""
    ug, tg, context = frozen_context(cfg, base_graphdef, base_state)
    w = world["train"]
    k = cfg.train_rows
    arrays = {"x0": to_latent(w.images[:k]), "ids": w.ids[:k]}
    return build_stage(cfg, lambda r: Sharpener(cfg.sharpener, rngs=r), _loss(cfg, ug, tg), arrays,
                  cfg.batch_size, cfg.seed, cfg.loop.epochs, cfg.optimizer, devices,
                  context=context)  # fmt: skip


def sharpener_evaluator(cfg: DiceDigitsExperiment, setup: StageSetup, world: DigitsWorld, ug, tg):
    """``evaluate(state) -> {"valid_loss", "valid_loss_unrefined"}`` on the first 256 held-out
    canvases with fixed noise and timesteps."""
    loss_fn = _loss(cfg, ug, tg)
    b = cfg.batch_size
    n = min(256, len(world.ids)) // b * b
    x0, ids = to_latent(world.images[:n]), world.ids[:n]

    @jax.jit
    def one(state, context, x0, ids, key):
        model = nnx.merge(setup.graphdef, state.params, state.model_state)
        loss, aux = loss_fn(model, {"x0": x0, "ids": ids}, key=key, context=context, extra={})
        return loss, aux["loss_unrefined"]

    def evaluate(state):
        vals = [one(state, setup.context, x0[i : i + b], ids[i : i + b], jax.random.key(i))
                for i in range(0, n, b)]  # fmt: skip
        loss, unref = np.mean(jax.device_get(vals), axis=0)
        return {"valid_loss": float(loss), "valid_loss_unrefined": float(unref)}

    return evaluate


def train_sharpener(cfg, world, base: StageSetup, state, folder: Path, resume: bool = True):
    """Builds and trains (or restores) the sharpener in ``folder``; returns
    ``(sharpener_graphdef, state, summary)``."""
    setup = build_sharpener(cfg, world, base.graphdef, state)
    ug, tg, _ = frozen_context(cfg, base.graphdef, state)
    evaluate = sharpener_evaluator(cfg, setup, world["test"], ug, tg)
    summary = train_stage(cfg, setup, folder, evaluate, resume)
    return setup.graphdef, summary.pop("_state"), summary


def dice_methods(
    cfg: DiceDigitsExperiment, sharpeners: dict[str, tuple[Any, train.TrainState]]
) -> dict[str, tuple[Callable, bool]]:
    """CFG, unguided, embedding scaling and one DICE entry per trained sharpener
    (``{name: (graphdef, state)}``)."""
    methods = {
        "cfg": (lambda c, u: c, True),
        "unguided": (lambda c, u: c, False),
        "scaling": (lambda c, u: scale_embedding(c, cfg.embedding_scale), False),
    }
    for name, (graphdef, state) in sharpeners.items():
        model = nnx.merge(graphdef, state.params, state.model_state)
        methods[name] = (lambda c, u, m=model: sharpen(m, c, u, cfg.alpha), False)
    return methods


def mean_alignment(metrics: dict[str, float]) -> float:
    return float(np.mean([metrics[a] for a in ATTRIBUTES]))


def gap_closed(metrics: dict[str, dict[str, float]], method: str, key: str | None = None) -> float:
    """``(A_method - A_unguided) / (A_cfg - A_unguided)`` of the mean attribute accuracy (or of
    ``metrics[.][key]``); NaN when CFG does not beat unguided."""
    get = (lambda m: m[key]) if key else mean_alignment
    lo, hi = get(metrics["unguided"]), get(metrics["cfg"])
    return float((get(metrics[method]) - lo) / (hi - lo)) if hi > lo else float("nan")


def run(cfg: DiceDigitsExperiment, run_dir: str | Path, *, resume: bool = True) -> dict:
    """Classifier, base and sharpener stages, then the four samplers; writes
    ``run_dir/results.json``."""
    run_dir = Path(run_dir)
    world, judge, base, state, summaries = prepare(cfg.base, run_dir, resume)
    g, s_state, s_sum = train_sharpener(cfg, world, base, state, run_dir / "sharpener", resume)
    ug, up = unet_split(base.graphdef, state)
    test = world["test"]
    n = min(cfg.base.sampling.eval_prompts, len(test.ids))
    samples = sample_methods(cfg.base, ug, up, text_encoder(base.graphdef, state),
                             dice_methods(cfg, {"dice": (g, s_state)}), test.ids[:n])  # fmt: skip
    metrics = report(cfg.base, samples, judge, test, run_dir)
    out = {
        "name": cfg.name, **summaries, "sharpener": s_sum, "samples": metrics,
        "gap_closed": gap_closed(metrics, "dice"),
        "gap_closed_exact": gap_closed(metrics, "dice", "exact"),
        "time_vs_cfg": metrics["dice"]["seconds_per_image"] / metrics["cfg"]["seconds_per_image"],
    }  # fmt: skip
    write_json_atomic(run_dir / "results.json", out)
    return out
