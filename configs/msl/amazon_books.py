"""MSL on Amazon Books (the authors' data) with a small decoder trained from scratch (spec §7).

Run:  jaxrec run msl/amazon_books:lml
      jaxrec run msl/amazon_books:msl            (tau = 1)
      jaxrec run msl/amazon_books:msl_tau1.5     (fixed tau; also msl_tau3, msl_tau4.5)
      jaxrec run msl/amazon_books:msl_ats        (MSL + ATS, authors' code switches)
      jaxrec run msl/amazon_books:msl_ats_paper
Data: ../shared/data/llmrec/amazon_books (override with --set data.path=...). Training on
train_10000.csv, validation = the latest 500 windows of train.csv not in it (select by NDCG@5),
test = test_5000.csv with both CBS scorings. Compact prompt (no preamble), last 5 history titles
truncated to 16 words, byte-level BPE of 6k tokens on the titles, 4-layer width-256 decoder.
Several hours per run on 2 CPU cores; minutes on one GPU. benchmarks/msl_reproduce.py runs the
whole comparison over seeds.

A "-cpu" suffix (``msl/amazon_books:msl_ats-cpu``) is the 2-core budget of docs/RESULTS.md:
2-layer width-128 decoder, last 3 history titles of at most 8 words, 4k BPE, 4 epochs, and the
first 1,000 test windows (validation: 500 windows, as above).
"""

import dataclasses

from jaxrec.data import shared_root
from jaxrec.llmrec.config import (
    CBSConfig,
    DataConfig,
    LossConfig,
    ModelConfig,
    MSLExperiment,
    ats_preset,
)
from jaxrec.train import LoopConfig, OptimizerConfig

VARIANTS = {
    "lml": LossConfig(name="lml", temperature=1.0, tau_factor=False),
    "msl": LossConfig(name="msl", temperature=1.0),
    "msl_tau1.5": LossConfig(name="msl", temperature=1.5),
    "msl_tau3": LossConfig(name="msl", temperature=3.0),
    "msl_tau4.5": LossConfig(name="msl", temperature=4.5),
    "msl_ats": LossConfig(name="msl", temperature=1.5, ats=ats_preset("code")),
    "msl_ats_paper": LossConfig(name="msl", temperature=1.5, ats=ats_preset("paper")),
}


def get_config(arg: str | None = None) -> MSLExperiment:
    variant, _, budget = (arg or "msl_ats").partition("-")
    if variant not in VARIANTS or budget not in ("", "cpu"):
        raise ValueError(
            f"config arg must be <variant>[-cpu] with variant in {sorted(VARIANTS)}, got {arg!r}"
        )
    cfg = _full(variant)
    return _cpu_budget(cfg) if budget == "cpu" else cfg


def _cpu_budget(cfg: MSLExperiment) -> MSLExperiment:
    return dataclasses.replace(
        cfg,
        name=cfg.name + "-cpu",
        data=dataclasses.replace(
            cfg.data,
            max_prompt_len=80,
            max_history=3,
            history_title_words=8,
            bpe_vocab_size=4000,
            max_test_rows=1000,
        ),
        model=ModelConfig(num_layers=2, dim=128, num_heads=4, num_kv_heads=2, mlp_dim=384),
        optimizer=dataclasses.replace(cfg.optimizer, warmup_steps=30),
        loop=dataclasses.replace(cfg.loop, epochs=4, patience=0),
    )


def _full(variant: str) -> MSLExperiment:
    return MSLExperiment(
        name=f"amazon_books-{variant}",
        batch_size=64,
        data=DataConfig(
            source="llmrec_csv",
            path=str(shared_root() / "llmrec" / "amazon_books"),
            dataset="book",
            prompt_style="compact",
            max_prompt_len=192,
            max_history=5,
            history_title_words=16,
            num_valid=500,
            bpe_vocab_size=6000,
        ),
        model=ModelConfig(num_layers=4, dim=256, num_heads=8, num_kv_heads=4, mlp_dim=768),
        loss=VARIANTS[variant],
        cbs=CBSConfig(num_beams=10, num_return=10, batch_size=32),
        optimizer=OptimizerConfig(
            name="adamw", lr=1e-3, schedule="linear", warmup_steps=100, weight_decay=0.01
        ),
        loop=LoopConfig(epochs=20, eval_every=1, patience=5, select_metric="ndcg@5"),
    )
