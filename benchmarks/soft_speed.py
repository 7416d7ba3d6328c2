"""SOFT speed (issue 12 §5) on the CPU, same tiny random decoder on both sides (exported with
``jaxrec.models.llm.save_pretrained`` and loaded by transformers, identical weights):

1. self-distillation generation: prompts/s of jaxrec's jitted ``unconstrained_beam_search``
   (4 beams, top-1, ``max_new_tokens`` 64) vs transformers ``generate(num_beams=4,
   max_new_tokens=64)`` in torch (CPU), batched alike; the top-1 agreement is reported;
2. catalogue encoding: items/s of ``TextEncoder`` (last token, last layer, jitted) vs the
   transformers forward with ``output_hidden_states``.
Median of timed repeats after a warm-up (jaxrec's compile excluded). The SOFT/SFT epoch-time
ratio comes from ``benchmarks/soft_reproduce.py`` (``seconds_per_epoch`` of the runs).

Run:  PYTHONPATH=. python3 benchmarks/soft_speed.py --out docs/bench_soft_speed.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from jaxrec.llmrec.beam import unconstrained_beam_search
from jaxrec.llmrec.encoder import TextEncoder
from jaxrec.llmrec.tokenizer import train_bpe_tokenizer
from jaxrec.models import llm


def _median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--prompt-len", type=int, default=48)
    parser.add_argument("--items", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="runs/bench_soft_speed.json")
    args = parser.parse_args()
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(2)
    cfg = llm.LLMConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_layers=2,
                        num_heads=4, num_kv_heads=2, tie_embeddings=True,
                        max_position_embeddings=256)  # fmt: skip
    model = llm.Decoder(cfg, rngs=nnx.Rngs(0))
    rng = np.random.default_rng(0)
    ids = rng.integers(2, cfg.vocab_size, (args.prompts, args.prompt_len)).astype(np.int32)
    mask = np.ones_like(ids, bool)
    mask[::2, : args.prompt_len // 3] = False  # left padding on half the rows
    ids = np.where(mask, ids, 0)
    eos = 1
    search = jax.jit(lambda m, i, k: unconstrained_beam_search(m, i, k, eos_id=eos))
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        llm.save_pretrained(model, None, Path(tmp) / "m")
        hf = AutoModelForCausalLM.from_pretrained(Path(tmp) / "m", attn_implementation="eager")
    hf = hf.eval()

    def jax_gen():
        return jax.block_until_ready(search(model, ids, mask))

    def hf_gen():
        with torch.no_grad():
            return hf.generate(torch.tensor(ids), attention_mask=torch.tensor(mask),
                               num_beams=4, max_new_tokens=64, do_sample=False,
                               eos_token_id=eos, pad_token_id=0)  # fmt: skip

    t_jax, t_hf = _median_time(jax_gen, args.repeats), _median_time(hf_gen, args.repeats)
    mine = np.asarray(jax_gen().tokens[:, 0])
    ref = hf_gen()[:, ids.shape[1] :].numpy()
    agree = float(np.mean([(mine[i, : ref.shape[1]] == ref[i]).all() for i in range(len(ids))]))
    out["generation"] = {"prompts": args.prompts, "jaxrec_prompts_per_s": args.prompts / t_jax,
                         "transformers_prompts_per_s": args.prompts / t_hf,
                         "speedup": t_hf / t_jax, "top1_agreement": agree}  # fmt: skip

    words = [f"w{i}" for i in range(200)]
    titles = [" ".join(rng.choice(words, rng.integers(3, 9))) for _ in range(args.items)]
    tok = train_bpe_tokenizer(titles, vocab_size=cfg.vocab_size)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    enc = TextEncoder(graphdef, nnx.to_pure_dict(params), nnx.to_pure_dict(rest), tok,
                      batch_size=128)  # fmt: skip
    tokens = enc.tokenize(titles)
    width = max(len(t) for t in tokens)
    hf_ids = np.zeros((len(tokens), width), np.int64)
    hf_mask = np.zeros_like(hf_ids)
    for i, t in enumerate(tokens):
        hf_ids[i, width - len(t) :], hf_mask[i, width - len(t) :] = t, 1

    def hf_enc():
        with torch.no_grad():
            for s in range(0, len(tokens), 128):
                hf(torch.tensor(hf_ids[s : s + 128]), attention_mask=torch.tensor(hf_mask[s : s + 128]),
                   output_hidden_states=True)  # fmt: skip

    t_enc, t_hf_enc = (
        _median_time(lambda: enc.encode_tokens(tokens), args.repeats),
        _median_time(hf_enc, args.repeats),
    )
    out["encoding"] = {"items": args.items, "jaxrec_items_per_s": args.items / t_enc,
                       "transformers_items_per_s": args.items / t_hf_enc,
                       "speedup": t_hf_enc / t_enc}  # fmt: skip
    out["devices"] = str(jax.devices())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
