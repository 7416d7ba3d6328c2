"""Shared by the msl/* configs (not a config itself: the name starts with "_")."""

import os
from pathlib import Path

# $JAXREC_SHARED_DATA, else ../shared/data next to the source checkout.
SHARED = os.environ.get(
    "JAXREC_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"
)
BOOKS = str(Path(SHARED) / "llmrec" / "amazon_books")
