"""Memory-mapping the arrays of an uncompressed `.npz` (what `np.savez` writes).

NumPy ignores `mmap_mode` for `.npz` archives. An archive written by `np.savez` stores each member
uncompressed (zip method STORED), so each `.npy` member lies as-is at a fixed offset of the file:
past its zip local header (30 bytes + file name + extra field), then the `.npy` header, which
`numpy.lib.format` reads. `np.savez_compressed` archives (DEFLATED) cannot be mapped and are refused.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zip local file header, 30 bytes (APPNOTE 4.3.7)
LOCAL_MAGIC = b"PK\x03\x04"


class CompressedArchive(ValueError):
    """The archive's members are compressed: they cannot be memory-mapped."""


def _member_offset(handle, info: zipfile.ZipInfo) -> int:
    """Where the member's data starts: after its local header, whose name and extra lengths may
    differ from the central directory's."""
    handle.seek(info.header_offset)
    fields = LOCAL_HEADER.unpack(handle.read(LOCAL_HEADER.size))
    if fields[0] != LOCAL_MAGIC:
        raise ValueError(f"bad zip local header for member {info.filename!r}")
    name_length, extra_length = fields[-2], fields[-1]
    return info.header_offset + LOCAL_HEADER.size + name_length + extra_length


def npz_memmaps(path: str | Path) -> dict[str, np.memmap]:
    """{array name: read-only memmap} for every `.npy` member of an uncompressed `.npz`.

    Raises `CompressedArchive` for a compressed member, ValueError for a member that is not a plain
    array (object arrays need pickles, which are never loaded)."""
    path = Path(path)
    out = {}
    with zipfile.ZipFile(path) as archive, open(path, "rb") as handle:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            name = info.filename[:-len(".npy")]
            if info.compress_type != zipfile.ZIP_STORED:
                raise CompressedArchive(f"array '{name}' of {path} is compressed (written by np.savez_compressed)")
            handle.seek(_member_offset(handle, info))
            version = npy_format.read_magic(handle)
            read_header = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}.get(
                version, lambda h: npy_format._read_array_header(h, version))  # 3.0: utf-8 field names
            shape, fortran, dtype = read_header(handle)
            if dtype.hasobject:
                raise ValueError(f"array '{name}' of {path} holds Python objects: it cannot be memory-mapped "
                                 f"(and pickles are never loaded)")
            if 0 in shape:  # nothing to map (mmap refuses an empty length)
                out[name] = np.empty(shape, dtype)
                continue
            out[name] = np.memmap(path, dtype=dtype, mode="r", offset=handle.tell(), shape=shape,
                                  order="F" if fortran else "C")
    return out
