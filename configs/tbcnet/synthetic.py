"""TBCNet on the synthetic multi-view action world, CPU scale.

Run:  jaxrec run tbcnet/synthetic:cv-cvl     (variants <protocol>-<mode>: protocol cs | cv,
      jaxrec run tbcnet/synthetic:cs-c        mode c | cv | cvl | late; "late" = late fusion)
Narrow r3d (widths 16/32, truncated after layer2), 8 frames at 32x32, one MVDA block with 4
heads in 2 groups, 4x4 branch windows shifted by 2, embedding 32.
"""

from jaxrec.train import LoopConfig, OptimizerConfig
from jaxrec.vision.tbcnet.config import DataConfig, LossConfig, TBCNetExperiment
from jaxrec.vision.tbcnet.model import TBCNetModelConfig


def get_config(arg: str | None = None) -> TBCNetExperiment:
    protocol, _, mode = (arg or "cv-cvl").partition("-")
    if protocol not in ("cs", "cv") or mode not in ("c", "cv", "cvl", "late"):
        raise ValueError(f"variant must be <cs|cv>-<c|cv|cvl|late>, got {arg!r}")
    model = TBCNetModelConfig(
        classes=10, views=3 if protocol == "cs" else 2, frames=8, size=32, backbone_layers=2,
        widths=(16, 32), heads=4, groups=2, emb_dim=32, branch_heads=2, window=4, shift=2,
        fusion="late" if mode == "late" else "tbcnet",
    )  # fmt: skip
    return TBCNetExperiment(
        name=f"tbcnet-synthetic-{protocol}-{mode}",
        seed=0,
        batch_size=16,
        stage1_epochs=6,
        data=DataConfig(protocol=protocol),
        model=model,
        loss=LossConfig(mode="c" if mode == "late" else mode),
        optimizer=OptimizerConfig(name="adamw", lr=1e-3, weight_decay=1e-5),
        loop=LoopConfig(epochs=4, select_metric="top1", log_every_steps=0),
    )
