"""Reading and writing Dockerfiles without changing anything we did not mean to change.

Encoding (UTF-8, with or without BOM; Latin-1 when the bytes are not UTF-8), line endings
(CRLF stays CRLF: the text is never re-split) and file mode are kept; writes are atomic.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

BOM = b"\xef\xbb\xbf"
MAX_SIZE = 5 * 1024 * 1024  # a Dockerfile is never this large; anything bigger is not one


class InputError(Exception):
    """A file we refuse to touch; the message is one line, for the user."""


@dataclass(frozen=True)
class Source:
    path: Path
    text: str
    encoding: str  # "utf-8" or "latin-1"
    bom: bool

    def encode(self, text: str) -> bytes:
        data = text.encode(self.encoding)
        return BOM + data if self.bom else data


def decode(data: bytes, path: Path) -> Source:
    if b"\x00" in data:
        raise InputError(f"{path}: binary file (contains NUL bytes), not a Dockerfile")
    bom = data.startswith(BOM)
    if bom:
        data = data[len(BOM) :]
    try:
        return Source(path, data.decode("utf-8"), "utf-8", bom)
    except UnicodeDecodeError:
        return Source(path, data.decode("latin-1"), "latin-1", bom)


def read_source(path: Path) -> Source:
    try:
        if path.is_dir():
            raise InputError(f"{path}: is a directory")
        size = path.stat().st_size
        if size > MAX_SIZE:
            raise InputError(f"{path}: {size} bytes is too large for a Dockerfile")
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    if not data.strip(BOM + b" \t\r\n"):
        raise InputError(f"{path}: empty file")
    return decode(data, path)


def read_stdin(name: str) -> Source:
    """The Dockerfile piped to stdin (``name`` for messages), with the same checks as a file."""
    import sys

    stream = getattr(sys.stdin, "buffer", sys.stdin)
    try:
        data = stream.read(MAX_SIZE + 1)
    except OSError as e:
        raise InputError(f"{name}: cannot read stdin ({e.strerror or e})") from None
    if isinstance(data, str):  # a text stream without a buffer (tests substitute one)
        data = data.encode("utf-8")
    if len(data) > MAX_SIZE:
        raise InputError(f"{name}: more than {MAX_SIZE} bytes on stdin is too large for a Dockerfile")
    if not data.strip(BOM + b" \t\r\n"):
        raise InputError(f"{name}: empty input on stdin")
    return decode(data, Path(name))


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write via a temp file in the same directory + rename, keeping the file's mode.

    A symlink is written through: its target is replaced (the temp file sits next to the target, so
    the rename stays on one file system) and the link stays a link.
    """
    path = Path(os.path.realpath(path))
    if mode is None:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".slimml.tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
