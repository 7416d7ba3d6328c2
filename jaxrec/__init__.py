"""jaxrec: JAX/Flax functional reimplementations of recent research methods."""

__version__ = "0.1.0"
