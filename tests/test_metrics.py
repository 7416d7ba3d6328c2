"""Tests for jaxrec.metrics against slow, obviously-correct numpy references."""

import doctest

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.metrics import (
    CSR,
    _classification,
    _full_ranking,
    _ranking,
    auc,
    evaluate_full_ranking,
    log_loss,
    masked_top_k,
    ranking_metrics,
)

NAMES = ("recall", "ndcg", "precision", "hit_rate", "mrr")


# --------------------------------------------------------------------------- references
def np_user_metrics(ranked, test_set, k):
    """One user's metrics at k from a ranked list (best first) and a set of test items."""
    if not test_set:
        return dict.fromkeys(NAMES, 0.0)
    hits = [item in test_set for item in ranked[:k]]
    dcg = sum(1.0 / np.log2(rank + 1) for rank, h in enumerate(hits, start=1) if h)
    idcg = sum(1.0 / np.log2(rank + 1) for rank in range(1, min(k, len(test_set)) + 1))
    first = next((rank for rank, h in enumerate(hits, start=1) if h), None)
    return {
        "recall": sum(hits) / len(test_set),
        "ndcg": dcg / idcg,
        "precision": sum(hits) / k,
        "hit_rate": float(any(hits)),
        "mrr": 0.0 if first is None else 1.0 / first,
    }


def evaluate_full_ranking_per_user_loop(score_fn, user_ids, exclude, test, num_items, ks):
    """Slow reference: one user at a time, numpy argsort over all items."""
    totals, count = {f"{m}@{k}": 0.0 for k in ks for m in NAMES}, 0
    for u in user_ids:
        scores = np.array(score_fn(jnp.array([u], jnp.int32))[0], np.float64)
        scores[exclude.indices[exclude.indptr[u] : exclude.indptr[u + 1]]] = -np.inf
        ranked = list(np.argsort(-scores, kind="stable"))
        test_set = set(test.indices[test.indptr[u] : test.indptr[u + 1]].tolist())
        if not test_set:
            continue
        count += 1
        for k in ks:
            for name, value in np_user_metrics(ranked, test_set, k).items():
                totals[f"{name}@{k}"] += value
    return {name: total / count for name, total in totals.items()}


def random_lists(rng, num_users, num_items, max_len, empty_every=0):
    """Random per-user item sets as a list of arrays (some users empty)."""
    lists = []
    for u in range(num_users):
        n = 0 if empty_every and u % empty_every == 0 else rng.integers(1, max_len + 1)
        lists.append(rng.choice(num_items, size=n, replace=False))
    return lists


def to_csr(lists):
    indptr = np.concatenate([[0], np.cumsum([len(x) for x in lists])]).astype(np.int64)
    indices = np.concatenate(lists).astype(np.int32) if lists else np.zeros(0, np.int32)
    return CSR(indptr, indices)


def pad(lists, width):
    out = np.full((len(lists), width), -1, np.int32)
    for i, x in enumerate(lists):
        out[i, : len(x)] = x
    return out


# --------------------------------------------------------------------------- ranking_metrics
def test_ranking_metrics_match_reference():
    rng = np.random.default_rng(0)
    num_users, num_items, k_max, ks = 40, 30, 10, (1, 3, 10)
    test_lists = random_lists(rng, num_users, num_items, 15, empty_every=7)
    test_lists[1] = test_lists[1][:2]  # fewer test items than k
    top = np.stack([rng.permutation(num_items)[:k_max] for _ in range(num_users)])
    top[2, :3] = test_lists[2][:3]  # guaranteed early hits
    num_test = np.array([len(x) for x in test_lists], np.int32)
    out = jax.jit(ranking_metrics, static_argnames="ks")(top, pad(test_lists, 15), num_test, ks=ks)
    np.testing.assert_array_equal(out["has_test"], num_test > 0)
    for u in range(num_users):
        for k in ks:
            ref = np_user_metrics(list(top[u]), set(test_lists[u].tolist()), k)
            for name, value in ref.items():
                np.testing.assert_allclose(
                    out[f"{name}@{k}"][u],
                    value,
                    rtol=1e-6,
                    atol=1e-7,
                    err_msg=f"{name}@{k} user {u}",
                )


def test_ranking_metrics_hand_computed():
    top = np.array([[7, 3, 9, 1]])
    test = np.array([[3, 1, 5, -1]])
    out = ranking_metrics(top, test, np.array([3]), ks=(2, 4))
    np.testing.assert_allclose(out["recall@4"], [2 / 3])
    np.testing.assert_allclose(out["precision@2"], [1 / 2])
    idcg3 = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    np.testing.assert_allclose(out["ndcg@4"], [(1 / np.log2(3) + 1 / np.log2(5)) / idcg3])
    np.testing.assert_allclose(out["ndcg@2"], [(1 / np.log2(3)) / (1 + 1 / np.log2(3))])
    np.testing.assert_allclose(out["mrr@4"], [0.5])
    np.testing.assert_allclose(out["hit_rate@2"], [1.0])


def test_ranking_metrics_validation():
    with pytest.raises(ValueError, match="K_max"):
        ranking_metrics(np.zeros((2, 3), int), np.zeros((2, 1), int), np.ones(2, int), ks=(4,))
    with pytest.raises(ValueError, match="num_test"):
        ranking_metrics(np.zeros((2, 3), int), np.zeros((2, 1), int), np.ones(3, int))


# --------------------------------------------------------------------------- masked_top_k
def test_masked_top_k_matches_numpy_and_ignores_padding():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(6, 20)).astype(np.float32)
    scores[:, -1] = 10.0  # the last item is everyone's best: -1 padding must not mask it
    exclude = pad(random_lists(rng, 6, 19, 5, empty_every=3), 5)
    top = jax.jit(masked_top_k, static_argnames="k")(scores, exclude, k=7)
    chex.assert_shape(top, (6, 7))
    for b in range(6):
        s = scores[b].astype(np.float64)
        s[exclude[b][exclude[b] >= 0]] = -np.inf
        np.testing.assert_array_equal(top[b], np.argsort(-s, kind="stable")[:7])
        assert top[b, 0] == 19


def test_masked_top_k_ranks_non_finite_scores_lowest_and_returns_them_as_minus_one():
    scores = np.array([[np.nan, 0.5, np.inf, -1.0, -np.inf], [np.nan] * 5], np.float32)
    exclude = np.array([[3], [-1]])
    top = np.asarray(masked_top_k(scores, exclude, k=3))
    # row 0: only item 1 is finite and not excluded; NaN (0), +inf (2), -inf (4), excluded (3)
    np.testing.assert_array_equal(top, [[1, -1, -1], [-1, -1, -1]])


# --------------------------------------------------------------------------- full ranking
@pytest.fixture(scope="module")
def cf_problem():
    rng = np.random.default_rng(2)
    num_users, num_items, dim = 37, 53, 8
    users = jnp.asarray(rng.normal(size=(num_users, dim)), jnp.float32)
    items = jnp.asarray(rng.normal(size=(num_items, dim)), jnp.float32)
    score_fn = jax.jit(lambda u: users[u] @ items.T)
    exclude = to_csr(random_lists(rng, num_users, num_items, 12))
    test_lists = []
    for u in range(num_users):  # test items disjoint from the user's training items
        pool = np.setdiff1d(
            np.arange(num_items), exclude.indices[exclude.indptr[u] : exclude.indptr[u + 1]]
        )
        n = 0 if u % 9 == 4 else rng.integers(1, 8)
        test_lists.append(rng.choice(pool, size=n, replace=False))
    return score_fn, exclude, to_csr(test_lists), num_items


@pytest.mark.parametrize("batch_size", [1, 8, 37, 64])
def test_evaluate_full_ranking_matches_per_user_loop(cf_problem, batch_size):
    score_fn, exclude, test, num_items = cf_problem
    user_ids = np.random.default_rng(batch_size).permutation(37)[:30]
    ks = (1, 5, 20)
    chex.clear_trace_counter()
    traced_once = jax.jit(chex.assert_max_traces(lambda u: score_fn(u), n=1))  # static shapes
    got = evaluate_full_ranking(
        traced_once, user_ids, exclude, test, num_items, ks=ks, batch_size=batch_size
    )
    ref = evaluate_full_ranking_per_user_loop(score_fn, user_ids, exclude, test, num_items, ks)
    assert got.keys() == ref.keys()
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-5, err_msg=name)


def test_evaluate_full_ranking_accepts_plain_arrays_and_validates(cf_problem):
    score_fn, exclude, test, num_items = cf_problem
    users = np.arange(37)
    got = evaluate_full_ranking(
        score_fn, users, tuple(exclude), tuple(test), num_items, batch_size=8
    )
    ref = evaluate_full_ranking(score_fn, users, exclude, test, num_items, batch_size=8)
    assert got == ref
    with pytest.raises(ValueError, match="num_items"):
        evaluate_full_ranking(score_fn, users, exclude, test, num_items, ks=(54,), batch_size=8)
    with pytest.raises(ValueError, match="score_fn must return"):
        evaluate_full_ranking(
            lambda u: score_fn(u)[:, :-1], users, exclude, test, num_items, batch_size=8
        )
    with pytest.raises(ValueError, match="CSR"):
        evaluate_full_ranking(
            score_fn, users, exclude, CSR(test.indptr[:5], test.indices), num_items, batch_size=8
        )


def test_non_finite_scores_are_never_hits(cf_problem):
    score_fn, exclude, test, num_items = cf_problem
    users = np.arange(37)
    nan_scores = evaluate_full_ranking(
        lambda u: jnp.full((u.shape[0], num_items), jnp.nan), users, exclude, test, num_items,
        ks=(1, 5), batch_size=8,
    )  # fmt: skip
    assert nan_scores and all(v == 0.0 for v in nan_scores.values()), nan_scores
    # NaN or +inf at every test item: those items drop below all finite ones (rank > k), so
    # the metrics equal those of scores where the test items are -inf (here: 0).
    test_mask = np.zeros((37, num_items), bool)
    for u in users:
        test_mask[u, test.indices[test.indptr[u] : test.indptr[u + 1]]] = True
    for bad in (np.nan, np.inf):
        poisoned = jnp.where(jnp.asarray(test_mask), bad, 0.0)
        got = evaluate_full_ranking(
            lambda u, s=poisoned: s[u] + 0.01 * score_fn(u), users, exclude, test, num_items,
            ks=(1, 20), batch_size=8,
        )  # fmt: skip
        assert all(v == 0.0 for v in got.values()), (bad, got)


# --------------------------------------------------------------------------- classification
def brute_force_auc(labels, scores):
    pos = scores[labels != 0]
    neg = scores[labels == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_auc_matches_pair_counting_with_ties_and_masks():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, size=(3, 4, 25))
    scores = rng.integers(0, 6, size=(3, 4, 25)).astype(np.float32)  # many ties
    where = rng.random((3, 4, 25)) < 0.8
    where[0, 0] = True
    got = jax.jit(auc)(labels, scores, where=where)
    chex.assert_shape(got, (3, 4))
    for idx in np.ndindex(3, 4):
        w = where[idx]
        np.testing.assert_allclose(
            got[idx], brute_force_auc(labels[idx][w], scores[idx][w]), rtol=1e-6
        )
    flat = jax.jit(auc)(labels[0, 0], scores[0, 0])
    np.testing.assert_allclose(flat, brute_force_auc(labels[0, 0], scores[0, 0]), rtol=1e-6)


def test_auc_edge_cases():
    np.testing.assert_allclose(auc(np.array([1, 1, 0, 0]), np.array([4.0, 3.0, 2.0, 1.0])), 1.0)
    np.testing.assert_allclose(auc(np.array([0, 0, 1, 1]), np.array([4.0, 3.0, 2.0, 1.0])), 0.0)
    # non-finite scores lose every pair they are in: never a better AUC than finite ones
    np.testing.assert_allclose(auc(np.array([1, 0]), np.array([np.inf, np.inf])), 0.0)
    np.testing.assert_allclose(auc(np.array([1, 0, 1, 0]), np.full(4, np.nan)), 0.0)
    # one NaN positive loses to both negatives, one NaN negative beats both positives
    labels = np.array([1, 1, 0, 0])
    np.testing.assert_allclose(auc(labels, np.array([np.nan, 3.0, 1.0, 2.0])), 0.5)
    np.testing.assert_allclose(auc(labels, np.array([4.0, 3.0, np.nan, 2.0])), 0.5)
    np.testing.assert_allclose(auc(labels, np.array([4.0, -np.inf, 1.0, 2.0])), 0.5)
    assert np.isnan(auc(np.array([1, 1]), np.array([0.3, 0.1])))


def test_log_loss_matches_numpy():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, size=(5, 7)).astype(np.float32)
    logits = rng.normal(scale=3.0, size=(5, 7)).astype(np.float32)
    where = rng.random((5, 7)) < 0.7
    p = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    bce = -(labels * np.log(p) + (1 - labels) * np.log1p(-p))
    np.testing.assert_allclose(jax.jit(log_loss)(labels, logits), bce.mean(), rtol=1e-5)
    np.testing.assert_allclose(
        jax.jit(log_loss)(labels, logits, where=where), bce[where].mean(), rtol=1e-5
    )
    extreme = jax.jit(log_loss)(np.array([1.0, 0.0]), np.array([-1e4, 1e4], np.float32))
    np.testing.assert_allclose(extreme, 1e4, rtol=1e-6)
    with pytest.raises(ValueError, match="floating"):
        log_loss(labels, labels.astype(np.int32))


@pytest.mark.parametrize("module", [_ranking, _full_ranking, _classification])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
