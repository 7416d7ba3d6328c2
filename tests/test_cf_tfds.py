"""The pod input path end to end: a TFDS ArrayRecord dataset trains through grain, and a run
killed mid-epoch resumes (grain iterator state included) to the uninterrupted parameters."""

from __future__ import annotations

import chex
import jax
import numpy as np
import pytest

tfds = pytest.importorskip(
    "tensorflow_datasets", reason="optional extra: pip install 'jaxrec[tfds]'"
)
pytest.importorskip("grain", reason="optional extra: pip install 'jaxrec[tfds]'")

from jaxrec import config as config_lib  # noqa: E402
from jaxrec import train  # noqa: E402
from jaxrec.cf import default_config, experiment  # noqa: E402
from jaxrec.train import run as train_run  # noqa: E402

RNG = np.random.default_rng(0)
TRAIN = np.stack([RNG.integers(0, 40, 300), RNG.integers(0, 60, 300)], 1)
TEST = np.stack([np.arange(40), RNG.integers(0, 60, 40)], 1)


class JaxrecCfToy(tfds.core.GeneratorBasedBuilder):
    """(user, item) train/test splits from in-memory arrays; no downloads."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        features = tfds.features.FeaturesDict({"user": np.int32, "item": np.int32})
        return tfds.core.DatasetInfo(builder=self, features=features)

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(TRAIN), "test": self._generate_examples(TEST)}

    def _generate_examples(self, pairs):
        for key, (user, item) in enumerate(pairs.tolist()):
            yield key, {"user": user, "item": item}


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    JaxrecCfToy(data_dir=data_dir, file_format="array_record").download_and_prepare()
    return config_lib.override(
        default_config(),
        [
            "data.source=tfds",
            "data.tfds_name=jaxrec_cf_toy",
            f"data.path={data_dir}",
            "data.valid_fraction=0",
            "batch_size=32",
            "model.dim=8",
            "loss.num_negatives=8",
            "loop.epochs=3",
            "loop.progress=false",
            "loop.checkpoint_every_steps=4",
            "mesh.data=2",
            "mesh.fsdp=4",
        ],
    )


def test_tfds_run_resumes_to_uninterrupted_parameters(cfg, tmp_path, monkeypatch):
    reference = experiment.run(cfg, tmp_path / "ref")
    assert reference["final_step"] == 3 * (300 // 32)

    class Killed(Exception):
        pass

    real_fit = train_run.fit

    def killed_fit(**kwargs):
        def kill(state):
            if int(state.step) == 13:  # mid-epoch 2, after the step-12 checkpoint
                raise Killed

        return real_fit(**kwargs, callbacks=[kill])

    monkeypatch.setattr(train_run, "fit", killed_fit)
    with pytest.raises(Killed):
        experiment.run(cfg, tmp_path / "run")
    monkeypatch.setattr(train_run, "fit", real_fit)
    resumed = experiment.run(cfg, tmp_path / "run")
    assert resumed["test"] == reference["test"]
    a = experiment.build(cfg)  # restore both final checkpoints into the same layout
    with (
        train.Checkpointer(tmp_path / "ref", metric="ndcg@20") as c1,
        train.Checkpointer(tmp_path / "run", metric="ndcg@20") as c2,
    ):
        rng = jax.random.key_data(jax.random.key(0))
        p1 = c1.restore_latest(a.state, rng).state.params
        p2 = c2.restore_latest(a.state, rng).state.params
    chex.assert_trees_all_equal(jax.device_get(p1), jax.device_get(p2))
