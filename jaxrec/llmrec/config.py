"""Configuration of an MSL experiment (LML / MSL / MSL+ATS, decoded with CBS).

Defaults follow the paper where the paper is explicit and the authors' code where it decides
(README.md, "Paper vs authors' code"); every difference has a named switch documented on its field.
"""

from __future__ import annotations

import dataclasses

from jaxrec.train import LoopConfig, MeshConfig, OptimizerConfig

__all__ = [
    "ATSConfig",
    "CBSConfig",
    "DataConfig",
    "LossConfig",
    "MSLExperiment",
    "ModelConfig",
    "ats_preset",
]


@dataclasses.dataclass(frozen=True)
class ATSConfig:
    """Adaptive temperature (paper §4.2.3, eqs. 11-12, 22). Defaults: the authors' code.

    Attributes:
      enabled: use ATS (``loss.name == "msl"`` only); the loss temperature then starts at ``tau0``.
      tau0: initial / warm-up temperature (code: 1.5).
      eta: target valid probability of the gold token (0.25).
      ema: EMA weight alpha of the new target (code: 0.05); ``None``: no smoothing (paper).
      clamp: ``(lo, hi)`` for the target (code: (1.5, 5)); ``None``: none (paper).
      root: ``"larger"`` root (code) or ``"smaller"`` (paper eq. 12).
      rows: ``"first_multi_valid"`` (code intent, by position), ``"root_count"`` (code literal)
        or ``"all_multi_valid"`` (paper).
      m: ``"root_fanout"`` (code: the first branching fan-out) or ``"mean_valid"`` (paper).
      warm_up: steps with the fixed ``tau0`` (-1: none).
    """

    enabled: bool = False
    tau0: float = 1.5
    eta: float = 0.25
    ema: float | None = 0.05
    clamp: tuple[float, float] | None = (1.5, 5.0)
    root: str = "larger"
    rows: str = "first_multi_valid"
    m: str = "root_fanout"
    warm_up: int = -1

    def __post_init__(self) -> None:
        if self.root not in ("larger", "smaller"):
            raise ValueError(f"ats.root must be larger or smaller, got {self.root=}")
        if self.rows not in ("first_multi_valid", "root_count", "all_multi_valid"):
            raise ValueError(
                f"ats.rows must be first_multi_valid, root_count or all_multi_valid, got {self.rows=}"
            )
        if self.m not in ("root_fanout", "mean_valid"):
            raise ValueError(f"ats.m must be root_fanout or mean_valid, got {self.m=}")
        if self.tau0 <= 0 or not 0 < self.eta < 1:
            raise ValueError(f"need tau0 > 0 and 0 < eta < 1, got {self.tau0=}, {self.eta=}")
        if self.ema is not None and not 0 < self.ema <= 1:
            raise ValueError(f"ats.ema must be in (0, 1] or None, got {self.ema=}")
        if self.clamp is not None and not 0 < self.clamp[0] <= self.clamp[1]:
            raise ValueError(f"ats.clamp must be (lo, hi) with 0 < lo <= hi, got {self.clamp=}")


def ats_preset(name: str) -> ATSConfig:
    """``"code"`` (default switches) or ``"paper"``: smaller root, no clamp, no EMA, all
    multi-valid rows of the batch, m = their mean valid count."""
    if name == "code":
        return ATSConfig(enabled=True)
    if name == "paper":
        return ATSConfig(
            enabled=True,
            ema=None,
            clamp=None,
            root="smaller",
            rows="all_multi_valid",
            m="mean_valid",
        )
    raise ValueError(f"unknown ats preset {name!r}; expected code or paper")


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Attributes:
    name: ``"msl"`` (trie-masked softmax) or ``"lml"`` (full-vocabulary cross-entropy).
    temperature: fixed tau (LML 1; MSL paper best 1.5 on Book, 4.5 on Toy).
    tau_factor: multiply by tau (paper eq. 9; the authors' fixed-tau code does not).
    drop_single_valid: drop positions with one valid token from the mean (authors' ATS code).
    ats: the adaptive temperature.
    """

    name: str = "msl"
    temperature: float = 1.0
    tau_factor: bool = True
    drop_single_valid: bool = False
    ats: ATSConfig = ATSConfig()

    def __post_init__(self) -> None:
        if self.name not in ("msl", "lml"):
            raise ValueError(f"loss.name must be msl or lml, got {self.name=}")
        if self.temperature <= 0:
            raise ValueError(f"loss.temperature must be > 0, got {self.temperature=}")
        if self.ats.enabled and self.name != "msl":
            raise ValueError("loss.ats.enabled needs loss.name='msl'")


@dataclasses.dataclass(frozen=True)
class CBSConfig:
    """Constrained beam search. scoring: ``"softmax_then_mask"`` (HF, paper Table 5; default) or
    ``"mask_then_softmax"`` (authors' updated decoder). length_penalty: HF's exponent (1.0;
    0 = none). batch_size: prompts per decoding batch."""

    num_beams: int = 10
    num_return: int = 10
    scoring: str = "softmax_then_mask"
    length_penalty: float = 1.0
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.scoring not in ("softmax_then_mask", "mask_then_softmax"):
            raise ValueError(
                f"cbs.scoring must be softmax_then_mask or mask_then_softmax, got {self.scoring=}"
            )
        if not 1 <= self.num_return <= self.num_beams or self.batch_size < 1:
            raise ValueError(f"need 1 <= num_return <= num_beams and batch_size >= 1, got {self}")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Attributes:
    source: ``"synthetic"`` (planted genre world) or ``"llmrec_csv"`` (MSL/BIGRec folder).
    path: folder with id2name4Rec.json, train.csv, train_10000.csv, test_5000.csv.
    dataset: prompt wording (``"book"``, ``"toy"``, ``"clothing"``, ``"office"``, ``"synthetic"``).
    prompt_style: ``"alpaca"`` (paper) or ``"compact"`` (no preamble; from-scratch models).
    max_prompt_len: prompt token budget (oldest history titles are dropped to fit).
    max_history: most recent history titles kept (paper: up to 10; 5 in the CPU-scale setup of
      README.md).
    history_title_words: truncate history titles to this many words (0: keep whole).
    num_valid: validation windows (the latest of train.csv not in the training file).
    max_train_rows, max_test_rows: use only the first rows (0: all) for quick runs.
    tokenizer: ``"bpe"`` (train a byte-level BPE on the titles) or a local HF tokenizer folder.
    bpe_vocab_size: size of the trained BPE.
    drop_mismatched: drop (with a warning) examples whose response tokenises differently in the
      prompt than alone, instead of failing.
    synthetic_*: size of the synthetic world.
    """

    source: str = "synthetic"
    path: str = ""
    dataset: str = "synthetic"
    prompt_style: str = "compact"
    max_prompt_len: int = 96
    max_history: int = 5
    history_title_words: int = 0
    num_valid: int = 500
    max_train_rows: int = 0
    max_test_rows: int = 0
    tokenizer: str = "bpe"
    bpe_vocab_size: int = 512
    drop_mismatched: bool = False
    synthetic_users: int = 600
    synthetic_genres: int = 6
    synthetic_items_per_genre: int = 12

    def __post_init__(self) -> None:
        if self.source not in ("synthetic", "llmrec_csv"):
            raise ValueError(f"data.source must be synthetic or llmrec_csv, got {self.source=}")
        if self.source == "llmrec_csv" and not self.path:
            raise ValueError("data.path is required for data.source='llmrec_csv'")
        if self.prompt_style not in ("alpaca", "compact"):
            raise ValueError(
                f"data.prompt_style must be alpaca or compact, got {self.prompt_style=}"
            )


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The decoder: trained from scratch (``pretrained == ""``, sizes below) or a local Hugging
    Face checkpoint folder fine-tuned with LoRA (``jaxrec.models.llm.load_pretrained``).

    Attributes:
      pretrained: local HF folder (config.json + safetensors + tokenizer), or "" for scratch.
      num_layers, dim, num_heads, num_kv_heads, mlp_dim: from-scratch sizes.
      lora_rank, lora_alpha, lora_targets: LoRA on a pretrained base (paper: r 8, alpha 16,
        q_proj and v_proj); rank 0 fine-tunes everything.
      dtype: compute dtype ("float32" or "bfloat16").
    """

    pretrained: str = ""
    num_layers: int = 2
    dim: int = 64
    num_heads: int = 4
    num_kv_heads: int = 2
    mlp_dim: int = 128
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_targets: tuple[str, ...] = ("q_proj", "v_proj")
    dtype: str = "float32"


@dataclasses.dataclass(frozen=True)
class MSLExperiment:
    """One run: data, decoder, loss, decoding, optimisation, loop and mesh."""

    method: str = "msl"
    name: str = "synthetic-msl"
    seed: int = 0
    batch_size: int = 32
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    cbs: CBSConfig = CBSConfig()
    test_scorings: tuple[str, ...] = ("softmax_then_mask", "mask_then_softmax")
    optimizer: OptimizerConfig = OptimizerConfig(
        name="adamw", lr=1e-3, schedule="linear", warmup_steps=20
    )
    loop: LoopConfig = LoopConfig(epochs=10, eval_every=1, select_metric="ndcg@5")
    mesh: MeshConfig = MeshConfig()
