"""Base text-to-image model of the digits world (UNet + CLIP-style text encoder from scratch).

Run:  jaxrec run diffusion/digits            (one epoch, 400 steps: ~15 min on 2 shared CPU cores, too
      short for clean samples -- raise loop.epochs; variant "tiny": a smoke run)
32x32 canvases of 1-2 MNIST digits (small/large, one per quadrant) captioned "a small 7 at the
top left , a large 2 at the bottom right"; 10% empty-caption dropout; the run folder holds
classifier/ and base/ stages, samples_cfg.png and samples_unguided.png and, in results.json, the
caption alignment (position, digit, size, exact) and Frechet distance of CFG (omega 5) and
unguided samples (20 DPM-Solver++ steps).
"""

from jaxrec.vision.dice.config import DiffusionDigitsExperiment, tiny_base


def get_config(arg: str | None = None) -> DiffusionDigitsExperiment:
    if arg in (None, "default"):
        return DiffusionDigitsExperiment()
    if arg == "tiny":
        return tiny_base()
    raise ValueError(f"variant must be 'default' or 'tiny', got {arg!r}")
