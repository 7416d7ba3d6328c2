"""An exclusive lock on a run folder, so that one process at a time writes it.

``<run folder>/.jaxrec.lock`` is created with ``O_CREAT | O_EXCL`` (atomic on local and NFSv3+
filesystems) and holds the holder's ``{"pid", "host"}``. A lock whose holder ran on this host
and no longer exists is stale (the run was killed) and is taken over. Object stores such as
``gs://`` have no exclusive create, so a run folder there is not locked (a warning says so).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from types import TracebackType
from typing import Self

from etils import epath

__all__ = ["LOCK_NAME", "RunFolderLocked", "RunLock"]

LOCK_NAME = ".jaxrec.lock"
_log = logging.getLogger(__name__)


class RunFolderLocked(OSError):
    """Another live process holds the run folder's lock (the message names it)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """Context manager holding ``folder/.jaxrec.lock`` from ``__enter__`` to ``__exit__``.

    Raises (on enter):
      RunFolderLocked: a live process (or one on another host) holds the lock.
      OSError: the lock file cannot be created (read-only folder, ...), naming its path.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = epath.Path(folder)
        self.path = self.folder / LOCK_NAME
        self._held = False

    def _holder(self) -> dict | None:
        try:
            holder = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (ValueError, UnicodeDecodeError):
            return {}
        return holder if isinstance(holder, dict) else {}

    def _create(self) -> bool:
        """Creates the lock file atomically; False if it already exists."""
        me = {"pid": os.getpid(), "host": socket.gethostname()}
        try:
            fd = os.open(os.fspath(self.path), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        except OSError as err:
            raise OSError(f"cannot create the run lock {self.path}: {err.strerror}") from err
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
            f.flush()
            os.fsync(f.fileno())
        return True

    def acquire(self) -> None:
        if "://" in str(self.folder):
            _log.warning(
                "%s is not a local folder: it is not locked against other runs", self.folder
            )
            return
        for _ in range(2):  # a second try after removing a stale lock
            if self._create():
                self._held = True
                return
            holder = self._holder()
            if holder is None:  # released meanwhile
                continue
            pid, host = holder.get("pid"), holder.get("host")
            if host == socket.gethostname() and isinstance(pid, int) and not _alive(pid):
                _log.warning("removing stale lock %s of dead process %d", self.path, pid)
                self.path.unlink(missing_ok=True)
                continue
            who = f"pid {pid} on {host}" if pid else "an unknown process (unreadable lock file)"
            raise RunFolderLocked(
                f"run folder {self.folder} is in use by {who}; wait for it, or remove "
                f"{self.path} if that run is gone",
            )
        raise RunFolderLocked(f"could not take the lock {self.path}")

    def release(self) -> None:
        if self._held and (self._holder() or {}).get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)
        self._held = False

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
