"""TFDS ArrayRecord -> grain input path: contract, epochs, resume, process shards."""

import sys

import numpy as np
import pytest

tfds = pytest.importorskip(
    "tensorflow_datasets", reason="optional extra: pip install 'jaxrec[tfds]'"
)
pytest.importorskip("grain", reason="optional extra: pip install 'jaxrec[tfds]'")

from jaxrec.data import interaction_dataset, tfds_interaction_dataset  # noqa: E402

NUM = 120
USERS = np.arange(NUM) % 13
ITEMS = np.arange(NUM)  # item id identifies the record


class JaxrecToyInteractions(tfds.core.GeneratorBasedBuilder):
    """(user, item) records built from the in-memory arrays above; no downloads."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        features = tfds.features.FeaturesDict({"user": np.int32, "item": np.int32})
        return tfds.core.DatasetInfo(builder=self, features=features)

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for key, (user, item) in enumerate(zip(USERS.tolist(), ITEMS.tolist(), strict=True)):
            yield key, {"user": user, "item": item}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tfds")
    JaxrecToyInteractions(data_dir=path, file_format="array_record").download_and_prepare()
    return path


def _dataset(data_dir, batch_size=16, **kwargs):
    return tfds_interaction_dataset(
        "jaxrec_toy_interactions",
        data_dir=data_dir,
        split="train",
        batch_size=batch_size,
        seed=0,
        **kwargs,
    )


def test_epochs_follow_the_batch_contract(data_dir):
    batches = list(_dataset(data_dir, num_epochs=2, process_index=0, process_count=1))
    assert len(batches) == 2 * (NUM // 16)
    for batch in batches:
        assert set(batch) == {"users", "items", "mask"}
        assert batch["users"].shape == batch["items"].shape == batch["mask"].shape == (16,)
        assert batch["users"].dtype == batch["items"].dtype == np.int32
        assert batch["mask"].dtype == bool and batch["mask"].all()
        np.testing.assert_array_equal(batch["users"], batch["items"] % 13)
    epochs = [np.concatenate([b["items"] for b in batches[e * 7 : (e + 1) * 7]]) for e in range(2)]
    assert all(np.unique(items).size == 112 for items in epochs)
    assert not np.array_equal(epochs[0], epochs[1])


def test_resume_from_state_yields_the_same_batches(data_dir):
    dataset = _dataset(data_dir, num_epochs=2, process_index=0, process_count=1)
    iterator = iter(dataset)
    for _ in range(9):  # into the second epoch
        next(iterator)
    state = iterator.get_state()
    rest = list(iterator)
    resumed = iter(dataset)
    resumed.set_state(state)
    again = list(resumed)
    assert len(again) == len(rest) == 5
    for got, want in zip(again, rest, strict=True):
        np.testing.assert_array_equal(got["items"], want["items"])


def test_process_shards_are_disjoint_and_equal_sized(data_dir):
    shards = [
        list(_dataset(data_dir, batch_size=18, process_index=p, process_count=3)) for p in range(3)
    ]
    # 40 records per process, local batches of 6: 6 steps each, 4 records per shard dropped.
    assert [len(batches) for batches in shards] == [6, 6, 6]
    assert all(b["items"].shape == (6,) for batches in shards for b in batches)
    everything = np.concatenate([b["items"] for batches in shards for b in batches])
    assert np.unique(everything).size == everything.size == 108
    with pytest.raises(ValueError, match="multiple of process_count 3"):
        interaction_dataset(list(range(10)), 16, 0, process_index=0, process_count=3)


def test_missing_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "grain", None)
    with pytest.raises(ImportError, match=r"pip install 'jaxrec\[tfds\]'"):
        interaction_dataset([], 4, 0)
