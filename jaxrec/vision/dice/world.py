"""An offline text-to-image world on real digits, with a caption grammar and its tokenizer.

Each ``S x S`` canvas (1 channel, values in ``[-1, 1]``) is split into four quadrants; one or
more of them holds an MNIST digit, small (``round(0.35 S)`` pixels) or large (``S / 2``), at the
quadrant's centre with up to ``S / 16`` pixels of jitter (clipped to the quadrant). The caption lists the objects in a
random order, e.g. ``"a small 7 at the top left , a large 2 at the bottom right"``, so that a
model must bind digit, size and position per object -- what an unguided text-to-image model
follows poorly. Labels per quadrant: ``digits [N, 4]`` (10 = empty) and ``sizes [N, 4]``
(0 small, 1 large, 2 empty), quadrants ordered top left, top right, bottom left, bottom right.

:class:`CaptionTokenizer` maps the grammar's words to ids: ``<bos> words <eos> <pad>...`` with a
fixed length; an unknown word is a ``ValueError`` naming it. Ids: ``<bos>`` 0, ``<eos>`` 1,
``<pad>`` 2 (after ``<eos>``, so the causal text encoder's outputs up to EOS ignore padding).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["POSITIONS", "SIZES", "CaptionTokenizer", "DigitsWorld", "caption", "digits_world"]

POSITIONS = ("top left", "top right", "bottom left", "bottom right")
SIZES = ("small", "large")
EMPTY_DIGIT, EMPTY_SIZE = 10, 2
_WORDS = ("a", "at", "the", ",", *SIZES, "top", "bottom", "left", "right", *map(str, range(10)))


def caption(digits: np.ndarray, sizes: np.ndarray, order: np.ndarray) -> str:
    """The caption of one canvas: objects in quadrant ``order`` (empty quadrants skipped)."""
    parts = [f"a {SIZES[sizes[q]]} {digits[q]} at the {POSITIONS[q]}" for q in order
             if digits[q] != EMPTY_DIGIT]  # fmt: skip
    return " , ".join(parts)


class CaptionTokenizer:
    """Word-level tokenizer of the caption grammar (fixed length ``max_length``)."""

    specials = ("<bos>", "<eos>", "<pad>")

    def __init__(self, max_length: int) -> None:
        self.vocab = {w: i for i, w in enumerate(self.specials + _WORDS)}
        self.max_length = max_length

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def eos_id(self) -> int:
        return self.vocab["<eos>"]

    def encode(self, captions: list[str]) -> np.ndarray:
        """``captions -> int32 [N, max_length]``; ``""`` is the empty (unconditional) caption.

        Raises:
          ValueError: an unknown word (named with its caption) or a caption too long.
        """
        out = np.full((len(captions), self.max_length), self.vocab["<pad>"], np.int32)
        for i, text in enumerate(captions):
            words = text.replace(",", " , ").split()
            unknown = [w for w in words if w not in self.vocab or w in self.specials]
            if unknown:
                raise ValueError(f"unknown caption word {unknown[0]!r} in {text!r}; the grammar "
                                 f"knows {sorted(_WORDS)}")  # fmt: skip
            if len(words) + 2 > self.max_length:
                raise ValueError(f"caption {text!r} needs {len(words) + 2} tokens, more than "
                                 f"max_length={self.max_length}")  # fmt: skip
            out[i, : len(words) + 2] = [0, *(self.vocab[w] for w in words), 1]
        return out

    def decode(self, ids: np.ndarray) -> str:
        inverse = {i: w for w, i in self.vocab.items()}
        words = [inverse[int(i)] for i in ids if int(i) not in (0, 2)]
        return " ".join(words[: words.index("<eos>")] if "<eos>" in words else words)


def max_caption_length(max_objects: int) -> int:
    """Tokens of the longest caption: 7 words per object, a comma between, BOS and EOS."""
    return 8 * max_objects + 1


@dataclasses.dataclass(frozen=True)
class DigitsWorld:
    """``images float32 [N, S, S, 1]`` in [-1, 1], ``digits``/``sizes int32 [N, 4]``,
    ``captions`` (N strings) and their ``ids int32 [N, L]``."""

    images: np.ndarray
    digits: np.ndarray
    sizes: np.ndarray
    captions: list[str]
    ids: np.ndarray


def _resized(glyphs: np.ndarray, size: int) -> np.ndarray:
    """``uint8 [M, 28, 28] -> float32 [M, size, size]`` in [0, 1] (antialiased)."""
    x = jnp.asarray(glyphs, jnp.float32)[..., None] / 255.0
    out = jax.image.resize(x, (len(glyphs), size, size, 1), "linear", antialias=True)
    return np.clip(np.asarray(out[..., 0]), 0.0, 1.0)


def digits_world(
    glyphs: np.ndarray,
    glyph_labels: np.ndarray,
    num: int,
    *,
    canvas: int = 32,
    max_objects: int = 2,
    seed: int = 0,
    tokenizer: CaptionTokenizer | None = None,
) -> DigitsWorld:
    """Composes ``num`` canvases from ``glyphs uint8 [M, 28, 28]`` with ``glyph_labels [M]``.

    Each canvas has ``1..max_objects`` objects (uniform), in distinct random quadrants, with a
    uniform digit (a random glyph of that class) and size.

    Raises:
      ValueError: a canvas not divisible by 16 (quadrants and jitter), ``max_objects`` outside
        1..4, or a digit class with no glyph.
    """
    if canvas % 16 or canvas < 16:
        raise ValueError(f"canvas must be a positive multiple of 16, got {canvas=}")
    if not 1 <= max_objects <= 4:
        raise ValueError(f"max_objects must be in 1..4, got {max_objects=}")
    pools = [np.flatnonzero(glyph_labels == d) for d in range(10)]
    if any(len(p) == 0 for p in pools):
        raise ValueError("every digit class needs at least one glyph")
    rng = np.random.default_rng(seed)
    count = rng.integers(1, max_objects + 1, num)
    order = np.argsort(rng.random((num, 4)), axis=1)
    occupied = np.arange(4)[None] < count[:, None]  # in `order`'s positions
    digit_draw = rng.integers(0, 10, (num, 4))
    size_draw = rng.integers(0, 2, (num, 4))
    glyph = np.stack([rng.choice(pools[d], (num,)) for d in range(10)], 1)  # [N, 10]
    jitter = rng.integers(-(canvas // 16), canvas // 16 + 1, (num, 4, 2))
    digits = np.full((num, 4), EMPTY_DIGIT, np.int32)
    sizes = np.full((num, 4), EMPTY_SIZE, np.int32)
    quad = np.where(occupied, order, -1)
    for k in range(4):  # k-th listed object: quadrant quad[:, k]
        m = quad[:, k] >= 0
        digits[np.flatnonzero(m), quad[m, k]] = digit_draw[m, k]
        sizes[np.flatnonzero(m), quad[m, k]] = size_draw[m, k]
    images = np.zeros((num, canvas, canvas), np.float32)
    half = canvas // 2
    for s_idx, px in enumerate((round(0.35 * canvas), half)):
        stamp = _resized(glyphs, px)
        for q in range(4):
            sel = np.flatnonzero(sizes[:, q] == s_idx)
            if not len(sel):
                continue
            tiles = stamp[glyph[sel, digits[sel, q]]]  # [n, px, px]
            top, left = (q // 2) * half, (q % 2) * half  # objects stay inside their quadrant
            y0 = np.clip(top + (half - px) // 2 + jitter[sel, q, 0], top, top + half - px)
            x0 = np.clip(left + (half - px) // 2 + jitter[sel, q, 1], left, left + half - px)
            yy = y0[:, None, None] + np.arange(px)[None, :, None]
            xx = x0[:, None, None] + np.arange(px)[None, None, :]
            cur = images[sel[:, None, None], yy, xx]
            images[sel[:, None, None], yy, xx] = np.maximum(cur, tiles)
    captions = [caption(digits[i], sizes[i], order[i]) for i in range(num)]
    tok = tokenizer or CaptionTokenizer(max_caption_length(max_objects))
    return DigitsWorld(
        images=(2.0 * images - 1.0)[..., None],
        digits=digits,
        sizes=sizes,
        captions=captions,
        ids=tok.encode(captions),
    )
