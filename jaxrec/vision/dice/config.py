"""Configs of the digits world runs (frozen dataclasses; ``configs/{diffusion,dice}/*.py``).

``DiffusionDigitsExperiment`` trains the base text-to-image model (UNet on the 2x2
space-to-depth "latent" of the canvas + a CLIP-style text encoder, from scratch, with
empty-caption dropout) and the attribute classifier; ``DiceDigitsExperiment`` embeds it as
``base`` and trains the sharpener on the frozen result.
"""

from __future__ import annotations

import dataclasses

from jaxrec.diffusion import SCHEDULE_KINDS, check_guidance_scale
from jaxrec.models.clip_text import CLIPTextConfig
from jaxrec.models.unet import UNetConfig
from jaxrec.train import LoopConfig, MeshConfig, OptimizerConfig
from jaxrec.vision.dice.distill import LOSSES
from jaxrec.vision.dice.sharpener import SharpenerConfig
from jaxrec.vision.dice.world import CaptionTokenizer, max_caption_length

__all__ = [
    "SAMPLERS",
    "ClassifierConfig",
    "DiceDigitsExperiment",
    "DiffusionDigitsExperiment",
    "SamplingConfig",
    "WorldConfig",
    "tiny_base",
]

SAMPLERS = ("dpm_solver_pp", "ddim", "ddpm")


@dataclasses.dataclass(frozen=True)
class WorldConfig:
    """Attributes: canvas (pixels, a multiple of 16), max_objects per canvas, num_train /
    num_test canvases (test canvases use the held-out ``test_glyphs`` last MNIST glyphs), seed."""

    canvas: int = 32
    max_objects: int = 2
    num_train: int = 12800
    num_test: int = 1024
    test_glyphs: int = 2000
    world_seed: int = 0

    def __post_init__(self) -> None:
        if self.canvas % 16 or self.canvas < 16:
            raise ValueError(f"world.canvas must be a positive multiple of 16, got {self.canvas}")


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
    """Attributes: sampler ("dpm_solver_pp", "ddim", "ddpm"), steps, guidance (CFG omega of the
    "cfg" samples), eval_prompts (test captions sampled for the alignment metrics), grid_rows x 8
    images in each samples grid, seed."""

    sampler: str = "dpm_solver_pp"
    steps: int = 20
    guidance: float = 5.0
    eval_prompts: int = 256
    grid_rows: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; expected one of {SAMPLERS}")
        if self.steps < 1 or self.eval_prompts < 1 or self.grid_rows < 1:
            raise ValueError(f"sampling steps, eval_prompts and grid_rows must be >= 1: {self}")
        check_guidance_scale(self.guidance)


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
    """The attribute classifier's training: epochs, batch size, learning rate, seed."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 1


_UNET = UNetConfig(in_channels=4, out_channels=4, block_out_channels=(32, 64),
                   cross_attn=(False, True), layers_per_block=1, attention_heads=4,
                   cross_attention_dim=64, norm_num_groups=8)  # fmt: skip
_TEXT = CLIPTextConfig(vocab_size=CaptionTokenizer(1).vocab_size,
                       max_position_embeddings=max_caption_length(2), hidden_size=64,
                       intermediate_size=128, num_layers=2, num_heads=4, eos_token_id=1)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class DiffusionDigitsExperiment:
    """The base model: DDPM training (epsilon, ``schedule`` betas, T=1000) of UNet + text
    encoder with ``uncond_prob`` empty-caption dropout; AdamW with warm-up and cosine decay."""

    method: str = "diffusion"
    name: str = "diffusion-digits"
    seed: int = 0
    batch_size: int = 32
    uncond_prob: float = 0.1
    schedule: str = "linear"
    world: WorldConfig = WorldConfig()
    unet: UNetConfig = _UNET
    text: CLIPTextConfig = _TEXT
    sampling: SamplingConfig = SamplingConfig()
    classifier: ClassifierConfig = ClassifierConfig()
    optimizer: OptimizerConfig = OptimizerConfig(
        name="adamw", lr=2e-3, schedule="cosine", warmup_steps=100, final_lr_ratio=0.05,
        clip_norm=1.0,
    )  # fmt: skip
    loop: LoopConfig = LoopConfig(epochs=1, select_metric="valid_loss", select_mode="min",
                                  checkpoint_every_steps=100, log_every_steps=50)  # fmt: skip
    mesh: MeshConfig = MeshConfig()

    def __post_init__(self) -> None:
        latent, f = self.world.canvas // 2, self.unet.downsample_factor
        if latent % f:
            raise ValueError(
                f"canvas {self.world.canvas} (latent {latent}x{latent}) is not divisible by the "
                f"UNet's downsampling factor {f}"
            )
        if self.unet.in_channels != 4 or self.unet.out_channels != 4:
            raise ValueError("the 2x2 space-to-depth latent has 4 channels: set unet in/out to 4")
        if self.unet.cross_attention_dim != self.text.hidden_size:
            raise ValueError(
                f"{self.unet.cross_attention_dim=} must equal {self.text.hidden_size=}"
            )
        if self.text.max_position_embeddings < max_caption_length(self.world.max_objects):
            raise ValueError("text.max_position_embeddings is shorter than the longest caption")
        if self.text.vocab_size != CaptionTokenizer(1).vocab_size:
            raise ValueError(f"text.vocab_size must be {CaptionTokenizer(1).vocab_size}")
        if self.schedule not in SCHEDULE_KINDS:
            raise ValueError(f"unknown noise schedule {self.schedule!r}; expected {SCHEDULE_KINDS}")
        if not 0 <= self.uncond_prob < 1:
            raise ValueError(f"uncond_prob must be in [0, 1), got {self.uncond_prob}")


@dataclasses.dataclass(frozen=True)
class DiceDigitsExperiment:
    """The sharpener on the frozen ``base`` (spec §2.2): teacher CFG ``omega``, ``loss`` L1/L2,
    one t per batch unless ``per_example_t``, constant lr 2e-4 (no warm-up), ``alpha`` at
    sampling, ``embedding_scale`` for the scaling baseline; the first ``train_rows`` of the
    base's training canvases (one epoch = ``train_rows / batch_size`` steps)."""

    method: str = "dice"
    name: str = "dice-digits"
    seed: int = 0
    batch_size: int = 32
    base: DiffusionDigitsExperiment = DiffusionDigitsExperiment()
    sharpener: SharpenerConfig = SharpenerConfig(embed_dim=64, hidden=128, heads=4)
    omega: float = 5.0
    loss: str = "l1"
    per_example_t: bool = False
    alpha: float = 1.0
    embedding_scale: float = 1.2
    train_rows: int = 6400
    optimizer: OptimizerConfig = OptimizerConfig(name="adam", lr=2e-4)
    loop: LoopConfig = LoopConfig(epochs=1, select_metric="valid_loss", select_mode="min",
                                  checkpoint_every_steps=100, log_every_steps=50)  # fmt: skip
    mesh: MeshConfig = MeshConfig()

    def __post_init__(self) -> None:
        check_guidance_scale(self.omega)
        if not 0 < self.train_rows <= self.base.world.num_train:
            raise ValueError(f"need 0 < train_rows <= base.world.num_train, got {self.train_rows}")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown DICE loss {self.loss!r}; expected one of {LOSSES}")
        if self.sharpener.embed_dim != self.base.text.hidden_size:
            raise ValueError(
                f"{self.sharpener.embed_dim=} must equal the text encoder's "
                f"{self.base.text.hidden_size=}"
            )


def tiny_base() -> DiffusionDigitsExperiment:
    """A smoke-sized base run (256 canvases, one epoch, 4 sampling steps)."""
    base = DiffusionDigitsExperiment()
    return dataclasses.replace(
        base, name="diffusion-digits-tiny",
        world=WorldConfig(num_train=256, num_test=64),
        classifier=ClassifierConfig(epochs=1),
        sampling=SamplingConfig(steps=4, eval_prompts=16, grid_rows=2),
        optimizer=dataclasses.replace(base.optimizer, warmup_steps=2),
        loop=LoopConfig(epochs=1, select_metric="valid_loss", select_mode="min", log_every_steps=0),
    )  # fmt: skip
