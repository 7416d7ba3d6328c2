"""A planted node-classification graph: stochastic block model + noisy class-informative features.

Nodes are split evenly over C classes (blocks). An edge joins two nodes of the same class with
probability ``p_in`` and of different classes with ``p_out`` (undirected, no self-loops). Features
either (``binary=False``) ``x_i = mu_{y_i} + noise * eps_i`` with class means ``mu_c ~ N(0, I_d)``
and ``eps_i ~ N(0, I_d)``, or (``binary=True``, bag-of-words like Planetoid) Bernoulli with a
per-class word probability ``q_c[f]`` that is ``q_hi`` on a block of d/C "topic words" of class c
and ``q_lo`` elsewhere. The split is Planetoid-like: ``train_per_class`` labelled nodes per class,
then ``num_val`` validation and ``num_test`` test nodes drawn from the rest.

Both the graph (homophily p_in / p_out) and the features carry the label, and neither alone is
perfect, so a GCN beats a feature-only model and a graph learner has something to learn.
"""

from __future__ import annotations

import numpy as np

from jaxrec.data.node_graph import NodeGraph, undirected_adjacency

__all__ = ["synthetic_sbm_graph"]


def synthetic_sbm_graph(
    num_nodes: int = 300,
    num_classes: int = 3,
    num_features: int = 32,
    *,
    p_in: float = 0.05,
    p_out: float = 0.01,
    feature_noise: float = 2.0,
    binary: bool = False,
    q_hi: float = 0.2,
    q_lo: float = 0.05,
    train_per_class: int = 10,
    num_val: int = 60,
    num_test: int = 120,
    seed: int = 0,
) -> NodeGraph:
    """A :class:`NodeGraph` named ``"sbm"`` with the planted structure described above."""
    if num_classes < 2 or num_nodes < num_classes:
        raise ValueError(f"need num_classes >= 2 and num_nodes >= num_classes, got {num_nodes=}")
    if not (0.0 <= p_out <= 1.0 and 0.0 <= p_in <= 1.0):
        raise ValueError(f"p_in and p_out must be probabilities, got {p_in=}, {p_out=}")
    if train_per_class * num_classes + num_val + num_test > num_nodes:
        raise ValueError(
            f"split sizes {train_per_class}*{num_classes}+{num_val}+{num_test} exceed {num_nodes=}"
        )
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_nodes) % num_classes).astype(np.int32)

    same = labels[:, None] == labels[None, :]
    prob = np.where(same, p_in, p_out)
    upper = np.triu(rng.random((num_nodes, num_nodes)) < prob, k=1)
    rows, cols = np.nonzero(upper)
    adjacency = undirected_adjacency(rows, cols, num_nodes)

    if binary:
        topic = (np.arange(num_features) * num_classes // num_features)[None, :]
        q = np.where(topic == np.arange(num_classes)[:, None], q_hi, q_lo)
        features = (rng.random((num_nodes, num_features)) < q[labels]).astype(np.float32)
    else:
        means = rng.normal(size=(num_classes, num_features))
        noise = rng.normal(size=(num_nodes, num_features))
        features = (means[labels] + feature_noise * noise).astype(np.float32)

    train = np.concatenate(
        [np.flatnonzero(labels == c)[:train_per_class] for c in range(num_classes)]
    )
    rest = rng.permutation(np.setdiff1d(np.arange(num_nodes), train))
    val, test = rest[:num_val], rest[num_val : num_val + num_test]

    def mask(index: np.ndarray) -> np.ndarray:
        m = np.zeros(num_nodes, bool)
        m[index] = True
        return m

    return NodeGraph(
        name="sbm",
        features=features,
        labels=labels,
        adjacency=adjacency,
        train_mask=mask(train),
        val_mask=mask(val),
        test_mask=mask(test),
        num_classes=num_classes,
    )
