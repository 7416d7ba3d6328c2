"""Experiment configs (one file per experiment, ``get_config(arg)`` each), shipped in the wheel as
the package ``jaxrec.configs``; see ``jaxrec.cli`` for how they are found and loaded."""
