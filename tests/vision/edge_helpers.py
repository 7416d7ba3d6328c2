"""Helpers shared by the edge tests."""

import contextlib

import jax


@contextlib.contextmanager
def x64():
    """Float64 inside the block (jax.experimental.enable_x64 is not in every supported jax)."""
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", old)
