"""Meta-models and baselines: k-NN == brute-force numpy, ATC known answer, Sample_n, task folds
that cannot leak, the MLP step 1-device == 8-device, tuned search over task folds."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxrec import train
from jaxrec.llmservice import baselines, cv, meta
from jaxrec.llmservice.meta_jax import KNNRegressor, MLPConfig, MLPRegressor


def _brute_knn(xt, yt, xq, k, weights):
    out = []
    for q in xq:
        d = np.sqrt(((xt - q) ** 2).sum(1))
        nn = np.argsort(d, kind="stable")[:k]
        if weights == "uniform":
            out.append(yt[nn].mean())
        elif np.any(d[nn] <= 1e-9):
            out.append(yt[nn][d[nn] <= 1e-9].mean())
        else:
            w = 1 / d[nn]
            out.append((w * yt[nn]).sum() / w.sum())
    return np.array(out)


@pytest.mark.parametrize("weights", ["uniform", "distance"])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_knn_equals_brute_force_numpy(k, weights):
    rng = np.random.default_rng(k)
    xt, yt = rng.normal(size=(40, 6)) * [1, 10, 100, 1, 1, 1], rng.uniform(0, 100, 40)
    xq = np.concatenate([rng.normal(size=(9, 6)) * [1, 10, 100, 1, 1, 1], xt[:2]])  # 2 exact hits
    got = KNNRegressor(k, weights).fit(xt, yt).predict(xq)
    z = (xt - xt.mean(0)) / xt.std(0)
    zq = (xq - xt.mean(0)) / xt.std(0)
    np.testing.assert_allclose(got, _brute_knn(z, yt, zq, k, weights), rtol=1e-4, atol=1e-3)
    raw = KNNRegressor(k, weights, standardize=False).fit(xt, yt).predict(xq)
    np.testing.assert_allclose(raw, _brute_knn(xt, yt, xq, k, weights), rtol=1e-4, atol=1e-3)


def test_atc_known_answer():
    # two tasks, scores 0..99 (each example once per setting); task F1 40 and 60
    scores = np.tile(np.arange(100.0), (4, 1))
    y = np.array([40.0, 40.0, 60.0, 60.0])
    atc = baselines.ATC().fit(scores, y, np.array([0, 0, 1, 1]))
    # thresholds: the 0.6 and 0.4 quantiles of 0..99 = 59.4 and 39.6 -> mean 49.5
    assert atc.threshold_ == pytest.approx(49.5)
    np.testing.assert_allclose(
        atc.predict(np.array([np.arange(100.0), np.arange(100.0) + 20])), [50, 70]
    )
    with pytest.raises(ValueError, match=r"\[S, n\]"):
        baselines.ATC().fit(np.ones(4), y, np.zeros(4))


def test_sample_n_and_avg_train():
    f1 = np.random.default_rng(0).uniform(0, 100, (5, 64))
    np.testing.assert_allclose(baselines.sample_n(f1, 64), f1.mean(1), rtol=1e-5)
    s8 = baselines.sample_n(f1, 8, seed=1)
    # each estimate is the mean of 8 distinct examples of its own row: within the row's range
    assert ((s8 >= f1.min(1)) & (s8 <= f1.max(1))).all() and not np.allclose(s8, f1.mean(1))
    with pytest.raises(ValueError, match="Sample_65"):
        baselines.sample_n(f1, 65)
    assert (
        baselines.AvgTrain().fit(None, np.array([10.0, 30.0])).predict(np.zeros((3, 2))).tolist()
        == [20.0] * 3
    )


def test_task_folds_never_share_a_task_and_a_leak_cannot_be_built():
    tasks = np.repeat(np.array(["a", "b", "c", "d", "e", "f", "g"]), 6)
    folds = cv.task_folds(tasks, 5, seed=3)
    covered = np.concatenate([f.test for f in folds])
    assert sorted(covered.tolist()) == list(range(tasks.size))  # a partition of the rows
    for f in folds:
        assert not set(tasks[f.train]) & set(tasks[f.test])
        assert set(tasks[f.train]) | set(tasks[f.test]) == set(tasks)
    with pytest.raises(ValueError, match=r"leaking split: tasks \['a'\]"):
        cv.Fold(np.array([0, 1]), np.array([2, 6]), tasks)  # a setting-level split of task a
    with pytest.raises(ValueError, match="between 2 and 7"):
        cv.task_folds(tasks, 8)


def test_tuned_search_scores_on_task_folds():
    rng = np.random.default_rng(0)
    tasks = np.repeat(np.arange(6), 10)
    x = rng.normal(size=(60, 4))
    y = 50 + 10 * x[:, 0]
    search = meta.tuned("knn", n_iter=4, cv=3).fit(x, y, tasks)
    assert set(search.best_params_) == {"n_neighbors", "weights"}
    assert search.best_score_ < np.mean(np.abs(y - y.mean()))
    rf = meta.tuned("rf", n_iter=2, cv=3).fit(x, y, tasks)
    assert rf.best_params_["min_samples_split"] >= 2 and rf.predict(x).shape == (60,)


def test_mlp_step_one_device_equals_eight_devices():
    devices = jax.devices()
    assert len(devices) >= 8
    reg = MLPRegressor(MLPConfig(hidden=16, layers=2, dropout=0.2))
    rng = np.random.default_rng(0)
    batch = {
        "x": rng.normal(size=(16, 10)).astype(np.float32),
        "y01": rng.uniform(size=16).astype(np.float32),
        "w": np.ones(16, np.float32),
    }
    outs = []
    for n in (1, 8):
        mesh = train.make_mesh(train.MeshConfig(data=n), devices[:n])
        with train.mesh_context(mesh, train.DEFAULT_RULES):
            _, state, step = reg.build(10)
            state = jax.device_put(state, train.replicated(mesh))
            b = {k: jax.device_put(v, train.batch_sharding(mesh, v.ndim)) for k, v in batch.items()}
            compiled = train.compile_train_step(step, mesh, state, b, None)
            for _ in range(2):
                state, metrics = compiled(state, b, jax.random.key(1), None)
            outs.append((jax.device_get(state.params), float(metrics["loss"])))
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-5)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), outs[0][0], outs[1][0]
    )


def test_mlp_fits_a_smooth_target_and_stops_early():
    rng = np.random.default_rng(0)
    tasks = np.repeat(np.arange(8), 25)
    x = rng.normal(size=(200, 5)).astype(np.float32)
    clean = 100 / (1 + np.exp(-x[:, 0] - 0.5 * x[:, 1]))
    y = np.clip(clean + rng.normal(0, 8, 200), 0, 100)  # noisy labels: it overfits, then stops
    cfg = MLPConfig(hidden=64, layers=2, dropout=0.0, lr=1e-2, max_epochs=300)
    reg = MLPRegressor(cfg).fit(x, y, tasks)
    assert reg.epochs_ < 300  # early stopping on the validation L1 ended it
    mae = np.mean(np.abs(reg.predict(x) - clean))
    assert mae < 0.3 * np.mean(np.abs(clean - clean.mean())), mae
