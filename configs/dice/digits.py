"""DICE on the digits world: the sharpener distilled from the frozen base model's CFG (omega 5).

Run:  jaxrec run dice/digits            (trains classifier/ and base/ first unless cached:
      jaxrec run diffusion/digits --out runs/dice-digits  trains the same base in that folder)
Sharpener: shared ReLU projection 64 -> 128, 4 heads x 32 cross-attention without q/k/v bias,
ReLU, 128 -> 64 (82,240 parameters; the paper's 512-wide 8x64 variant is
SharpenerConfig(embed_dim=64)). One t per batch, L1, Adam lr 2e-4 constant, 200 steps of batch
32. Measured (docs/RESULTS.md, benchmarks/dice_reproduce.py): the sharpener cuts the unguided
prediction's L1 distance to the CFG target by 26%, but the default 1-epoch base is too short to
draw recognisable canvases, so the alignment gap it should close is not yet measurable.
"""

from jaxrec.vision.dice.config import DiceDigitsExperiment, tiny_base


def get_config(arg: str | None = None) -> DiceDigitsExperiment:
    if arg in (None, "default"):
        return DiceDigitsExperiment()
    if arg == "tiny":
        return DiceDigitsExperiment(name="dice-digits-tiny", base=tiny_base(), train_rows=128)
    raise ValueError(f"variant must be 'default' or 'tiny', got {arg!r}")
