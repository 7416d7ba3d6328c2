"""Straightforward PyTorch reference for the PSL/SL training step (benchmark only).

This is the step a practitioner would write following the PSL authors' approach (Yang et al.,
NeurIPS 2024, App. B.5.1; psl.md §2.3), used as the throughput baseline for jaxrec's jitted step:

- MF with two ``nn.Embedding`` tables (default ``N(0, 1)`` init), Adam;
- both tables L2-normalised, scores ``f = scale * cos`` (``scale = 1/2`` for PSL, 1 for the
  code's SL), gaps ``d = f(u, j) - f(u, i)`` against N negatives per positive;
- negatives drawn uniformly from the items the user has not interacted with, by vectorised
  rejection resampling against a sorted tensor of ``user * num_items + item`` keys;
- ``loss = mean log sum_j exp(log sigma(d_j) / tau)`` (PSL) or ``mean log sum_j exp(d_j / tau)``
  (SL), positive excluded from the sum, as in the authors' code.

torch is imported lazily: it is a benchmark-only dependency (``pip install torch==2.13.0``) and
nothing in ``jaxrec`` imports it.

Run ``python3 benchmarks/torch_reference.py`` for a small synthetic measurement.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

LOSSES = ("sl", "psl_tanh", "psl_atan", "psl_relu")


def _log_sigma(torch: Any, d: Any, loss: str) -> Any:
    """``log sigma(d)`` for the PSL activations, written the direct way (relu clamped)."""
    if loss == "psl_tanh":
        return torch.log(torch.tanh(d) + 1.0)
    if loss == "psl_atan":
        return torch.log(torch.atan(d) + 1.0)
    return torch.log(torch.clamp(d + 1.0, min=1e-10))  # psl_relu


def torch_sample_negatives(
    pos_keys: Any, users: Any, num_items: int, num_negatives: int, *, generator: Any
) -> Any:
    """``[B, N]`` items drawn uniformly from each user's non-interacted items.

    Rejection resampling: draw uniformly from all items, look each ``user * num_items + item``
    key up in the sorted positive keys, redraw the hits until none is left.

    Args:
      pos_keys: sorted ``[P]`` int64 tensor of ``user * num_items + item`` positive keys.
      users: ``[B]`` int64 user ids.
      num_items: number of items I.
      num_negatives: N.
      generator: ``torch.Generator`` for the draws.
    """
    import torch

    neg = torch.randint(num_items, (users.shape[0], num_negatives), generator=generator)
    while True:
        keys = users[:, None] * num_items + neg
        idx = torch.searchsorted(pos_keys, keys).clamp_(max=pos_keys.numel() - 1)
        hit = pos_keys[idx] == keys
        n_hit = int(hit.sum())
        if n_hit == 0:
            return neg
        neg[hit] = torch.randint(num_items, (n_hit,), generator=generator)


def torch_train_throughput(
    train_users: np.ndarray,
    train_items: np.ndarray,
    num_users: int,
    num_items: int,
    *,
    loss: str = "psl_tanh",
    dim: int = 64,
    batch_size: int = 1024,
    num_negatives: int = 1000,
    tau: float = 0.1,
    steps: int = 20,
    warmup: int = 3,
    threads: int | None = None,
    lr: float = 0.1,
    seed: int = 0,
) -> dict[str, float]:
    """Times ``steps`` PyTorch training steps (sampling + forward + backward + Adam) on CPU.

    Args:
      train_users: ``[R]`` user id of each training interaction.
      train_items: ``[R]`` item id of each training interaction.
      num_users: number of users U.
      num_items: number of items I (each user must have fewer than I positives).
      loss: one of ``"sl"``, ``"psl_tanh"``, ``"psl_atan"``, ``"psl_relu"``.
      dim: embedding size d.
      batch_size: interactions per step B.
      num_negatives: negatives per interaction N.
      tau: loss temperature (the paper's τ; ``tau_star`` in the authors' code).
      steps: timed steps.
      warmup: untimed steps before timing.
      threads: ``torch.set_num_threads`` value; ``None`` keeps torch's default.
      lr: Adam learning rate.
      seed: seed for the batch order, the negatives and the initialisation.

    Returns:
      ``median_step_s`` (median wall time of one full step), ``median_sample_s`` (its negative
      sampling part), ``interactions_per_s`` (``batch_size / median_step_s``), ``final_loss``,
      ``threads``.
    """
    import torch  # benchmark-only dependency
    import torch.nn.functional as F

    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)

    users_t = torch.as_tensor(np.asarray(train_users), dtype=torch.long)
    items_t = torch.as_tensor(np.asarray(train_items), dtype=torch.long)
    pos_keys = torch.unique(users_t * num_items + items_t)  # sorted
    if torch.bincount(pos_keys // num_items, minlength=num_users).max() >= num_items:
        raise ValueError("a user interacted with every item; no negatives to sample")

    user_emb = torch.nn.Embedding(num_users, dim)
    item_emb = torch.nn.Embedding(num_items, dim)
    opt = torch.optim.Adam([user_emb.weight, item_emb.weight], lr=lr)
    scale = 1.0 if loss == "sl" else 0.5

    def step() -> tuple[float, float]:
        t0 = time.perf_counter()
        b = torch.randint(users_t.numel(), (batch_size,), generator=gen)
        u, i = users_t[b], items_t[b]
        neg = torch_sample_negatives(pos_keys, u, num_items, num_negatives, generator=gen)
        t_sample = time.perf_counter() - t0
        users_n = F.normalize(user_emb.weight, dim=-1)
        items_n = F.normalize(item_emb.weight, dim=-1)
        u_vec = users_n[u]  # [B, d]
        pos = scale * (u_vec * items_n[i]).sum(-1, keepdim=True)  # [B, 1]
        negs = scale * torch.einsum("bd,bnd->bn", u_vec, items_n[neg])  # [B, N]
        d = negs - pos
        logits = d / tau if loss == "sl" else _log_sigma(torch, d, loss) / tau
        value = torch.logsumexp(logits, dim=-1).mean()
        opt.zero_grad()
        value.backward()
        opt.step()
        return t_sample, value.item()

    for _ in range(warmup):
        step()
    times, sample_times, value = [], [], float("nan")
    for _ in range(steps):
        t0 = time.perf_counter()
        t_sample, value = step()
        times.append(time.perf_counter() - t0)
        sample_times.append(t_sample)
    median = statistics.median(times)
    return {
        "median_step_s": median,
        "median_sample_s": statistics.median(sample_times),
        "interactions_per_s": batch_size / median,
        "final_loss": value,
        "threads": float(torch.get_num_threads()),
    }


if __name__ == "__main__":
    U, I = 2000, 3000  # noqa: E741 (users, items)
    from jaxrec.data import synthetic_interactions

    train = synthetic_interactions(num_users=U, num_items=I, interactions_per_user=20).dataset.train
    users, items = train.users, train.items
    for name in ("sl", "psl_tanh"):
        r = torch_train_throughput(
            users, items, U, I, loss=name, batch_size=1024, num_negatives=256, steps=10, warmup=2
        )
        print(
            f"torch MF {name}: U={U} I={I} B=1024 N=256 d=64 threads={int(r['threads'])} "
            f"step {r['median_step_s'] * 1e3:.1f} ms "
            f"(sampling {r['median_sample_s'] * 1e3:.1f} ms), "
            f"{r['interactions_per_s']:.0f} interactions/s, loss {r['final_loss']:.4f}"
        )
