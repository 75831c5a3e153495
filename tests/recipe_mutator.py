"""A seeded, bounded mutator of recipe files, for the fuzz test (tests/test_fuzz_recipes.py).

Each mutation is one thing a careless or hostile user does to a recipe: a typo in a key or a
component name, a value of the wrong type, a deleted, duplicated or swapped line, a truncated
file, a flipped byte, a control or invisible character, an anchor and alias, a broken indent.
"""

from __future__ import annotations

import random
import re

VALUES = ["true", "false", "null", "~", "-1", "0", "1.5", "1e999", "-1e999", ".nan", ".inf", "1e308",
          "99999999999999999999", "'12'", "[1, 2]", "{a: 1}", "[]", "{}", "!!int x", "!!float x", "!!bool maybe",
          "!!binary aGk=", "!!set {a}",
          "2001-13-45", "2001-01-01", "*nowhere", '"\\x00"', '"\\e[31m"', '"\\ud800"', "'../../x'", "''", "/etc/passwd",
          "!!python/object/apply:os.system [id]", "!foo 3", "&a [*a]", "<<: 3", "=", "0x1F", "0o17", "1_000", "+.5",
          "'" + "x" * 300 + "'", "[" * 40 + "]" * 40, "🙂", "e\u0301", "Ｅ"]
CHARS = ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\u200b", "\u202e", "\ufeff", "\t", "\r", "\ud7ff", "\ue000",
         "\U0001f600", ":", "-", "[", "{", "&", "*", "!", "|", ">", "'", '"', "#", "%", "@", "`", ",", "?"]


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(len(word)) if word else 0
    kind = rng.randrange(4)
    if kind == 0 or len(word) < 2:
        return word[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz_") + word[i:]
    if kind == 1:
        return word[:i] + word[i + 1:]
    if kind == 2 and i < len(word) - 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word.upper()


def _replace_match(text: str, pattern: str, group: int, make, rng: random.Random) -> str:
    found = list(re.finditer(pattern, text))
    if not found:
        return text + "\n" + make("x")
    m = rng.choice(found)
    return text[:m.start(group)] + make(m.group(group)) + text[m.end(group):]


def mutate(text: str, rng: random.Random) -> tuple[str, str | bytes]:
    """One mutation of `text`: (what was done, the mutant as text or bytes)."""
    lines = text.split("\n")
    kind = rng.choice(["key_typo", "name_typo", "value", "delete", "duplicate", "swap", "truncate", "byte_flip",
                       "char", "alias", "indent", "bomb", "deep"])
    if kind == "key_typo":
        return kind, _replace_match(text, r"(?m)(\w+):", 1, lambda w: _typo(w, rng), rng)
    if kind == "name_typo":
        return kind, _replace_match(text, r"type: *([\w.]+)", 1, lambda w: _typo(w, rng), rng)
    if kind == "value":
        value = rng.choice(VALUES)
        return f"value {value[:20]!r}", _replace_match(text, r"(?m):[ ]+([^\s{}\[\],#][^,}\]\n#]*)", 1,
                                                       lambda _: value, rng)
    if kind == "delete" and len(lines) > 1:
        i = rng.randrange(len(lines))
        return f"delete line {i + 1}", "\n".join(lines[:i] + lines[i + 1:])
    if kind == "duplicate":
        i = rng.randrange(len(lines))
        return f"duplicate line {i + 1}", "\n".join(lines[:i + 1] + lines[i:])
    if kind == "swap" and len(lines) > 1:
        i, j = rng.sample(range(len(lines)), 2)
        lines[i], lines[j] = lines[j], lines[i]
        return f"swap lines {i + 1} and {j + 1}", "\n".join(lines)
    data = text.encode("utf-8")
    if kind == "truncate":
        cut = rng.randrange(len(data) + 1)
        return f"truncate at byte {cut}", data[:cut]
    if kind == "byte_flip":
        i = rng.randrange(len(data))
        flipped = bytearray(data)
        flipped[i] ^= 1 << rng.randrange(8)
        return f"flip a bit of byte {i}", bytes(flipped)
    if kind == "char":
        i = rng.randrange(len(text) + 1)
        char = rng.choice(CHARS)
        return f"insert {char!r} at {i}", text[:i] + char + text[i:]
    if kind == "alias":  # anchor one value, use it somewhere else
        found = list(re.finditer(r"(?m):[ ]+([^\s&*!][^\n#]*)", text))
        if len(found) >= 2:
            a, b = sorted(rng.sample(found, 2), key=lambda m: m.start())
            return "alias", (text[:a.start(1)] + "&x " + a.group(1) + text[a.end(1):b.start(1)] + "*x"
                             + text[b.end(1):])
    if kind == "indent" and lines:
        i = rng.randrange(len(lines))
        lines[i] = (" " * rng.randrange(1, 4) + lines[i]) if rng.random() < 0.5 else lines[i].lstrip()
        return f"indent line {i + 1}", "\n".join(lines)
    if kind == "bomb":
        return "alias bomb", text + "\nbomb: &b0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"b{i}: &b{i} [*b{i - 1}, *b{i - 1}, *b{i - 1}, *b{i - 1}, *b{i - 1}, *b{i - 1}, *b{i - 1}]\n"
            for i in range(1, 9))
    if kind == "deep":
        depth = rng.choice([30, 40, 1000])
        return f"nesting {depth}", text + "\ndeep: " + "[" * depth + "]" * depth + "\n"
    return "unchanged", text


PATHS = ["train.epochs", "train.optimizer", "train.optimizer.learning_rate", "model.layers[0]",
         "model.layers[-1].units", "model.layers[3].rate", "data.source", "data.source.type", "data.split.val", "seed",
         "name", "track.experiment", "model.defaults.kernel_initializer", "train.callbacks[0]", "search.space",
         "model", "train", "a.b[0]", "model.layers", "data.imbalance.class_weight", "model.freeze", "model.init_from",
         "diagnostics.explosion_factor", "train.schedule", "extends", "model.outputs"]


def override(rng: random.Random) -> str:
    """One `--set` assignment of the kind a hurried or hostile user types."""
    path = rng.choice(PATHS)
    if rng.random() < 0.3:
        path = _typo(path, rng)
    value = rng.choice(VALUES)
    if rng.random() < 0.2:
        i = rng.randrange(len(value) + 1)
        value = value[:i] + rng.choice(CHARS) + value[i:]
    return f"{path}={value}" if rng.random() > 0.05 else path + rng.choice(["", "[", "]", "..", "=="])
