"""NLL / PPL / GAP / MaxEnt against numpy from the same logits; SQuAD F1/EM known answers;
profiles equal numpy percentiles; feature selection on a known matrix; bad-input errors."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from flax import nnx

from jaxrec.llmservice import features as F
from jaxrec.llmservice import profiles as P
from jaxrec.models import llm

CFG = llm.LLMConfig(
    vocab_size=40, hidden_size=32, intermediate_size=48, num_layers=1, num_heads=4, num_kv_heads=2
)
MASK = np.array([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]], bool)
N = 4
_forward = jax.jit(lambda m, ids: m(ids))


def _log_softmax(x):
    x = x.astype(np.float64) - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


@pytest.mark.parametrize("reduce", ["mean", "sum"])
def test_features_equal_numpy_from_the_same_logits(reduce):
    model = llm.Decoder(CFG, rngs=nnx.Rngs(1))
    ids = np.random.default_rng(1).integers(1, CFG.vocab_size, MASK.shape).astype(np.int32)
    free = llm.greedy_generate(model, ids, MASK, max_new_tokens=N, eos_id=CFG.vocab_size + 1)
    eos = int(free.tokens[1, 2])  # row 1 stops after 3 tokens (or earlier)
    gen = llm.greedy_generate(model, ids, MASK, max_new_tokens=N, eos_id=eos)
    feats = {k: np.asarray(v) for k, v in F.generation_features(gen, reduce).items()}

    full = np.concatenate([ids, np.asarray(free.tokens)], 1)
    for b in range(2):  # each row alone, unpadded: prompt then the generated tokens
        n_prompt = int(MASK[b].sum())
        row_ids = full[b, MASK.shape[1] - n_prompt :]
        lp = _log_softmax(np.asarray(_forward(model, row_ids[None]))[0])
        ll = lp[np.arange(n_prompt - 1), row_ids[1:n_prompt]]  # prompt tokens 2..T
        np.testing.assert_allclose(feats["ppl"][b], np.exp(-ll.mean()), rtol=1e-4)
        gen_lp = lp[n_prompt - 1 : n_prompt - 1 + N]
        tok = row_ids[n_prompt : n_prompt + N]
        hits = np.flatnonzero(tok == eos)
        L = hits[0] + 1 if hits.size else N
        chosen = gen_lp[np.arange(L), tok[:L]]
        want = -chosen.mean() if reduce == "mean" else -chosen.sum()
        np.testing.assert_allclose(feats["nll"][b], want, rtol=1e-4, atol=1e-5)
        p = np.exp(gen_lp[:L])
        top = -np.sort(-p, -1)
        np.testing.assert_allclose(feats["gap"][b], (top[:, 0] - top[:, 1]).mean(), atol=1e-5)
        np.testing.assert_allclose(feats["maxent"][b], (-(p * gen_lp[:L]).sum(-1)).max(), atol=1e-4)


def test_ppl_of_a_long_input_is_finite():
    lp = np.full((1, 5000), -3.0, np.float32)  # the product exp(-15000) underflows
    np.testing.assert_allclose(
        np.asarray(F.input_ppl(lp, np.ones_like(lp, bool))), np.exp(3.0), rtol=1e-5
    )


def test_squad_f1_and_exact_match_known_answers():
    assert F.normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert F.exact_match("the Paris.", ["paris", "London"]) == 1.0
    assert F.exact_match("Paris France", ["paris"]) == 0.0
    # pred {new, york, city}, gold {new, york}: P = 2/3, R = 1 -> F1 = 0.8
    assert F.token_f1("New York City", ["new york", "boston"]) == pytest.approx(0.8)
    assert F.token_f1("", ["a"]) == 1.0  # both normalise to empty
    assert F.token_f1("x", ["y"]) == 0.0
    with pytest.raises(ValueError, match="non-empty list"):
        F.token_f1("x", [])
    with pytest.raises(ValueError, match="non-empty list"):
        F.exact_match("x", "x")


def test_profile_equals_numpy_percentiles():
    rng = np.random.default_rng(0)
    vals = rng.gamma(2.0, size=(3, 37)).astype(np.float32)
    got = P.profile(vals, 100)
    want = np.percentile(vals.astype(np.float64), np.linspace(0, 100, 100), axis=-1).T
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    x = P.profile_inputs({"nll": vals, "ppl": vals * 2, "gap": vals}, ("nll", "ppl"), 10)
    assert x.shape == (3, 20)
    np.testing.assert_allclose(x[:, 10:], 2 * x[:, :10], rtol=1e-6)


def test_profile_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="kilt_nq: 1 examples"):
        P.profile(np.ones((2, 1)), 10, name="kilt_nq")
    with pytest.raises(ValueError, match="non-finite"):
        P.profile(np.array([1.0, np.nan]), 10)
    with pytest.raises(ValueError, match=r"\['maxent'\] not computed"):
        P.profile_inputs({"nll": np.ones((1, 4))}, ("nll", "maxent"))


def test_feature_selection_scores_on_the_published_matrix():
    # [F1, NLL, PPL, GAP, MaxEnt]: the authors' heatmap values (spec §2.3); others 0
    names = ("nll", "ppl", "gap", "maxent")
    c = np.eye(5)
    for (i, j), r in {(0, 1): -0.27, (0, 2): -0.13, (0, 3): 0.22, (0, 4): -0.04,
                      (1, 3): -0.60, (1, 2): 0.19}.items():  # fmt: skip
        c[i, j] = c[j, i] = r
    # difference: {nll, gap} = 0.49 - 0.60 < {nll, ppl} = 0.40 - 0.19 = 0.21 < {ppl, gap} = 0.35
    assert P.select_features(c, names, P.difference_score) == ("ppl", "gap")
    assert P.difference_score(c, (1, 2)) == pytest.approx(0.21)
    # CFS merit of {nll, ppl}: 2 * 0.2 / sqrt(2 + 2 * 0.19)
    assert P.cfs_merit(c, (1, 2)) == pytest.approx(0.4 / np.sqrt(2.38))
    f1 = np.array([[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0]])
    feats = {"nll": -f1, "ppl": np.array([[1.0, 2.0, 3.0, 4.0]] * 2)}
    corr = P.task_correlations(f1, feats, np.array([0, 0]), ("nll", "ppl"))
    assert corr[0, 1] == pytest.approx(-1.0)
