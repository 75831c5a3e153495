"""Value types with ranges, shared by the recipe schema and the components' factory signatures.

A factory argument annotated `units: PositiveInt` or `rate: Rate` is checked by `pipeline validate`
(`pipeline.components.check`, through pydantic, no framework import) and the catalogue shows its
range (`int (> 0)`, `float (>= 0, < 1)`), exactly like `epochs: PositiveInt` in the schema. Beneath
the ranges every scalar is strict (`strict`, applied to any factory annotation, third-party plugins
included): a boolean or a float is not an integer, a string is not a number, and a float must be
finite in float32, the precision Keras computes in (`1e308` would be `inf` there).
"""

from __future__ import annotations

import functools
import math
import pathlib
import stat
import types
import typing
from typing import Annotated, Any, Union

from annotated_types import Ge, Gt, Le, Lt
from pydantic import AfterValidator, BeforeValidator, Strict

from pipeline.errors import FORBIDDEN_CHAR
from pipeline.registries import ALL, Ref

FLOAT32_MAX = 3.4028234663852886e38
INT32_MAX = 2**31 - 1   # sizes (units, filters, batch): what TensorFlow and XLA index with
SEED_MAX = 2**32 - 1    # numpy.random.seed and keras.utils.set_random_seed take 0 .. 2**32 - 1
INT64_MAX = 2**63 - 1
NAME_MAX = 200


class Expected(ValueError):
    """A value outside its type's range; read as "expected float (finite, ...)" in a message."""

    def __init__(self, kind: str, constraint: str):
        super().__init__(f"{kind} ({constraint})")


def _finite32(value: float) -> float:
    if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
        raise Expected("float", f"finite, |x| <= {FLOAT32_MAX:.3g}: float32")
    return value


def _int64(value: int) -> int:
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise Expected("int", "at most 64 bits")
    return value


def _size(value: int) -> int:
    if value > INT32_MAX:
        raise Expected("int", f"at most {INT32_MAX:,}")
    return value


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):  # a Literal[0, 1, 2] would take `true` for 1
        raise Expected("a number", "not true or false")
    return value


def _name(value: str) -> str:
    """Experiment, run and recipe names end up in folder names: they must not act as paths."""
    if (not value.strip() or value.strip() in (".", "..") or any(c in value for c in "/\\\t\n\r")
            or FORBIDDEN_CHAR.search(value) or len(value) > NAME_MAX):
        raise Expected("name", f"not empty, no '/' or '\\', not '.' or '..', printable, at most {NAME_MAX} characters")
    return value


Int = Annotated[int, Strict(), AfterValidator(_int64)]
Float = Annotated[float, Strict(), AfterValidator(_finite32)]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]

PositiveInt = Annotated[int, Strict(), Gt(0), AfterValidator(_size)]     # units, filters, epochs, batch size
NonNegativeInt = Annotated[int, Strict(), Ge(0), AfterValidator(_size)]  # padding, patience, counts
PositiveFloat = Annotated[float, Strict(), Gt(0), AfterValidator(_finite32)]     # learning rates, factors
NonNegativeFloat = Annotated[float, Strict(), Ge(0), AfterValidator(_finite32)]  # penalties, noise, momentum
Rate = Annotated[float, Strict(), Ge(0), Lt(1)]          # a fraction dropped or smoothed: [0, 1)
Fraction = Annotated[float, Strict(), Gt(0), Lt(1)]      # a share of something: (0, 1)
UnitInterval = Annotated[float, Strict(), Ge(0), Le(1)]  # [0, 1]
Seed = Annotated[int, Strict(), Ge(0), Le(SEED_MAX)]
Name = Annotated[str, Strict(), AfterValidator(_name)]
Size2D = Union[PositiveInt, tuple[PositiveInt, PositiveInt]]  # kernel sizes, strides, pools: n or (height, width)
NotBool = BeforeValidator(_not_bool)  # Annotated[Literal[0, 1, 2], NotBool]


def _existing(value: str, folder: bool) -> str:
    """A data path must exist and be of the right kind when the recipe is validated (a stat, no read);
    regular files only, so a FIFO or a device such as /dev/zero is refused before anything opens it."""
    path = pathlib.Path(value)
    where = path.absolute()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise Expected(f"an existing {'folder' if folder else 'file'}", f"not found: {where}") from None
    except (OSError, ValueError) as exc:
        raise Expected(f"a readable {'folder' if folder else 'file'}",
                       f"{getattr(exc, 'strerror', None) or exc}: {where}") from None
    if folder and not stat.S_ISDIR(mode):
        raise Expected("a folder", f"{where} is not a folder")
    if not folder and stat.S_ISDIR(mode):
        raise Expected("a file", f"{where} is a folder")
    if not folder and not stat.S_ISREG(mode):
        raise Expected("a regular file", f"{where} is a FIFO, device or socket")
    return value


def _data_file(value: str) -> str:
    return _existing(value, folder=False)


def _data_folder(value: str) -> str:
    return _existing(value, folder=True)


DataFile = Annotated[str, Strict(), AfterValidator(_data_file)]  # paths relative to the working directory
DataFolder = Annotated[str, Strict(), AfterValidator(_data_folder)]
_NAMED = {_name: "name", _data_file: "file", _data_folder: "folder"}  # how the catalogue calls them

_STRICT = {int: Int, float: Float, bool: Bool, str: Str}
_CONTAINERS = (list, tuple, dict, set, frozenset)


@functools.lru_cache(maxsize=None)
def strict(annotation: Any) -> Any:
    """`annotation` with every bare int, float, bool and str made strict (and floats finite), inside
    unions, containers and Annotated; lists still become tuples where a tuple is expected."""
    if annotation in _STRICT:
        return _STRICT[annotation]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return Annotated[(strict(args[0]), *annotation.__metadata__)]
    if origin in (Union, types.UnionType):
        return Union[tuple(strict(a) for a in args)]
    if origin in _CONTAINERS and args:
        return origin[tuple(a if a is Ellipsis else strict(a) for a in args)]
    return annotation


def type_name(annotation: Any, *, drop_none: bool = False) -> str:
    """A short, readable type: `int`, `list[int]`, `'valid' | 'same'`, `regularizer` for a `Ref`,
    `float (>= 0, < 1)` for a range.

    `drop_none` leaves `None` out of a union whose default is None (`= None` already says it).
    """
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        refs = [m for m in annotation.__metadata__ if isinstance(m, Ref)]
        if refs:
            kind = refs[0].kind
            return ALL[kind].singular if kind in ALL else kind
        metadata = [n for m in annotation.__metadata__ for n in (m, *getattr(m, "metadata", ()))]
        bounds = [f"{symbol} {getattr(m, attr)}" for m in metadata
                  for attr, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
                  if getattr(m, attr, None) is not None]  # pydantic/annotated-types bounds
        base = type_name(args[0], drop_none=drop_none)
        base = next((_NAMED[m.func] for m in metadata if getattr(m, "func", None) in _NAMED), base)
        return f"{base} ({', '.join(bounds)})" if bounds else base
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if not (drop_none and a is type(None))]
        return " | ".join(type_name(a) for a in members)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if annotation is type(None):
        return "None"
    if annotation is Any:
        return "any"
    if origin is not None:
        inner = ", ".join("..." if a is Ellipsis else type_name(a) for a in args)
        base = getattr(origin, "__name__", str(origin))
        return f"{base}[{inner}]" if args else base
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")
