"""Safe files: atomic writes, schema-checked reads, the job lock, and disk errors.

Every write is atomic (temporary file, fsync, rename): a reader, a crash or a full disk sees
the old file or the new one, never half of one. A file that exists but fails its schema
raises :class:`Corrupt` with the path and the reason. Nothing here unpickles or evaluates
what it reads. No torch.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

# What a full, over-quota or read-only results disk raises: the runner stops with one
# message instead of failing job after job.
DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)


def disk_problem(path: Path) -> str:
    """Why nothing can be written under ``path``: a read-only or a full file system."""
    path = Path(path)
    while not path.exists() and path.parent != path:  # the run folder may not exist yet
        path = path.parent
    try:
        st = os.statvfs(path)
    except OSError as err:
        return f"{path}: {err.strerror}"
    if st.f_flag & os.ST_RDONLY:
        return f"{path}: Read-only file system"
    return f"{path}: No space left on device ({st.f_bavail * st.f_frsize // 1024} KiB free)"


class Corrupt(Exception):
    """A file of the contract that exists but fails its schema."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path, self.why = path, why


def _why(err: Exception) -> str:
    if isinstance(err, ValidationError):
        e = err.errors(include_url=False)[0]
        return f"{'.'.join(map(str, e['loc'])) or 'content'}: {e['msg']}"
    return f"{type(err).__name__}: {str(err)[:120]}"


def read_model(path: Path, model: type[BaseModel]) -> Any:
    """``model`` validated from JSON ``path``; None when absent; :class:`Corrupt` otherwise."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return model.model_validate_json(data)
    except (ValidationError, ValueError) as err:
        raise Corrupt(path, "not valid JSON of its schema (" + _why(err) + ")") from None


def write_atomic(path: Path, data: str | bytes | memoryview) -> None:
    """Write ``data`` to ``path`` atomically: a reader sees the old file or the new one.
    A full disk raises ``OSError(ENOSPC)`` and leaves no temporary file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w" if isinstance(data, str) else "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


def cache_dir() -> Path:
    """spp-lab's cache folder: ``$XDG_CACHE_HOME/spp-lab``, else ``~/.cache/spp-lab`` (what it
    remembers between commands: verified images, measured backbones)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "spp-lab"


def read_json(path: Path) -> Any:
    """Parsed JSON, or None when the file is absent or unreadable (progress files only)."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


class JobLock:
    """Non-blocking exclusive ``flock`` on the file ``path`` (a run folder's ``.lock``);
    released when the holder dies."""

    def __init__(self, path: Path) -> None:
        self.path, self.fd = Path(path), None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def held_elsewhere(self) -> bool:
        """True if another process holds the lock now."""
        if not self.path.exists():
            return False
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False


def read_mapping(path: Path, parse: Any, kind: str) -> dict[str, Any] | None:
    """``path`` parsed to a mapping; None when absent; :class:`Corrupt` otherwise."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = parse(raw)
    except (ValueError, yaml.YAMLError) as err:
        raise Corrupt(path, f"not {kind} ({str(err)[:80]})") from None
    if not isinstance(data, dict):
        raise Corrupt(path, "not a mapping")
    return data
