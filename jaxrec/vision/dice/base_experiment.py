"""``jaxrec run diffusion/digits``: the digits world, its attribute classifier and the base
text-to-image model trained from scratch, then CFG and unguided samples.

Stages, each a :func:`jaxrec.train.fit_experiment` run in its own folder of ``run_dir`` (a
killed run resumes within its stage; a finished stage is not retrained):

- ``classifier/``: :class:`~jaxrec.vision.dice.classifier.AttributeClassifier` on real
  canvases (selected by exact caption match on held-out canvases);
- ``base/``: :class:`~jaxrec.vision.dice.pipeline.TextToImage` (UNet + text encoder), DDPM loss
  with empty-caption dropout (selected by a fixed-noise validation loss).

Then ``samples_cfg.png`` and ``samples_unguided.png`` and, in ``results.json``, the alignment
and Frechet distance of both samplers on ``sampling.eval_prompts`` held-out captions.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxrec import diffusion as dfn
from jaxrec import train
from jaxrec.data import shared_root
from jaxrec.data.mnist import load_mnist
from jaxrec.train.logging import write_json_atomic
from jaxrec.train.stage import StageSetup, build_stage, train_stage
from jaxrec.vision.dice.classifier import (
    AttributeClassifier,
    alignment,
    classifier_loss,
    frechet_distance,
)
from jaxrec.vision.dice.config import DiffusionDigitsExperiment
from jaxrec.vision.dice.pipeline import (
    TextToImage,
    from_latent,
    make_base_loss,
    make_generator,
    save_grid,
    to_latent,
)
from jaxrec.vision.dice.world import CaptionTokenizer, DigitsWorld, digits_world

__all__ = ["Judge", "build_base", "build_classifier", "load_world", "run",
           "sample_methods"]  # fmt: skip


def load_world(cfg: DiffusionDigitsExperiment) -> dict[str, DigitsWorld]:
    """``{"train", "test"}`` canvases; test canvases compose the last ``test_glyphs`` MNIST
    glyphs, never seen in training."""
    w = cfg.world
    glyphs, labels = load_mnist(shared_root() / "vision" / "mnist")
    cut = len(glyphs) - w.test_glyphs
    kw = {"canvas": w.canvas, "max_objects": w.max_objects}
    return {
        "train": digits_world(glyphs[:cut], labels[:cut], w.num_train, seed=w.world_seed, **kw),
        "test": digits_world(glyphs[cut:], labels[cut:], w.num_test, seed=w.world_seed + 1, **kw),
    }


def empty_ids(cfg: DiffusionDigitsExperiment) -> np.ndarray:
    """The empty caption's tokens ``[1, L]``."""
    return CaptionTokenizer(cfg.text.max_position_embeddings).encode([""])


def classifier_config(cfg: DiffusionDigitsExperiment) -> DiffusionDigitsExperiment:
    c = cfg.classifier
    loop = train.LoopConfig(epochs=c.epochs, select_metric="exact", checkpoint_every_steps=100,
                            log_every_steps=cfg.loop.log_every_steps)  # fmt: skip
    return dataclasses.replace(cfg, seed=c.seed, batch_size=c.batch_size, loop=loop)


def build_classifier(cfg, world, devices=None) -> StageSetup:
    """The classifier stage on real training canvases (Adam, constant ``classifier.lr``)."""
    w = world["train"]
    arrays = {"images": w.images, "digits": w.digits, "sizes": w.sizes}
    c = cfg.classifier
    return build_stage(cfg, lambda r: AttributeClassifier(rngs=r), classifier_loss, arrays,
                  c.batch_size, c.seed, c.epochs, train.OptimizerConfig(lr=c.lr), devices)  # fmt: skip


def build_base(cfg: DiffusionDigitsExperiment, world, devices=None) -> StageSetup:
    """The base stage: UNet + text encoder from scratch on ``{"x0": latents, "ids"}``."""
    w = world["train"]
    loss = make_base_loss(dfn.make_noise_schedule(cfg.schedule), empty_ids(cfg), cfg.uncond_prob)
    model_fn = lambda r: TextToImage(cfg.unet, cfg.text, rngs=r)  # noqa: E731
    return build_stage(cfg, model_fn, loss, {"x0": to_latent(w.images), "ids": w.ids},
                  cfg.batch_size, cfg.seed, cfg.loop.epochs, cfg.optimizer, devices)  # fmt: skip


def _batched(fn: Callable, arrays: tuple[np.ndarray, ...], batch: int) -> list[np.ndarray]:
    """``fn`` over fixed-size chunks (the tail padded by repetition) concatenated."""
    n = len(arrays[0])
    outs = []
    for lo in range(0, n, batch):
        part = [a[lo : lo + batch] for a in arrays]
        pad = batch - len(part[0])
        part = [np.concatenate([p, np.repeat(p[-1:], pad, 0)]) if pad else p for p in part]
        out = jax.device_get(fn(*part))
        keep = batch - pad
        outs.append([o[:keep] for o in out])
    return [np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))]


class Judge:
    """The trained classifier as an evaluator: alignment with captions and the Frechet distance
    to the held-out real canvases' features."""

    def __init__(self, graphdef, state: train.TrainState, real_images: np.ndarray) -> None:
        @jax.jit
        def classify(images):
            out = nnx.merge(graphdef, state.params, state.model_state)(images)
            return out["digit"].argmax(-1), out["size"].argmax(-1), out["features"]

        self._classify = classify
        self.real_features = self.classify(real_images)[2]

    def classify(self, images: np.ndarray) -> list[np.ndarray]:
        return _batched(self._classify, (images,), 128)

    def score(self, images: np.ndarray, digits: np.ndarray, sizes: np.ndarray) -> dict[str, float]:
        d, s, f = self.classify(images)
        return {**alignment(d, s, digits, sizes), "fd": frechet_distance(f, self.real_features)}


def classifier_evaluator(graphdef, world: DigitsWorld) -> Callable:
    """``evaluate(state) -> alignment`` of the classifier on real held-out canvases."""

    @jax.jit
    def predict(state, x):
        out = nnx.merge(graphdef, state.params, state.model_state)(x)
        return out["digit"].argmax(-1), out["size"].argmax(-1)

    def evaluate(state):
        d, s = _batched(lambda x: predict(state, x), (world.images,), 128)
        return alignment(d, s, world.digits, world.sizes)

    return evaluate


def base_evaluator(cfg: DiffusionDigitsExperiment, setup: StageSetup, world: DigitsWorld):
    """``evaluate(state) -> {"valid_loss"}``: the DDPM loss (no caption dropout) on the first
    256 held-out canvases with fixed noise."""
    loss_fn = make_base_loss(dfn.make_noise_schedule(cfg.schedule), empty_ids(cfg), 0.0)
    n = min(256, len(world.ids)) // cfg.batch_size * cfg.batch_size
    x0, ids = to_latent(world.images[:n]), world.ids[:n]

    @jax.jit
    def one(state, x0, ids, key):
        model = nnx.merge(setup.graphdef, state.params, state.model_state)
        return loss_fn(model, {"x0": x0, "ids": ids}, key=key, context={}, extra={})[0]

    def evaluate(state):
        b = cfg.batch_size
        vals = [
            one(state, x0[i : i + b], ids[i : i + b], jax.random.key(i)) for i in range(0, n, b)
        ]
        return {"valid_loss": float(np.mean(jax.device_get(vals)))}

    return evaluate


def sample_methods(
    cfg: DiffusionDigitsExperiment,
    unet_graphdef,
    unet_params,
    encode: Callable[[np.ndarray], jax.Array],
    methods: dict[str, tuple[Callable[[jax.Array, jax.Array], jax.Array], bool]],
    ids: np.ndarray,
    *,
    steps: int | None = None,
    batch: int = 64,
) -> dict[str, dict[str, Any]]:
    """Samples every method on ``ids [N, L]`` from the same start noise, ``batch`` prompts at a
    time (``N`` a multiple of ``batch``).

    ``methods[name] = (cond_fn(c, u) -> embedding, guided)``: the embedding is computed once per
    prompt (text encoder + ``cond_fn``), then one compiled sampler per ``guided`` value runs.
    Returns per method ``images [N, S, S, 1]``, ``nfe`` and ``seconds_per_image``: the median
    over the batches after the first (which may compile) of the batch's wall time / ``batch``,
    embedding included.
    """
    batch = min(batch, len(ids))
    if len(ids) % batch:
        raise ValueError(f"{len(ids)=} prompts must be a multiple of {batch=}")
    s = cfg.sampling
    steps = steps or s.steps
    gen = make_generator(unet_graphdef, dfn.make_noise_schedule(cfg.schedule), s.sampler, steps)
    h = cfg.world.canvas // 2
    key = jax.random.key(s.seed)
    x_T = np.asarray(jax.random.normal(key, (len(ids), h, h, 4)))
    u = jax.jit(encode)(empty_ids(cfg))
    out = {}
    for name, (cond_fn, guided) in methods.items():
        embed = jax.jit(lambda i, cond_fn=cond_fn: cond_fn(encode(i), u))
        chunks, times = [], []
        for lo in range(0, len(ids), batch):
            t0 = time.perf_counter()
            x = gen(unet_params, embed(ids[lo : lo + batch]), u, x_T[lo : lo + batch], key,
                    guided=guided, guidance=s.guidance)  # fmt: skip
            chunks.append(np.asarray(x))
            times.append((time.perf_counter() - t0) / batch)
        images = np.clip(np.asarray(from_latent(np.concatenate(chunks))), -1.0, 1.0)
        seconds = float(np.median(times[1:] if len(times) > 1 else times))
        out[name] = {"images": images, "nfe": steps * (2 if guided else 1),
                     "seconds_per_image": seconds}  # fmt: skip
    return out


def base_methods(cfg: DiffusionDigitsExperiment) -> dict[str, tuple[Callable, bool]]:
    return {"cfg": (lambda c, u: c, True), "unguided": (lambda c, u: c, False)}


def text_encoder(graphdef, state: train.TrainState) -> Callable[[jax.Array], jax.Array]:
    """``ids -> c [B, L, d]`` of the trained text encoder."""
    model = nnx.merge(graphdef, state.params, state.model_state)
    return lambda ids: model.text(jnp.asarray(ids))[0]


def unet_split(graphdef, state: train.TrainState):
    """``(unet_graphdef, unet_params)`` of the trained :class:`TextToImage`."""
    model = nnx.merge(graphdef, state.params, state.model_state)
    g, p = nnx.split(model.unet)
    return g, p


def report(cfg, samples: dict, judge: Judge, world: DigitsWorld, run_dir: Path) -> dict:
    """Writes ``samples_<method>.png`` and returns ``{method: metrics}``."""
    n = len(next(iter(samples.values()))["images"])
    k = min(cfg.sampling.grid_rows * 8, n)
    metrics = {}
    for name, res in samples.items():
        save_grid(res["images"][:k], world.captions[:k], run_dir / f"samples_{name}.png",
                  f"{name} ({res['nfe']} NFE)")  # fmt: skip
        metrics[name] = {**judge.score(res["images"], world.digits[:n], world.sizes[:n]),
                         "nfe": res["nfe"], "seconds_per_image": res["seconds_per_image"]}  # fmt: skip
    return metrics


def prepare(cfg: DiffusionDigitsExperiment, run_dir: Path, resume: bool, world=None):
    """The classifier and base stages (trained or restored); returns ``(world, judge,
    base setup, base state, summaries)``."""
    world = world or load_world(cfg)
    ccfg = classifier_config(cfg)
    cls = build_classifier(ccfg, world)
    c_sum = train_stage(ccfg, cls, run_dir / "classifier",
                        classifier_evaluator(cls.graphdef, world["test"]), resume)  # fmt: skip
    judge = Judge(cls.graphdef, c_sum.pop("_state"), world["test"].images)
    base = build_base(cfg, world)
    b_sum = train_stage(cfg, base, run_dir / "base", base_evaluator(cfg, base, world["test"]),
                        resume)  # fmt: skip
    state = b_sum.pop("_state")
    return world, judge, base, state, {"classifier": c_sum, "base": b_sum}


def run(cfg: DiffusionDigitsExperiment, run_dir: str | Path, *, resume: bool = True) -> dict:
    """Both stages, then the CFG and unguided samples; writes ``run_dir/results.json``."""
    run_dir = Path(run_dir)
    world, judge, base, state, summaries = prepare(cfg, run_dir, resume)
    ug, up = unet_split(base.graphdef, state)
    test = world["test"]
    n = min(cfg.sampling.eval_prompts, len(test.ids))
    samples = sample_methods(cfg, ug, up, text_encoder(base.graphdef, state), base_methods(cfg),
                             test.ids[:n])  # fmt: skip
    out = {"name": cfg.name, **summaries, "samples": report(cfg, samples, judge, test, run_dir),
           "real": judge.score(test.images[:n], test.digits[:n], test.sizes[:n])}  # fmt: skip
    write_json_atomic(run_dir / "results.json", out)
    return out
