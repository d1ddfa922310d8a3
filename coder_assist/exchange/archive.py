"""Safe, in-memory access to a ``.qdpx`` zip archive: bounded sizes, no unsafe names, nothing extracted.

Every limit is checked twice: from the central directory before any entry is read, and again
while an entry is decompressed (in chunks), because declared sizes can lie.
"""

from __future__ import annotations

import lzma
import re
import struct
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import InputError

MB = 1024 * 1024

_DRIVE = re.compile(r"^[A-Za-z]:")
_SUPPORTED_METHODS = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)
_FLAG_ENCRYPTED = 0x1
_FLAG_STRONG_ENCRYPTION = 0x40
# What zipfile and its decompressors raise on damaged or hostile input.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    OSError,
    ValueError,
    struct.error,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,
    RuntimeError,
    IndexError,
    OverflowError,
    UnicodeDecodeError,
)


@dataclass(frozen=True)
class Limits:
    """Bounds on what an archive may hold; anything beyond them is refused as a likely zip bomb."""

    max_entries: int = 10_000
    max_entry_size: int = 200 * MB
    """Largest uncompressed size of one entry, in bytes."""
    max_total_size: int = 1024 * MB
    """Largest uncompressed size of all entries together, in bytes."""
    max_ratio: float = 200.0
    """Largest compression ratio (uncompressed / compressed) ..."""
    ratio_min_size: int = 1 * MB
    """... for entries whose uncompressed size is over this many bytes."""
    chunk_size: int = 64 * 1024


def unsafe_name_reason(name: str) -> str | None:
    """Why an entry name is unsafe (zip-slip and friends), or None when it is fine."""
    if not name:
        return "empty name"
    if "\x00" in name:
        return "NUL byte"
    if "\\" in name:
        return "backslash"
    if name.startswith("/") or _DRIVE.match(name):
        return "absolute path"
    if any(part == ".." for part in name.split("/")):
        return "'..' segment"
    return None


def _ratio_too_high(size: int, compressed: int, limits: Limits) -> bool:
    return size > limits.ratio_min_size and size > limits.max_ratio * max(compressed, 1)


def check_infos(infos: Iterable[zipfile.ZipInfo], path: str | Path, limits: Limits) -> None:
    """Refuse the archive from its central directory alone: names, encryption, sizes, ratios."""
    infos = list(infos)
    if len(infos) > limits.max_entries:
        raise InputError(path, f"archive has {len(infos)} entries (limit {limits.max_entries})")
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.orig_filename
        reason = unsafe_name_reason(name)
        if reason is not None:
            raise InputError(path, f"unsafe entry name {name!r} in archive ({reason})")
        if name in seen:
            raise InputError(path, f"duplicate entry name {name!r} in archive")
        seen.add(name)
        if info.flag_bits & (_FLAG_ENCRYPTED | _FLAG_STRONG_ENCRYPTION):
            raise InputError(path, f"entry {name!r} is encrypted; encrypted archives are not supported")
        if info.file_size > limits.max_entry_size:
            raise InputError(
                path, f"entry {name!r} is too large: {info.file_size} bytes (limit {limits.max_entry_size})"
            )
        if _ratio_too_high(info.file_size, info.compress_size, limits):
            raise InputError(
                path,
                f"entry {name!r} looks like a zip bomb: {info.file_size} bytes from {info.compress_size} "
                f"compressed (ratio limit {limits.max_ratio:g}:1)",
            )
        total += info.file_size
        if total > limits.max_total_size:
            raise InputError(
                path, f"archive is too large uncompressed: over {limits.max_total_size} bytes in total"
            )


def read_bounded(
    stream: IO[bytes],
    name: str,
    declared: int,
    compressed: int,
    budget: int,
    path: str | Path,
    limits: Limits,
) -> bytes:
    """Read ``stream`` in chunks, refusing it as soon as it yields more than declared or allowed."""
    chunks: list[bytes] = []
    got = 0
    while True:
        chunk = stream.read(limits.chunk_size)
        if not chunk:
            break
        got += len(chunk)
        if got > declared:
            raise InputError(path, f"entry {name!r} is larger than its declared size of {declared} bytes")
        if got > limits.max_entry_size:
            raise InputError(path, f"entry {name!r} is too large (limit {limits.max_entry_size} bytes)")
        if got > budget:
            raise InputError(
                path, f"archive is too large uncompressed: over {limits.max_total_size} bytes in total"
            )
        if _ratio_too_high(got, compressed, limits):
            raise InputError(
                path, f"entry {name!r} looks like a zip bomb (ratio limit {limits.max_ratio:g}:1)"
            )
        chunks.append(chunk)
    return b"".join(chunks)


class Archive:
    """An open ``.qdpx`` (zip) whose entries are read into memory on demand, never to disk."""

    def __init__(self, path: str | Path, limits: Limits | None = None) -> None:
        self.path = str(path)
        self.limits = limits or Limits()
        self._read_total = 0
        try:
            self._zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise InputError(path, "file not found") from None
        except IsADirectoryError:
            raise InputError(path, "is a directory, not a .qdpx file") from None
        except zipfile.BadZipFile as exc:
            reason = f"not a zip archive, or a truncated one (a .qdpx is a zip file): {_one_line(exc)}"
            raise InputError(path, reason) from None
        except _ZIP_ERRORS as exc:
            raise InputError(path, f"not a readable zip archive: {_one_line(exc)}") from None
        try:
            infos = self._zip.infolist()
            check_infos(infos, path, self.limits)
        except BaseException:
            self._zip.close()
            raise
        self._infos = {info.filename: info for info in infos}
        self._lower = {}
        for name in self._infos:
            self._lower.setdefault(name.lower(), name)

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    @property
    def names(self) -> list[str]:
        """Entry names in directory order."""
        return list(self._infos)

    def find(self, name: str) -> str | None:
        """The entry called ``name``, matched exactly and then case-insensitively; None if absent."""
        if name in self._infos:
            return name
        return self._lower.get(name.lower())

    def read(self, name: str) -> bytes:
        """The uncompressed bytes of entry ``name``, within the limits."""
        info = self._infos[name]
        if info.compress_type not in _SUPPORTED_METHODS:
            raise InputError(
                self.path, f"entry {name!r} uses unsupported compression method {info.compress_type}"
            )
        budget = self.limits.max_total_size - self._read_total
        try:
            with self._zip.open(info) as stream:
                data = read_bounded(
                    stream, name, info.file_size, info.compress_size, budget, self.path, self.limits
                )
        except InputError:
            raise
        except _ZIP_ERRORS as exc:
            raise InputError(self.path, f"entry {name!r} is corrupt: {_one_line(exc)}") from None
        self._read_total += len(data)
        return data


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def open_archive(path: str | Path, limits: Limits | None = None) -> Archive:
    """Open ``path`` as a zip and check its central directory; raise InputError when unsafe."""
    return Archive(path, limits)
