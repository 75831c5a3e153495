"""Safe YAML loading that rejects duplicate keys and remembers where every key was written.

A recipe is hostile input until proven otherwise, so reading one is bounded before YAML sees it:
regular files only, at most `max_bytes()` bytes (read no further, so `/dev/zero` or a FIFO cannot
hang or fill memory), strict UTF-8 with no control or invisible characters, and while the YAML is
composed a depth limit and a count of the values aliases expand to (a "billion laughs" bomb is
refused after 20,000 values, in milliseconds, before anything is built). Only the YAML types a recipe uses
are accepted: strings, numbers, booleans, null, lists and mappings (no timestamps, binary, sets or
explicit tags). Every refusal is a located `RecipeError`.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

import yaml

from pipeline.errors import FORBIDDEN_CHAR, Location, KeyPath, Problem, RecipeError, printable

Marks = dict  # KeyPath -> Location

MAX_BYTES_ENV = "PIPELINE_MAX_RECIPE_BYTES"
DEFAULT_MAX_BYTES = 1 << 20  # 1 MiB for a recipe and everything it extends: recipes are a few KiB
MAX_DEPTH = 32               # nesting of mappings and lists (a recipe uses about 6)
MAX_NODES = 20_000           # values after alias expansion, over a recipe and its bases (shipped: < 1,000)
MAX_FILES = 64               # files one recipe may pull in through `extends:`

_CORE = "tag:yaml.org,2002:"
ALLOWED_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null", "seq", "map", "merge")}


def max_bytes() -> int:
    """The size limit: $PIPELINE_MAX_RECIPE_BYTES when it is a positive integer, else 1 MiB."""
    value = os.environ.get(MAX_BYTES_ENV, "").strip()
    if value.isascii() and value.isdigit() and int(value) > 0:
        return min(int(value), 1 << 40)
    return DEFAULT_MAX_BYTES


@dataclass
class Budget:
    """What one recipe resolution (the file, its `extends:` bases, its `--set` values) may still use."""

    bytes: int
    nodes: int = MAX_NODES
    files: int = MAX_FILES

    @classmethod
    def new(cls) -> Budget:
        return cls(max_bytes())


class _RecipeLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 exponent floats and no timestamps, counting nodes as it composes."""

    def __init__(self, text: str, budget: Budget):
        super().__init__(text)
        self.budget = budget
        self.depth = 0
        self.sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes it expands to, its height)
        self.spent = 0

    def _refuse(self, message: str, mark) -> None:
        raise yaml.composer.ComposerError(None, None, message, mark)

    def _spend(self, nodes: int, mark) -> None:
        self.spent += nodes
        if self.spent > self.budget.nodes:
            self._refuse(f"more than {MAX_NODES:,} values (keys, items and scalars; an alias counts each time it "
                         f"is used); a recipe needs a few hundred", mark)

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if id(node) not in self.sizes:
                self._refuse(f"alias *{event.anchor} is used inside its own anchor (a recursive structure)",
                             event.start_mark)
            size, height = self.sizes[id(node)]
            if self.depth + height > MAX_DEPTH:
                self._refuse(f"nesting deeper than {MAX_DEPTH} levels (through alias *{event.anchor})",
                             event.start_mark)
            self._spend(size, event.start_mark)
            return node
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self._refuse(f"nesting deeper than {MAX_DEPTH} levels", event.start_mark)
        before = self.spent
        node = super().compose_node(parent, index)
        self.depth -= 1
        self._spend(1, node.start_mark)
        children = node.value if isinstance(node, yaml.SequenceNode) else \
            [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else []
        height = 1 + max((self.sizes[id(c)][1] for c in children), default=0)
        self.sizes[id(node)] = (self.spent - before, height)
        return node

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
            # `!!int abc`, `!!bool maybe`, an integer of 5,000 digits: located, not a traceback
            kind = node.tag.removeprefix(_CORE)
            reason = " (more than 4,300 digits)" if "digits" in str(exc) else ""
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {_preview(node.value)} as a YAML {kind}{reason}", node.start_mark) from None


# The YAML 1.1 resolvers minus timestamps (`2001-13-45` is a string to a recipe, not a date that
# fails to construct) and `=` (PyYAML's "value" tag, which has no constructor).
_RecipeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_CORE + "timestamp", _CORE + "value")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
# YAML 1.1 reads `1e-4` as a string; recipes are full of such learning rates, so read them as floats.
_RecipeLoader.add_implicit_resolver(
    _CORE + "float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))

_FORBIDDEN_IN_VALUE = re.compile(FORBIDDEN_CHAR.pattern + "|[\x0D\x85]")  # in a string after escapes: tab and \n only


def describe_char(char: str) -> str:
    """'control character U+001B (ESCAPE)' for error messages: the kind, the code point, its name."""
    name = unicodedata.name(char, "") or {"\x00": "NUL", "\x1b": "ESCAPE", "\x7f": "DELETE"}.get(char, "")
    kind = {"Cc": "control character", "Cs": "unpaired surrogate", "Cf": "invisible formatting character"}.get(
        unicodedata.category(char), "noncharacter")
    return f"{kind} U+{ord(char):04X}" + (f" ({name})" if name else "")


def _preview(value: Any) -> str:
    return f"'{printable(value, 40)}'" if isinstance(value, str) else type(value).__name__


def _location(source: str, mark: yaml.Mark) -> Location:
    return Location(source, mark.line + 1, mark.column + 1)


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of character `index`."""
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag


def _check_node(node: yaml.Node, path: KeyPath, source: str) -> None:
    """Only the YAML types a recipe uses, and no control characters in strings (escapes included)."""
    if node.tag not in ALLOWED_TAGS:
        what = (f"YAML tag {_short_tag(node.tag)}" if node.tag.startswith("!") or "python/" in node.tag
                or not node.tag.startswith(_CORE) else f"a YAML {node.tag.removeprefix(_CORE)} value")
        raise RecipeError([Problem(path, f"expected a string, number, boolean, null, list or mapping. "
                                         f"Received: {what}", _location(source, node.start_mark))])
    if isinstance(node, yaml.ScalarNode):
        bad = _FORBIDDEN_IN_VALUE.search(node.value)
        if bad:
            raise RecipeError([Problem(path, f"{describe_char(bad.group())} in a value (character "
                                             f"{bad.start() + 1} of the string); recipes hold printable text only",
                                       _location(source, node.start_mark))])


def _collect_marks(loader: _RecipeLoader, node: yaml.Node, path: KeyPath, source: str,
                   out: Marks) -> None:
    """Record where each key and item is written, refusing duplicate keys (PyYAML keeps the last)."""
    _check_node(node, path, source)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _CORE + "merge":
                _collect_marks(loader, value_node, path, source, {})  # checked; its keys are located at the `<<`
                continue
            _check_node(key_node, path, source)
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                # `? [a, b]`, `null: 1`, `.nan: 1`: YAML allows them, a recipe has no use for them
                shown = "null" if key is None else str(key).lower() if isinstance(key, bool) else \
                    printable(repr(key))
                raise RecipeError([Problem(path, f"expected a name as a key. Received: {shown}",
                                           _location(source, key_node.start_mark))])
            if key in seen:
                first = _location(source, seen[key].start_mark)
                raise RecipeError([Problem(path + (key,), f"duplicate key '{printable(str(key), 60)}' (first "
                                           f"written at line {first.line}, column {first.column})",
                                           _location(source, key_node.start_mark))])
            seen[key] = key_node
            out[path + (key,)] = _location(source, key_node.start_mark)
            _collect_marks(loader, value_node, path + (key,), source, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[path + (i,)] = _location(source, item.start_mark)
            _collect_marks(loader, item, path + (i,), source, out)


def _unshare(value: Any) -> Any:
    """A tree of fresh containers: an alias must not make two keys share one list that `--set`
    or inheritance would then change in both places."""
    if isinstance(value, dict):
        return {k: _unshare(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unshare(v) for v in value]
    return value


def check_text(text: str, source: str, path: KeyPath = ()) -> None:
    """Refuse control and invisible characters, naming the first one and where it is."""
    bad = FORBIDDEN_CHAR.search(text)
    if bad:
        line, column = _position(text, bad.start())
        raise RecipeError([Problem(path, f"{describe_char(bad.group())} is not allowed in a recipe",
                                   Location(source, line, column))])


def parse_yaml(text: str, source: str, path: KeyPath = (), budget: Budget | None = None) -> tuple[Any, Marks]:
    """Parse one YAML document into plain data plus `{path: Location}` for every key and item."""
    budget = budget or Budget.new()
    check_text(text.removeprefix("\ufeff"), source, path)
    loader = _RecipeLoader(text, budget)
    try:
        node = loader.get_single_node()
        budget.nodes -= loader.spent
        if node is None:
            return None, {path: Location(source, 1, 1)}
        marks: Marks = {path: _location(source, node.start_mark)}
        _collect_marks(loader, node, path, source, marks)
        return _unshare(loader.construct_document(node)), marks
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _location(source, mark) if mark else Location(source)
        what = exc.problem or "invalid YAML"
        if exc.context:
            what = f"{what} ({exc.context})"
        raise RecipeError([Problem(path, f"YAML error: {what}", where)]) from None
    except yaml.reader.ReaderError as exc:  # check_text refuses these first; kept as a safety net
        line, column = _position(text, exc.position)
        raise RecipeError([Problem(path, f"YAML error: {exc.reason}", Location(source, line, column))]) from None
    finally:
        loader.dispose()


def read_limited(file: FilePath, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; a located RecipeError otherwise.

    Opened without blocking and checked with fstat before reading, then read to at most limit + 1
    bytes, so a FIFO, a device such as /dev/zero or a huge file costs nothing.
    """
    where = Location(str(file))

    def refuse(reason: str):
        return RecipeError([Problem((), f"cannot read recipe: {reason}", where)])

    try:
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    except ValueError:  # a NUL character in the path
        raise refuse("the path contains a NUL character") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise refuse("it is a directory (expected a YAML file)")
        if not stat.S_ISREG(mode):
            raise refuse("not a regular file (a FIFO, device or socket)")
        chunks, size = [], 0
        while size <= limit:  # read to limit + 1 or the end, in chunks (os.read allocates what it is asked)
            chunk = os.read(fd, min(limit + 1 - size, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
    if len(data) > limit:  # `limit`: what is left of max_bytes() after the files read before this one
        raise refuse(f"larger than the limit of {max_bytes():,} bytes for a recipe and the files it extends "
                     f"(set {MAX_BYTES_ENV} to raise it)")
    return data


_MAGIC = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
          b"PK\x03\x04": "a zip archive (an .npz?)", b"\x93NUMPY": "a NumPy .npy array",
          b"\x1f\x8b": "gzip-compressed data", b"%PDF": "a PDF document", b"\x7fELF": "an executable",
          b"\x80": "a Python pickle"}
_BOMS = {b"\x00\x00\xfe\xff": "UTF-32 (big-endian)", b"\xff\xfe\x00\x00": "UTF-32 (little-endian)",
         b"\xfe\xff": "UTF-16 (big-endian)", b"\xff\xfe": "UTF-16 (little-endian)"}


def decode(data: bytes, source: str) -> str:
    """Strict UTF-8; otherwise say where decoding failed and what the bytes look like."""
    try:
        text = data.decode("utf-8")
        if "\x00" not in text:
            return text
        index = data.index(b"\x00")
    except UnicodeDecodeError as exc:
        index = exc.start
    line = data.count(b"\n", 0, index) + 1
    column = index - (data.rfind(b"\n", 0, index) + 1) + 1
    guess = next((f"{name} text with a byte-order mark" for bom, name in _BOMS.items() if data.startswith(bom)),
                 None) or next((kind for magic, kind in _MAGIC.items() if data.startswith(magic)), None)
    if guess is None and data[1:200:2].count(0) > 0.6 * len(data[1:200:2]):
        guess = "UTF-16 text (every other byte is zero)"
    if guess is None and b"\x00" in data[:index + 1]:
        guess = "binary data"
    if guess is None:
        guess = "text in another encoding (Latin-1 or Windows-1252?)"
    raise RecipeError([Problem((), f"not UTF-8 text: byte 0x{data[index]:02x} at offset {index}; it looks like "
                                   f"{guess}. Expected a YAML recipe saved as UTF-8",
                               Location(source, line, column))])


def load_yaml_file(file: FilePath, budget: Budget | None = None) -> tuple[Any, Marks]:
    budget = budget or Budget.new()
    data = read_limited(FilePath(file), budget.bytes)
    budget.bytes -= len(data)
    return parse_yaml(decode(data, str(file)), str(file), budget=budget)
