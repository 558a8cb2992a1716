"""DPoP proof replay detection: each ``jti`` is accepted once per key, and remembered until its proof expires.

Two stores, as ``AUTH0_DPOP_REPLAY_CACHE`` says:

- unset: ``HostStore``, a SQLite file every worker of this host shares
  (``AUTH0_DPOP_REPLAY_FILE``). The hashed (key, ``jti``) is unique in it, so
  the INSERT is the test-and-set. An entry is never dropped before it expires:
  holding ``AUTH0_DPOP_REPLAY_MAX_ENTRIES`` entries, it refuses new proofs
  until the oldest expire. Other hosts do not see it.
- a Django cache alias (Redis, for several hosts): ``cache.add`` is atomic
  (``SET NX``), so two workers or hosts racing with one proof cannot both win.

A store that cannot answer, or is full, refuses the request (503): never an
unchecked acceptance.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import sqlite3
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from django.core.cache import caches

from authn.dpop import Proof
from authn.errors import InvalidProof, ReplayCacheUnavailable

RETRY_AFTER = 5  # seconds a client waits when the replay store is down or full
KEY_PREFIX = "authn:dpop:jti:"
BUSY_TIMEOUT = 0.5  # seconds a worker waits for another's write: a store locked longer is a 503, never a hang


class ReplayStore(Protocol):
    def add(self, key: bytes, *, expires_at: float, now: float) -> bool:
        """Record ``key`` until ``expires_at``: ``False`` if it is recorded already; raises if it cannot tell."""


def remember(proof: Proof, store: ReplayStore, *, expires_at: float, now: float) -> None:
    """Record ``proof``'s ``jti`` until ``expires_at``; ``InvalidProof`` if it was recorded before."""
    key = hashlib.sha256(f"{proof.jkt}\x00{proof.jti}".encode()).digest()
    try:
        added = store.add(key, expires_at=expires_at, now=now)
    except Exception as err:  # whatever the store raises: fail closed, never accept unchecked
        error = ReplayCacheUnavailable(RETRY_AFTER)
        # Its type, not its message: that may hold a URL's password.
        reason = "full" if isinstance(err, StoreFull) else f"{type(err).__module__}.{type(err).__name__}"
        error.log_fields = lambda: {"reason": reason}
        raise error from err
    if not added:
        raise InvalidProof("DPoP proof has been used before.")


def store(cache_alias: str, file: Any, max_entries: int) -> ReplayStore:
    """The store the settings name: a Django cache if ``cache_alias`` is set, else the host's file."""
    return CacheStore(cache_alias) if cache_alias else host_store(file, max_entries)


def host_store(file: Any, max_entries: int) -> HostStore:
    """The store in ``file``, or by default in a directory of this user's own in the system temporary directory."""
    return HostStore(Path(file) if file else default_file(), max_entries, own_directory=not file)


class CacheStore:
    """Keys in a Django cache, added atomically, expiring with their proofs."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def add(self, key: bytes, *, expires_at: float, now: float) -> bool:
        timeout = max(1, math.ceil(expires_at - now))
        return bool(caches[self.alias].add(KEY_PREFIX + key.hex(), 1, timeout))


class StoreFull(Exception):
    """The host store holds its most entries, and the oldest has not expired."""


# The keys in the order they came (rowid), so the oldest are dropped first and the count is the span of rowids.
_SCHEMA = "CREATE TABLE IF NOT EXISTS jti (key BLOB NOT NULL UNIQUE, expires REAL NOT NULL)"
_ADD = "INSERT OR IGNORE INTO jti VALUES (?1, ?2)"  # a key kept, expired or not, is a jti used before
# The two oldest, those expired: a request adds one, so the store holds about what is live. Out of order (an
# older proof, a newer one dated ahead) an expired one waits for those before it: kept longer, never shorter.
_PURGE_SOME = "DELETE FROM jti WHERE rowid IN (SELECT rowid FROM jti ORDER BY rowid LIMIT 2) AND expires <= ?1"
_PURGE_EXPIRED = (  # every entry older than the oldest not expired
    "DELETE FROM jti WHERE rowid < coalesce("
    "(SELECT rowid FROM jti WHERE expires > ?1 ORDER BY rowid LIMIT 1), (SELECT max(rowid) FROM jti) + 1)"
)
_ENTRIES = "SELECT coalesce((SELECT max(rowid) FROM jti) - (SELECT min(rowid) FROM jti) + 1, 0)"  # all added since


class HostStore:
    """Keys in a SQLite file every worker of a host shares: kept until they expire; when full, new ones refused."""

    def __init__(self, path: Path, max_entries: int, *, own_directory: bool = False) -> None:
        self.path, self.max_entries, self.own_directory = path, max_entries, own_directory
        self._lock = threading.Lock()  # one connection per process, used by one thread at a time
        self._connection: sqlite3.Connection | None = None
        self._opened: tuple[int, int] | None = None  # the process and the file (inode) it was opened in

    def add(self, key: bytes, *, expires_at: float, now: float) -> bool:
        with self._lock:
            db = self._database()
            _begin_writing(db)
            with db:  # commits, or rolls back whatever was raised
                full = self._full(db, now)
                added = not full and db.execute(_ADD, (key, expires_at)).rowcount == 1
        if full:
            raise StoreFull
        return added

    def check(self) -> None:
        """Open the store (creating it if need be), check it whole, and close it; raises what a request would meet."""
        db = self._open()
        try:
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("the file is damaged: delete it (it holds nothing older than minutes)")
        finally:
            db.close()

    def _full(self, db: sqlite3.Connection, now: float) -> bool:
        """Whether the store holds its most entries, once the expired ones it may drop are dropped."""
        db.execute(_PURGE_SOME, (now,))
        if db.execute(_ENTRIES).fetchone()[0] < self.max_entries:
            return False
        db.execute(_PURGE_EXPIRED, (now,))
        return bool(db.execute(_ENTRIES).fetchone()[0] >= self.max_entries)

    def _database(self) -> sqlite3.Connection:
        """This process's connection to the file at ``path``: a new one after a fork, and once the file is deleted
        or replaced (SQLite would go on writing to the old one, which a new worker does not read)."""
        if self._connection is None or self._opened != self._identity():
            self._connection = self._open()
            self._opened = self._identity()
        return self._connection

    def _identity(self) -> tuple[int, int] | None:
        try:
            return os.getpid(), os.stat(self.path).st_ino
        except FileNotFoundError:
            return None

    def _open(self) -> sqlite3.Connection:
        if self.own_directory:
            private_directory(self.path.parent)
        private_file(self.path)
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode = WAL")  # workers read and write without waiting on each other
            # No fsync: a worker that crashes loses nothing; a machine that crashes, this file (``check()`` says so).
            db.execute("PRAGMA synchronous = OFF")
            db.execute(_SCHEMA)
            db.execute("PRAGMA busy_timeout = 0")  # from now on, _begin_writing waits
        except BaseException:
            db.close()
            raise
        return db


def _begin_writing(db: sqlite3.Connection) -> None:
    """Take the write lock for a whole test-and-set, waiting BUSY_TIMEOUT at most. Another worker holds it for
    some microseconds: this looks again within a millisecond, where SQLite's own wait sleeps up to 100 ms."""
    deadline, pause = time.monotonic() + BUSY_TIMEOUT, 0.00005
    while True:
        try:
            db.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as err:
            if err.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(2 * pause, 0.001)


def default_file() -> Path:
    """A file in a directory of this user's own in the system temporary directory (SQLite puts its journal
    beside the file: in a shared directory, another user could plant one)."""
    return Path(tempfile.gettempdir()) / f"authn-dpop-replay-{os.getuid()}" / "jti.sqlite3"


def private_directory(path: Path) -> None:
    """Make ``path`` a directory only this user may enter, or raise if it is someone else's or open to others."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    _require_private(path, "directory")


def private_file(path: Path) -> None:
    """Create ``path`` readable and writable by this user only, or raise if it exists and others may use it."""
    # Only ever opened to create it: closing a descriptor of a file drops the locks SQLite holds on it in this process.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    _require_private(path, "file")


def _require_private(path: Path, kind: str) -> None:
    info = path.lstat()  # a symbolic link is neither
    is_kind = stat.S_ISDIR if kind == "directory" else stat.S_ISREG
    if not is_kind(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{path} is not a {kind} of this user's that no other user may read or write")
