"""Writing files the user named: atomically, so a failure leaves no file or the old one intact."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ..errors import InputError


def read_bounded(path: Path, limit: int, what: str = "file") -> bytes:
    """The bytes of a file the user named, refused unread when over ``limit`` bytes; any problem
    is an :class:`InputError` naming the file ("cannot read: reason", "<what> is over N MB")."""
    try:
        if path.stat().st_size > limit:
            raise InputError(path, f"{what} is over {limit // 1_000_000} MB")
        return path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then ``os.replace`` it.

    Raises ``OSError`` (the caller names the file in its own error); the temporary file never stays."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
