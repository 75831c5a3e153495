"""A stable id for a resolved recipe: same content -> same hash, whatever the key order."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def stable_hash(*parts: Any, length: int = 16) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def recipe_id(recipe_hash: str, fingerprint: str) -> str:
    """A run's `recipe.id` tag: what it trained (the recipe and plugin versions) on which data."""
    return stable_hash(recipe_hash, fingerprint)
