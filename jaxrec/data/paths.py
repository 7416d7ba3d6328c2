"""Where the shared real datasets live: one root for every loader default, config and test."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SHARED_DATA_ENV", "shared_root"]

SHARED_DATA_ENV = "JAXREC_SHARED_DATA"


def shared_root() -> Path:
    """The shared-data root: ``$JAXREC_SHARED_DATA`` when set, else ``../shared/data`` beside the
    source checkout (the folder that holds this repository). The folder may not exist (an
    installed wheel, a fresh machine); loaders then fail naming the missing file."""
    configured = os.environ.get(SHARED_DATA_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(__file__).resolve().parents[3] / "shared" / "data"
