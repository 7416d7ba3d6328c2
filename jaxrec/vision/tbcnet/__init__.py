"""TBCNet (Yang et al., Pattern Recognition 2026): multi-view action recognition with a fused
trunk (GAM + multi-view deformable attention with CRPB) and per-view training branches; the
weighted trunk-branch contrastive loss is :func:`jaxrec.losses.tbc_loss`."""

from jaxrec.vision.tbcnet.attention import DeformableAttention, crpb_bias, reference_grid
from jaxrec.vision.tbcnet.blocks import GAM, LPU, MLP, LayerScale, MVDABlock
from jaxrec.vision.tbcnet.branch import Branch, SwinBlock
from jaxrec.vision.tbcnet.model import TBCNet, TBCNetModelConfig, feature_volume
from jaxrec.vision.tbcnet.sampling import grid_to_index, sample_batched, trilinear_sample
from jaxrec.vision.tbcnet.video_io import (
    ClipError,
    load_folder_clip,
    load_hdf5_clip,
    read_split_csv,
)

__all__ = [
    "ClipError",
    "load_folder_clip",
    "load_hdf5_clip",
    "read_split_csv",
    "Branch",
    "SwinBlock",
    "TBCNet",
    "TBCNetModelConfig",
    "feature_volume",
    "GAM",
    "LPU",
    "MLP",
    "DeformableAttention",
    "LayerScale",
    "MVDABlock",
    "crpb_bias",
    "grid_to_index",
    "reference_grid",
    "sample_batched",
    "trilinear_sample",
]
