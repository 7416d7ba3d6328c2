"""A synthetic multi-view action world with planted motion classes (CPU-scale TBCNet runs).

Actors are MNIST digits (real textures, ``<shared>/vision/mnist/t10k-images-idx3-ubyte.gz``),
each with a colour and a depth ``z``, on a textured background, in a small 3-D scene. Ten motion
classes act on the actors over ``T`` frames (time ``s = t/(T-1) in [0, 1]``):

0/1 translate right/left, 2/3 up/down, 4/5 rotate clockwise/counter-clockwise, 6/7 expand/
contract, 8/9 two actors approach/separate.

Camera ``k`` sees world point ``(x, y, z)`` at image coordinates
``u = a_k R(rho_k) [f_k (cos(phi_k) x + sin(phi_k) z), y]`` (yaw ``phi``, in-plane rotation
``rho``, scale ``a``, horizontal flip ``f``), rendered at ``size x size`` by inverse mapping
(nearest texel). A *scene* (the "subject" of the CS protocol) fixes the background and the pool
of digit images its actors are drawn from; clips of test scenes show unseen digits and
backgrounds. Protocols (:func:`protocol_split`): ``"cs"`` trains on 2/3 of the scenes with all
3 cameras and tests on the rest; ``"cv"`` uses the same clip split but trains on cameras 0 and 1
and tests on camera 2, duplicated to fill the two view slots (the authors' CV protocol).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxrec.data.mnist import load_mnist_images

__all__ = ["ActionWorld", "CAMERAS", "CLASSES", "load_mnist_images", "protocol_split",
           "synthetic_action_world"]  # fmt: skip

CLASSES = ("right", "left", "up", "down", "cw", "ccw", "expand", "contract", "approach",
           "separate")  # fmt: skip
# (yaw phi, in-plane rotation rho, scale a, flip f) per camera, radians
CAMERAS = ((-0.5, -0.35, 0.9, 1.0), (0.6, 0.15, 1.0, -1.0), (0.1, 0.3, 1.15, 1.0))


@dataclasses.dataclass(frozen=True)
class ActionWorld:
    """``clips uint8 [N, 3, T, S, S, 3]`` (all cameras), ``labels [N]``, ``scenes [N]``."""

    clips: np.ndarray
    labels: np.ndarray
    scenes: np.ndarray
    num_scenes: int


def _rot(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)


def _actor_tracks(labels: np.ndarray, frames: int, rng: np.random.Generator):
    """Per clip, actor and frame: centre ``[N, 2, T, 2]``, angle, scale ``[N, 2, T]``, and
    which actors are present ``[N, 2]``."""
    n = len(labels)
    s = np.linspace(0.0, 1.0, frames)[None, :]
    speed = rng.uniform(0.6, 0.9, (n, 1))
    jitter = rng.uniform(-0.15, 0.15, (n, 1, 2))
    centre = np.zeros((n, 2, frames, 2)) + jitter[:, :, None, :]
    angle = np.zeros((n, 2, frames)) + rng.uniform(-0.3, 0.3, (n, 1, 1))
    scale = np.ones((n, 2, frames)) * rng.uniform(0.8, 1.0, (n, 1, 1))
    two = labels >= 8
    direction = {0: (1, 0), 1: (-1, 0), 2: (0, 1), 3: (0, -1)}
    for c, (dx, dy) in direction.items():
        m = labels == c
        centre[m, 0, :, 0] += dx * speed[m] * (s - 0.5)
        centre[m, 0, :, 1] += dy * speed[m] * (s - 0.5)
    for c, sign in ((4, -1.0), (5, 1.0)):
        m = labels == c
        angle[m, 0] += sign * 2.0 * speed[m] * s
    for c, sign in ((6, 1.0), (7, -1.0)):
        m = labels == c
        scale[m, 0] *= np.exp(sign * 1.2 * speed[m] * (s - 0.5))
    for c, sign in ((8, -1.0), (9, 1.0)):
        m = labels == c
        gap = 0.5 + sign * 0.7 * speed[m] * (s - 0.5)  # half distance between the actors
        centre[m, 0, :, 0] -= gap
        centre[m, 1, :, 0] += gap
        scale[m] *= 0.75
    return centre, angle, scale, np.stack([np.ones(n, bool), two], 1)


def _render(textures, colours, depth, centre, angle, scale, present, background, size, cam):
    """Renders one camera for a chunk of clips: ``uint8 [n, T, size, size, 3]``."""
    phi, rho, a, f = cam
    n, _, t, _ = centre.shape
    g = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    u = np.stack(np.meshgrid(g, -g, indexing="xy"), -1).reshape(-1, 2)  # [P, 2], y up
    img_to_plane = np.linalg.inv(a * _rot(np.asarray(rho)))
    plane = u @ img_to_plane.T  # [P, 2] = (f (cos phi x + sin phi z), y)
    out = np.repeat(background[:, None], t, axis=1).reshape(n, t, -1, 3).astype(np.float32)
    for k in range(2):
        x = (plane[None, :, 0] * f - np.sin(phi) * depth[:, k : k + 1]) / np.cos(phi)  # [n, P]
        world = np.stack([np.broadcast_to(x[:, None], (n, t, x.shape[1])),
                          np.broadcast_to(plane[None, None, :, 1], (n, t, x.shape[1]))], -1)  # fmt: skip
        rel = world - centre[:, k, :, None, :]
        local = np.einsum("ntij,ntpj->ntpi", _rot(-angle[:, k]), rel) / (
            0.35 * scale[:, k, :, None, None]
        )
        col = np.clip(((local[..., 0] + 1) * 14).astype(int), -1, 28)
        row = np.clip(((1 - local[..., 1]) * 14).astype(int), -1, 28)
        inside = (col >= 0) & (col < 28) & (row >= 0) & (row < 28) & present[:, k, None, None]
        tex = textures[:, k][np.arange(n)[:, None, None], np.clip(row, 0, 27), np.clip(col, 0, 27)]
        alpha = np.where(inside, tex / 255.0, 0.0)[..., None]
        out = out * (1 - alpha) + alpha * colours[:, k, None, None, :]
    return np.clip(out, 0, 255).astype(np.uint8).reshape(n, t, size, size, 3)


def synthetic_action_world(
    mnist: np.ndarray,
    *,
    num_scenes: int = 12,
    clips_per_scene: int = 40,
    frames: int = 8,
    size: int = 32,
    digits_per_scene: int = 20,
    seed: int = 0,
) -> ActionWorld:
    """Renders ``num_scenes * clips_per_scene`` clips from all 3 cameras (module docstring);
    classes are balanced within each scene. ``mnist``: ``uint8 [M, 28, 28]`` textures."""
    rng = np.random.default_rng(seed)
    n = num_scenes * clips_per_scene
    scenes = np.repeat(np.arange(num_scenes), clips_per_scene)
    labels = np.concatenate([rng.permutation(np.arange(clips_per_scene) % len(CLASSES))
                             for _ in range(num_scenes)])  # fmt: skip
    pools = rng.choice(len(mnist), (num_scenes, digits_per_scene), replace=False)
    pick = pools[scenes[:, None], rng.integers(0, digits_per_scene, (n, 2))]
    textures = mnist[pick]  # [N, 2, 28, 28]
    colours = rng.uniform(120, 255, (n, 2, 3))
    depth = rng.uniform(-0.5, 0.5, (n, 2))
    base = rng.uniform(0, 80, (num_scenes, 3))
    noise = rng.uniform(0, 50, (num_scenes, size, size, 1))
    background = (base[:, None, None, :] + noise)[scenes]
    centre, angle, scale, present = _actor_tracks(labels, frames, rng)
    clips = np.zeros((n, len(CAMERAS), frames, size, size, 3), np.uint8)
    for lo in range(0, n, 64):
        sl = slice(lo, lo + 64)
        for k, cam in enumerate(CAMERAS):
            clips[sl, k] = _render(textures[sl], colours[sl], depth[sl], centre[sl],
                                   angle[sl], scale[sl], present[sl], background[sl], size, cam)  # fmt: skip
    return ActionWorld(clips, labels.astype(np.int32), scenes.astype(np.int32), num_scenes)


def protocol_split(world: ActionWorld, protocol: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train", "test"} -> (clips [n, V, T, S, S, 3], labels [n])`` for ``"cs"`` (V = 3) or
    ``"cv"`` (V = 2; test = camera 2 duplicated). Test scenes: the last third."""
    if protocol not in ("cs", "cv"):
        raise ValueError(f"protocol must be 'cs' or 'cv', got {protocol!r}")
    test = world.scenes >= world.num_scenes - world.num_scenes // 3
    if protocol == "cs":
        return {"train": (world.clips[~test], world.labels[~test]),
                "test": (world.clips[test], world.labels[test])}  # fmt: skip
    return {"train": (world.clips[~test][:, :2], world.labels[~test]),
            "test": (world.clips[test][:, [2, 2]], world.labels[test])}  # fmt: skip
