"""jaxrec's CTR zoo beside FuxiCTR 2.3.10 (PyTorch, CPU) on the same encoded Gift Cards data:
test AUC and training / inference samples per second at batch 4096.

Both sides read the shared h5 matrices (train = ``valid.h5`` minus its last 10%, test =
``test.h5``); FuxiCTR gets them as npz columns with a FuxiCTR-2 ``feature_map.json`` written to
a temporary folder. Same model hyperparameters (``configs/ctr/<model>.py``), embedding 32, Adam
lr 1e-3, gradient clipping 10, batch 4096, no regulariser. Test AUC: the full protocol on both
sides (early stopping on the held-out valid AUC, patience 2, LR x0.1 on plateau, best weights
restored), and after ``--epochs`` fixed epochs. Throughput from those fixed epochs: epochs 2..E
(jaxrec's first epoch compiles); inference over the test split after one warm-up pass. Each side runs in its own process: FuxiCTR in a venv with torch
(``python3 -m venv VENV --system-site-packages; VENV/bin/pip install torch==2.13.0
fuxictr==2.3.10``); nothing here imports torch in the jaxrec process.

The FuxiCTR model classes come from a checkout of ``reczoo/FuxiCTR`` (``model_zoo/``; the wheel
holds only the library), imported at run time from ``--fuxictr-zoo``.

Run:  JAXREC_SHARED_DATA=../shared/data PYTHONPATH=. python benchmarks/ctr_vs_fuxictr.py \\
          --fuxictr-python VENV/bin/python --fuxictr-zoo FuxiCTR/model_zoo \\
          --models fm,deepfm,dcnv2,finalmlp --seeds 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BATCH = 4096


def _data() -> tuple[dict, dict, dict, tuple[str, ...], tuple[int, ...]]:
    """Train / valid / test as ``{"x": int [N, K], "label": [N]}``, field names, vocab sizes."""
    from jaxrec import cli
    from jaxrec.ctr.experiment import load_splits

    tables, _ = load_splits(cli.load_config("ctr/fm:gift_cards"))
    tr, va, te = tables["train"], tables["valid"], tables["test"]
    pack = lambda t: {"x": t.x, "label": t.label}  # noqa: E731
    return pack(tr), pack(va), pack(te), tr.fields, tr.vocab_sizes


def jaxrec_side(model: str, seed: int, epochs: int) -> dict:
    import dataclasses

    import jax

    from jaxrec import cli, train
    from jaxrec.ctr.experiment import build, evaluator, run

    cfg = cli.load_config(f"ctr/{model}:gift_cards")
    cfg = dataclasses.replace(cfg, seed=seed, plateau_factor=1.0, eval_batch_size=BATCH)
    setup = build(cfg)
    state, key = setup.state, jax.random.key(seed)
    rows = len(setup.splits["train"])
    with train.mesh_context(setup.mesh, cfg.mesh.rules):
        for epoch in range(epochs):
            if epoch == 1:
                jax.block_until_ready(state)
                start = time.perf_counter()
            for batch in setup.batches.epoch():
                placed = train.place_batch(setup.mesh, batch)
                state, _ = setup.train_step(state, placed, key, setup.context)
        jax.block_until_ready(state)
        train_s = time.perf_counter() - start
        evaluate = evaluator(setup.graphdef, setup.splits["test"], setup.mesh, BATCH, setup.context)
        evaluate(state)  # warm-up (compiles)
        start = time.perf_counter()
        test = evaluate(state)
        infer_s = time.perf_counter() - start
    n_test = len(setup.splits["test"])
    with tempfile.TemporaryDirectory() as tmp:  # the full protocol, for the AUC
        quiet = dataclasses.replace(cfg.loop, progress=False)
        full = run(dataclasses.replace(cfg, plateau_factor=0.1, loop=quiet), tmp)
    return {
        "side": "jaxrec", "model": model, "seed": seed, "test_auc": full["test"]["auc"],
        "test_logloss": full["test"]["logloss"], "auc_after_epochs": test["auc"],
        "train_samples_per_s": rows * (epochs - 1) / train_s,
        "infer_samples_per_s": n_test / infer_s,
    }  # fmt: skip


def roc_auc(label: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(label, score))


def _zoo_class(zoo: Path, name: str):
    """FuxiCTR's model class from its repository's ``model_zoo`` (the wheel ships no models)."""
    import importlib.util

    src = zoo / name / f"{name}_torch" / "src"
    src = src if src.is_dir() else zoo / name / "src"
    spec = importlib.util.spec_from_file_location(
        f"fx_{name}", src / "__init__.py", submodule_search_locations=[str(src)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return getattr(module, name)


def fuxictr_side(model: str, seed: int, epochs: int, folder: Path, zoo: Path) -> dict:
    """Runs inside the FuxiCTR venv (imports torch)."""
    import torch
    from fuxictr.features import FeatureMap
    from fuxictr.pytorch.dataloaders import RankDataLoader
    from fuxictr.pytorch.torch_utils import seed_everything

    seed_everything(seed)
    spec = json.loads((folder / "spec.json").read_text())
    feature_map = FeatureMap("gift", str(folder))
    feature_map.load(str(folder / "feature_map.json"), {"embedding_dim": 32})
    common = dict(
        gpu=-1, learning_rate=1e-3, optimizer="adam", loss="binary_crossentropy",
        embedding_dim=32, verbose=0,  # regularisers: the zoo's defaults (None)
        metrics=["logloss", "AUC"], model_root=str(folder / "checkpoints"),
    )  # fmt: skip
    params = {
        "fm": ("FM", {}),
        "deepfm": ("DeepFM", {"hidden_units": [300, 300, 128], "hidden_activations": "ReLU",
                              "net_dropout": 0, "batch_norm": False}),
        "dcnv2": ("DCNv2", {"model_structure": "parallel", "num_cross_layers": 3,
                            "parallel_dnn_hidden_units": [400, 400, 400],
                            "dnn_activations": "ReLU", "net_dropout": 0, "batch_norm": False}),
        "finalmlp": ("FinalMLP", {"mlp1_hidden_units": [400, 400, 400],
                                  "mlp2_hidden_units": [800], "fs_hidden_units": [800],
                                  "num_heads": 1, "use_fs": True}),
    }[model]  # fmt: skip
    net = _zoo_class(zoo, params[0])(feature_map, model_id=model, **common, **params[1])
    os.makedirs(net.model_dir, exist_ok=True)  # fit() saves the best weights there
    net._max_gradient_norm = 10.0
    train_gen, test_gen = (
        RankDataLoader(feature_map, stage=stage, batch_size=BATCH, data_format="npz",
                       **{f"{split}_data": str(folder / f"{split}.npz")},
                       **({"valid_data": str(folder / "valid.npz")} if stage == "train" else {}))
        for stage, split in (("train", "train"), ("test", "test"))
    )  # fmt: skip
    train_gen, valid_gen = train_gen
    for epoch in range(epochs):
        if epoch == 1:
            start = time.perf_counter()
        net.train()
        for batch in train_gen:
            net.train_step(batch)
    train_s = time.perf_counter() - start
    net.predict(test_gen)  # warm-up
    start = time.perf_counter()
    pred = net.predict(test_gen)
    infer_s = time.perf_counter() - start
    label = np.load(folder / "test.npz")["label"]
    after_epochs = roc_auc(label, pred)
    # the full protocol (early stopping on valid AUC, patience 2, LR x0.1 on plateau), fresh model
    seed_everything(seed)
    net = _zoo_class(zoo, params[0])(feature_map, model_id=model, **common, **params[1])
    net.fit(train_gen, validation_data=valid_gen, epochs=100, max_gradient_norm=10.0)
    net.load_weights(net.checkpoint)
    pred = net.predict(test_gen)
    eps = 1e-7
    p = np.clip(pred, eps, 1 - eps)
    return {
        "side": "fuxictr", "model": model, "seed": seed, "test_auc": roc_auc(label, pred), "auc_after_epochs": after_epochs,
        "test_logloss": float(-np.mean(label * np.log(p) + (1 - label) * np.log(1 - p))),
        "train_samples_per_s": spec["train_rows"] * (epochs - 1) / train_s,
        "infer_samples_per_s": len(label) / infer_s, "torch_threads": torch.get_num_threads(),
    }  # fmt: skip


def _write_fuxictr_data(folder: Path) -> None:
    tr, va, te, fields, vocab = _data()
    for name, split in (("train", tr), ("valid", va), ("test", te)):
        cols = {f: split["x"][:, k].astype(np.int64) for k, f in enumerate(fields)}
        np.savez(folder / f"{name}.npz", **cols, label=split["label"].astype(np.float32))
    features = [{f: {"source": "", "type": "categorical", "vocab_size": int(v)}}
                for f, v in zip(fields, vocab, strict=True)]  # fmt: skip
    fmap = {"dataset_id": "gift", "num_fields": len(fields), "total_features": int(sum(vocab)),
            "input_length": len(fields), "labels": ["label"], "features": features}  # fmt: skip
    (folder / "feature_map.json").write_text(json.dumps(fmap))
    (folder / "spec.json").write_text(json.dumps({"train_rows": len(tr["label"])}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="fm,deepfm,dcnv2,finalmlp")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--fuxictr-python", help="python of a venv with fuxictr + torch")
    parser.add_argument("--fuxictr-zoo", help="model_zoo folder of a FuxiCTR 2.3.10 checkout")
    parser.add_argument("--out", default="runs/ctr_vs_fuxictr.jsonl")
    parser.add_argument("--side", choices=("both", "jaxrec", "fuxictr"), default="both")
    parser.add_argument("--data-folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    models, seeds = args.models.split(","), [2024 + s for s in range(args.seeds)]
    if args.side == "fuxictr":  # the child process in the FuxiCTR venv
        for model in models:
            for seed in seeds:
                r = fuxictr_side(
                    model, seed, args.epochs, Path(args.data_folder), Path(args.fuxictr_zoo)
                )
                print(json.dumps(r), flush=True)
        return 0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    records = []

    def keep(record: dict) -> None:  # appended at once, so a stopped run keeps what it measured
        records.append(record)
        with out.open("a") as f:
            f.write(json.dumps(record) + "\n")

    if args.side == "both" and not (args.fuxictr_python and args.fuxictr_zoo):
        parser.error("--fuxictr-python and --fuxictr-zoo are needed for the FuxiCTR side")
    with tempfile.TemporaryDirectory() as tmp:
        if args.side == "both":
            _write_fuxictr_data(Path(tmp))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        for model in models:
            if args.side == "both":  # one process per model: every zoo package is named "src"
                cmd = [args.fuxictr_python, __file__, "--side", "fuxictr", "--data-folder", tmp,
                       "--fuxictr-zoo", args.fuxictr_zoo, "--models", model,
                       "--seeds", str(args.seeds), "--epochs", str(args.epochs)]  # fmt: skip
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
                if proc.returncode:
                    print(proc.stderr[-3000:], file=sys.stderr)
                    return proc.returncode
                for line in proc.stdout.splitlines():
                    if line.startswith("{"):
                        keep(json.loads(line))
            for seed in seeds:
                keep(jaxrec_side(model, seed, args.epochs))
    print(
        "| model | side | n | test AUC | AUC after E epochs | train samples/s | infer samples/s |"
    )
    print("|---|---|---|---|---|---|---|")
    for model in models:
        for side in ("fuxictr", "jaxrec"):
            rs = [r for r in records if r["model"] == model and r["side"] == side]
            if rs:
                m = {k: np.mean([r[k] for r in rs]) for k in
                     ("test_auc", "auc_after_epochs", "train_samples_per_s",
                      "infer_samples_per_s")}  # fmt: skip
                print(f"| {model} | {side} | {len(rs)} | {m['test_auc']:.4f} | "
                      f"{m['auc_after_epochs']:.4f} | "
                      f"{m['train_samples_per_s']:.0f} | {m['infer_samples_per_s']:.0f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
