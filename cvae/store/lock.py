"""The run lock: an flock on <run>/.lock held by the trainer (the kernel drops it when the process dies), with a
heartbeat (the holder touches the file every few seconds), so a frozen holder is told from a working one."""

from __future__ import annotations

import errno
import fcntl
import math
import os
import threading
import time
from pathlib import Path

from . import procs
from .errors import RunError

LOCK_FILE = ".lock"
HEARTBEAT_SECONDS = 2.0  # how often a lock holder touches its .lock, even while it evaluates
HEARTBEAT_TIMEOUT_ENV = "CVAE_HEARTBEAT_TIMEOUT"
HEARTBEAT_TIMEOUT = 20.0  # a lock holder silent for longer is "not responding" (frozen, e.g. SIGSTOP or Ctrl-Z)


class RunLock:
    """An exclusive flock on <run>/.lock held by the training process; the kernel drops it when the process dies."""

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / LOCK_FILE
        self.fd: int | None = None
        self._beating: threading.Event | None = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False if another process holds it."""
        try:
            # O_NOFOLLOW: a .lock planted as a link to another file must not get truncated (we may run as root).
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise RunError(f"run {self.path.parent.name!r}: {LOCK_FILE} is a symbolic link; refused") from None
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        self._beating = threading.Event()
        threading.Thread(target=self._beat, args=(fd, self._beating), name="cvae-heartbeat", daemon=True).start()
        return True

    @staticmethod
    def _beat(fd: int, stop: threading.Event) -> None:
        """Touch the lock file every HEARTBEAT_SECONDS while held: a frozen holder stops beating."""
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                os.utime(fd)
            except OSError:
                return

    def release(self) -> None:
        """Drop the lock."""
        if self._beating is not None:
            self._beating.set()
            self._beating = None
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def is_locked(run_dir: str | os.PathLike) -> bool:
    """True while a live process holds the run's lock (i.e. trains it)."""
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def heartbeat_timeout() -> float:
    """Seconds of silence after which a lock holder is 'not responding': $CVAE_HEARTBEAT_TIMEOUT or 20."""
    try:
        value = float(os.environ.get(HEARTBEAT_TIMEOUT_ENV, HEARTBEAT_TIMEOUT))
    except ValueError:
        return HEARTBEAT_TIMEOUT
    return value if math.isfinite(value) and value >= 2 * HEARTBEAT_SECONDS else HEARTBEAT_TIMEOUT


def responsive(run_dir: str | os.PathLike) -> bool:
    """True if the run's lock was touched within heartbeat_timeout() (its holder is alive and not frozen)."""
    try:
        age = time.time() - os.stat(Path(run_dir) / LOCK_FILE, follow_symlinks=False).st_mtime
    except OSError:
        return False
    return age <= heartbeat_timeout()


def trainer_pids(run_dir: str | os.PathLike) -> list[int]:
    """The processes that hold the run's lock and are `python -m cvae train` for this run: the only ones the app
    may signal."""
    run_dir = Path(run_dir)
    return sorted(pid for pid in procs.lock_holders(run_dir / LOCK_FILE)
                  if pid != os.getpid() and procs.is_trainer_of(pid, run_dir.name))
