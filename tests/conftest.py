"""Test configuration: 8 simulated CPU devices for sharding tests, strict rank promotion.

This must run before any JAX operation, hence module level in conftest.
"""

from pathlib import Path

import jax
import pytest

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_numpy_rank_promotion", "raise")

from jaxrec.data import shared_root  # noqa: E402  (after the device count is fixed)

SHARED_DATA = shared_root()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared-data root (``jaxrec.data.shared_root()``: $JAXREC_SHARED_DATA, else
    ../shared/data); tests needing real data skip only when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available: {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture(scope="module")
def ctx():
    """A one-device mesh with the default logical-axis rules, for building annotated models."""
    from jaxrec import train

    mesh = train.make_mesh(train.MeshConfig(data=1), jax.devices()[:1])
    with train.mesh_context(mesh, train.DEFAULT_RULES):
        yield
