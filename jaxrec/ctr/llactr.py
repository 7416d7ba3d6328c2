"""LLaCTR's field-level LLM knowledge (Cui et al., arXiv 2505.14057; spec §2.3): FRE and FIE.

Notation: per-sample field embeddings ``e`` [B, F, D] from the CTR backbone's table; fixed LLM
field-name embeddings ``h`` [F, d_llm] (one row per field, in the data's field order).

- **FRE** (field representation enhancement): ``g_k = W h_k + c`` (learned ``d_llm -> D``), and
  per sample ``sum_k KL(softmax(g_k) || softmax(e_k))`` (softmax over D), batch-averaged and
  weighted by ``lambda_loss``. The target ``softmax(g_k)`` is *not* detached (the authors' code):
  ``W`` and the table pull toward each other; ``fre_detach_target=True`` stops the gradient into
  ``W``.
- **FIE** (field interaction enhancement): ``s_kl = cos(h_k, h_l)`` for the C(F, 2) pairs
  ``k < l`` (row-major, :func:`jaxrec.models.ctr.pair_indices`), a learned affine map
  ``s' = A s + b`` (A [P, P]), and the extra logit ``lambda_llm * sum_{k<l} s'_kl <e_k, e_l>``.
  The authors' FinalMLP / WuKong drop the ``<e_k, e_l>`` factor (``lambda_llm * sum s'``, an
  input-independent bias, their "trick"); jaxrec's default is the paper's input-dependent form for
  every backbone, ``fie_input_independent=True`` reproduces the repo.

Initialisation (unspecified by the paper; the authors' code uses torch's ``nn.Linear`` default):
``W, c, A, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with fan_in ``d_llm`` (W, c) and ``P`` (A, b).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxrec.data.loaders import DataFormatError
from jaxrec.models.ctr import pair_indices, weighted_pair_sum

__all__ = [
    "LLaCTRHead",
    "cosine_pairs",
    "fie_logit",
    "fre_kl",
    "load_field_embeddings",
    "random_field_embeddings",
]


def load_field_embeddings(path: str | Path, fields: Sequence[str]) -> np.ndarray:
    """float32 [F, d] field-name embeddings from a ``.npy`` file, one row per field of ``fields``
    (in that order); a row count other than ``len(fields)`` is a :class:`DataFormatError`."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: field-embedding file not found")
    h = np.load(path, allow_pickle=False)
    if h.ndim != 2 or h.shape[0] != len(fields):
        raise DataFormatError(
            f"{path}: field embeddings of shape {h.shape}, but the data has {len(fields)} fields "
            f"{tuple(fields)}: expected [{len(fields)}, d], one row per field in this order"
        )
    if not np.all(np.isfinite(h)):
        raise DataFormatError(f"{path}: field embeddings hold NaN or inf")
    return h.astype(np.float32)


def random_field_embeddings(num_fields: int, dim: int, seed: int) -> np.ndarray:
    """The control: float32 [F, dim] standard-normal rows (no LLM knowledge)."""
    return np.random.default_rng(seed).normal(size=(num_fields, dim)).astype(np.float32)


def cosine_pairs(h: jax.Array) -> jax.Array:
    """``s_kl = cos(h_k, h_l)`` for the C(F, 2) pairs ``k < l``: [P] from ``h`` [F, d] (f32)."""
    h = h.astype(jnp.float32)
    unit = h / jnp.maximum(jnp.linalg.norm(h, axis=-1, keepdims=True), 1e-12)
    i, j = pair_indices(h.shape[0])
    return jnp.sum(unit[i] * unit[j], -1)


def fre_kl(emb: jax.Array, g: jax.Array, *, detach_target: bool = False) -> jax.Array:
    """``sum_k KL(softmax(g_k) || softmax(e_bk))`` per sample: [B] from ``emb`` [B, F, D] and
    ``g`` [F, D], as ``sum p (log p - log q)`` with ``log_softmax`` on both sides, in f32."""
    log_p = jax.nn.log_softmax(g.astype(jnp.float32), -1)
    if detach_target:
        log_p = jax.lax.stop_gradient(log_p)
    log_q = jax.nn.log_softmax(emb.astype(jnp.float32), -1)
    return jnp.sum(jnp.exp(log_p)[None] * (log_p[None] - log_q), (-1, -2))


def fie_logit(emb: jax.Array, s_prime: jax.Array, *, input_independent: bool = False) -> jax.Array:
    """``sum_{k<l} s'_kl <e_k, e_l>`` [B] from ``emb`` [B, F, D] and ``s_prime`` [P]
    (:func:`jaxrec.models.ctr.weighted_pair_sum`); with ``input_independent`` the authors'
    FinalMLP/WuKong form ``sum s'`` (broadcast to [B])."""
    if input_independent:
        return jnp.broadcast_to(jnp.sum(s_prime), emb.shape[:1])
    return weighted_pair_sum(emb, s_prime)


def _uniform(fan_in: int):
    bound = 1.0 / np.sqrt(fan_in)
    return lambda key, shape: jax.random.uniform(key, shape, jnp.float32, -bound, bound)


class LLaCTRHead(nnx.Module):
    """FRE projection ``W`` [d_llm, D] + ``c`` [D] and FIE map ``A`` [P, P] + ``b`` [P]."""

    def __init__(self, num_fields: int, llm_dim: int, dim: int, *, rngs: nnx.Rngs):
        p = num_fields * (num_fields - 1) // 2
        self.proj = nnx.Param(_uniform(llm_dim)(rngs.params(), (llm_dim, dim)))
        self.proj_bias = nnx.Param(_uniform(llm_dim)(rngs.params(), (dim,)))
        self.pair_map = nnx.Param(_uniform(p)(rngs.params(), (p, p)))
        self.pair_bias = nnx.Param(_uniform(p)(rngs.params(), (p,)))

    def project(self, h: jax.Array) -> jax.Array:
        """``g = h W + c``: [F, D] from ``h`` [F, d_llm]."""
        return h.astype(jnp.float32) @ self.proj[...] + self.proj_bias[...][None, :]

    def pair_weights(self, h: jax.Array) -> jax.Array:
        """``s' = A s + b`` [P] from the LLM cosine pairs ``s`` of ``h``."""
        return self.pair_map[...] @ cosine_pairs(h) + self.pair_bias[...]
