"""A simulated world of LLM-service settings with known F1 (spec §7, layer 1).

Tasks ``T`` x services ``S`` x contexts ``C``; every task has ``n`` fixed questions with
difficulty ``d_i ~ N(mu_T, 1)``, ``mu_T ~ N(0, sigma_task)``. For setting (S, T, C) and example i:

- skill ``s_S ~ N(0, sigma_skill)``, task affinity ``a_{S,T} ~ N(0, sigma_affinity)``, context
  effect ``c_{S,T,C} ~ N(0, sigma_context)``;
- ``p_i = sigmoid(s_S + a_{S,T} + c_{S,T,C} - d_i)``, correct ``~ Bernoulli(p_i)``; F1 = 100 if
  correct, else partial credit ``100 * U(0, partial)`` with probability 1/2, else 0;
- answer confidence logit ``z_i = k_S logit(p_i) + b_S + gamma (2 correct - 1) + N(0, sigma_z)``
  with per-service miscalibration (temperature ``k_S ~ U(0.5, 1.5)``, bias ``b_S ~ N(0, 1)``);
  ``NLL = L_S * softplus(-z_i)`` (``L_S`` answer-length scale of the service, U(0.7, 1.3)),
  ``GAP = sigmoid(z_i + N(0, 0.5))``, ``MaxEnt = softplus(-z_i + N(0, 1))``;
- input ``log PPL = o_S + kappa d_i + N(0, sigma_ppl)`` (``o_S ~ U(1, 3)``: the tokenizer/service
  offset), so the PPL profile reveals both the task's difficulty and the service.

The setting's true performance is the mean F1 over its ``n`` examples.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["SimConfig", "World", "simulate"]


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """Sizes (the paper: 13 tasks, 5 services, 50 contexts) and the planted effects."""

    num_tasks: int = 13
    num_services: int = 5
    num_contexts: int = 50
    num_examples: int = 400
    sigma_task: float = 1.2
    sigma_skill: float = 0.7
    sigma_affinity: float = 0.5
    sigma_context: float = 0.35
    partial: float = 0.6
    gamma: float = 0.8
    sigma_z: float = 1.0
    kappa: float = 0.5
    sigma_ppl: float = 0.3


@dataclasses.dataclass(frozen=True)
class World:
    """Settings flattened to rows ``[R = S * T * C]``; per-example arrays are ``[R, n]``.

    Attributes:
      features: ``{"nll", "ppl", "gap", "maxent"} -> [R, n]`` float32.
      f1: ``[R, n]`` per-example F1 in points.
      task, service, context: ``[R]`` int ids (``task_names`` / ``service_names`` label them).
    """

    features: dict[str, np.ndarray]
    f1: np.ndarray
    task: np.ndarray
    service: np.ndarray
    context: np.ndarray
    task_names: tuple[str, ...]
    service_names: tuple[str, ...]

    @property
    def perf(self) -> np.ndarray:
        """``[R]`` the true F1 of each setting (mean over its examples)."""
        return self.f1.mean(1)

    def subset_examples(self, n: int) -> World:
        """The first ``n`` examples of every setting (the sample-size study)."""
        if not 1 <= n <= self.f1.shape[1]:
            raise ValueError(f"subset of {n} examples from settings of {self.f1.shape[1]}")
        return dataclasses.replace(
            self, features={k: v[:, :n] for k, v in self.features.items()}, f1=self.f1[:, :n]
        )


@jax.jit
def _examples(key, logit_p, d, k, b, length, offset, cfg_arr):
    partial, gamma, sigma_z, kappa, sigma_ppl = cfg_arr
    ks = jax.random.split(key, 7)
    p = jax.nn.sigmoid(logit_p)
    correct = jax.random.bernoulli(ks[0], p)
    credit = jnp.where(
        jax.random.bernoulli(ks[1], 0.5, p.shape), jax.random.uniform(ks[2], p.shape) * partial, 0.0
    )
    f1 = 100.0 * jnp.where(correct, 1.0, credit)
    z = (
        k * logit_p
        + b
        + gamma * (2.0 * correct - 1.0)
        + sigma_z * jax.random.normal(ks[3], p.shape)
    )
    feats = {
        "nll": length * jax.nn.softplus(-z),
        "ppl": jnp.exp(offset + kappa * d + sigma_ppl * jax.random.normal(ks[4], p.shape)),
        "gap": jax.nn.sigmoid(z + 0.5 * jax.random.normal(ks[5], p.shape)),
        "maxent": jax.nn.softplus(-z + jax.random.normal(ks[6], p.shape)),
    }
    return f1, feats


def simulate(cfg: SimConfig = SimConfig(), seed: int = 0) -> World:
    """Draws a :class:`World` (one vectorised draw of every setting and example)."""
    nt, ns, nc, n = cfg.num_tasks, cfg.num_services, cfg.num_contexts, cfg.num_examples
    rng = np.random.default_rng(seed)
    mu = rng.normal(0, cfg.sigma_task, nt)
    d = mu[:, None] + rng.normal(size=(nt, n))  # [T, n]
    skill = rng.normal(0, cfg.sigma_skill, ns)
    affinity = rng.normal(0, cfg.sigma_affinity, (ns, nt))
    context = rng.normal(0, cfg.sigma_context, (ns, nt, nc))
    temp, bias = rng.uniform(0.5, 1.5, ns), rng.normal(0, 1, ns)
    length, offset = rng.uniform(0.7, 1.3, ns), rng.uniform(1.0, 3.0, ns)
    s, t, c = (
        a.ravel() for a in np.meshgrid(np.arange(ns), np.arange(nt), np.arange(nc), indexing="ij")
    )
    logit_p = (skill[s] + affinity[s, t] + context[s, t, c])[:, None] - d[t]  # [R, n]
    col = lambda a: jnp.asarray(a[s][:, None], jnp.float32)  # noqa: E731
    f1, feats = _examples(
        jax.random.key(seed), jnp.asarray(logit_p, jnp.float32), jnp.asarray(d[t], jnp.float32),
        col(temp), col(bias), col(length), col(offset),
        jnp.asarray([cfg.partial, cfg.gamma, cfg.sigma_z, cfg.kappa, cfg.sigma_ppl], jnp.float32),
    )  # fmt: skip
    return World(
        features={k: np.asarray(v) for k, v in feats.items()},
        f1=np.asarray(f1),
        task=t,
        service=s,
        context=c,
        task_names=tuple(f"task{i:02d}" for i in range(nt)),
        service_names=tuple(f"service{i}" for i in range(ns)),
    )
