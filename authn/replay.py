"""DPoP proof replay detection: each ``jti`` is accepted once per key, and remembered until its proof expires.

Two stores, as the replay cache setting says:

- unset: ``HostStore``, a SQLite file every worker of this host shares
  (the replay file setting). The hashed (key, ``jti``) is its primary key,
  so one INSERT is the test-and-set. A key is never dropped before it expires:
  keys go a table at a time, once the last of a table's keys has expired.
  Holding as many keys as its size setting allows, it refuses new proofs until
  then. Other hosts do not see it.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from django.core.cache import caches

from authn.dpop import Proof
from authn.errors import InvalidProof, ReplayStoreUnavailable

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
        error = ReplayStoreUnavailable(RETRY_AFTER)
        # Its type, not its message: that may hold a URL's password.
        reason = "full" if isinstance(err, StoreFull) else f"{type(err).__module__}.{type(err).__name__}"
        error.log_fields = lambda: {"reason": reason}
        raise error from err
    if not added:
        raise InvalidProof("DPoP proof has been used before.")


def store(cache_alias: str, file: Any, max_entries: int, clock: Callable[[], float] = time.monotonic) -> ReplayStore:
    """The store the settings name: a Django cache if ``cache_alias`` is set, else the host's file."""
    return CacheStore(cache_alias) if cache_alias else host_store(file, max_entries, clock)


def host_store(file: Any, max_entries: int, clock: Callable[[], float] = time.monotonic) -> HostStore:
    """The store in ``file``, or by default in a directory of this user's own in the system temporary directory."""
    return HostStore(Path(file) if file else default_file(), max_entries, own_directory=not file, clock=clock)


class CacheStore:
    """Keys in a Django cache, added atomically, expiring with their proofs."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def add(self, key: bytes, *, expires_at: float, now: float) -> bool:
        timeout = max(1, math.ceil(expires_at - now))
        return bool(caches[self.alias].add(KEY_PREFIX + key.hex(), 1, timeout))


class StoreFull(Exception):
    """The host store holds its most entries, none of which it may drop yet."""


# Two tables take turns: one takes new keys while the other, closed, waits for the last of its keys to expire;
# then it is emptied at once (no row is read) and takes the next turn. A key is a rowid: one B-tree to write.
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS jti0 (key INTEGER PRIMARY KEY, expires REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS jti1 (key INTEGER PRIMARY KEY, expires REAL NOT NULL)",
    # until: when the last of the table's keys expires; entries: how many it holds
    "CREATE TABLE IF NOT EXISTS turns "
    "(name TEXT PRIMARY KEY, taking INTEGER NOT NULL, until REAL NOT NULL, entries INTEGER NOT NULL) WITHOUT ROWID",
    "INSERT OR IGNORE INTO turns VALUES ('jti0', 1, 0, 0), ('jti1', 0, 0, 0)",
    "CREATE TRIGGER IF NOT EXISTS jti0_added AFTER INSERT ON jti0 BEGIN "
    "UPDATE turns SET entries = entries + 1, until = max(until, NEW.expires) WHERE name = 'jti0'; END",
    "CREATE TRIGGER IF NOT EXISTS jti1_added AFTER INSERT ON jti1 BEGIN "
    "UPDATE turns SET entries = entries + 1, until = max(until, NEW.expires) WHERE name = 'jti1'; END",
)
# One statement, so one write transaction: added unless either table holds the key (a jti used before) or the
# store is full. Any table may take a key (a worker's idea of whose turn it is can be a second old): its
# trigger counts it and moves its table's expiry.
_ADD = {
    "jti0": "INSERT OR IGNORE INTO jti0 SELECT :key, :expires "
    "WHERE NOT EXISTS (SELECT * FROM jti1 WHERE key = :key) AND (SELECT sum(entries) FROM turns) < :most",
    "jti1": "INSERT OR IGNORE INTO jti1 SELECT :key, :expires "
    "WHERE NOT EXISTS (SELECT * FROM jti0 WHERE key = :key) AND (SELECT sum(entries) FROM turns) < :most",
}
_ENTRIES = "SELECT sum(entries) FROM turns"
_TURNS = "SELECT name, until, entries FROM turns ORDER BY taking DESC"  # the table taking keys first
_SWAP = "UPDATE turns SET taking = NOT taking"
_EMPTY = {"jti0": "DELETE FROM jti0", "jti1": "DELETE FROM jti1"}  # no WHERE: its pages freed, no row read
_EMPTIED = "UPDATE turns SET until = 0, entries = 0 WHERE name = ?"

_forks = 0  # how many forks made this process: a connection opened before the last one is its parent's


def _count_fork() -> None:
    global _forks  # noqa: PLW0603 - one count per process
    _forks += 1


os.register_at_fork(after_in_child=_count_fork)


class HostStore:
    """Keys in a SQLite file every worker of a host shares: kept until they expire; when full, new ones refused."""

    def __init__(
        self, path: Path, max_entries: int, *, own_directory: bool = False, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path, self.max_entries, self.own_directory = path, max_entries, own_directory
        self._clock = clock
        self._lock = threading.Lock()  # one connection per process, used by one thread at a time
        self._connection: sqlite3.Connection | None = None
        self._opened_after = 0  # the forks that had made this process when the connection was opened
        self._inode: int | None = None  # the file's when the connection was opened
        self._upkeep_at = -math.inf  # when to look after the file and the tables again
        self._taking = "jti0"

    def add(self, key: bytes, *, expires_at: float, now: float) -> bool:
        # 64 bits: with a million kept, a new proof meets one's rowid once in 10**13 (a needless 401, never a pass).
        rowid = int.from_bytes(key[:8], "big", signed=True)
        with self._lock:
            db = self._database(now)
            added = self._insert(db, rowid, expires_at)
            if not added and self._full(db):
                self._upkeep(db, now)  # a table whose keys have all expired since makes room
                added = self._insert(db, rowid, expires_at)
                if not added and self._full(db):
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

    def _insert(self, db: sqlite3.Connection, rowid: int, expires_at: float) -> bool:
        parameters = {"key": rowid, "expires": expires_at, "most": self.max_entries}
        return _writing(db, _ADD[self._taking], parameters).rowcount == 1

    def _full(self, db: sqlite3.Connection) -> bool:
        return bool(db.execute(_ENTRIES).fetchone()[0] >= self.max_entries)

    def _database(self, now: float) -> sqlite3.Connection:
        """This process's connection, looked after once a second (a stat or a transaction costs as much as a
        request's): a new one after a fork, or once the file is deleted or replaced (SQLite would go on writing to
        the old one, which a new worker does not read); the tables emptied and their turns taken."""
        moment = self._clock()
        if self._connection is not None and self._opened_after == _forks and moment < self._upkeep_at:
            return self._connection
        if self._connection is None or self._opened_after != _forks or _inode(self.path) != self._inode:
            self._connection, self._opened_after = self._open(), _forks
            self._inode = _inode(self.path)
        self._upkeep(self._connection, now)
        self._upkeep_at = moment + 1
        return self._connection

    def _upkeep(self, db: sqlite3.Connection, now: float) -> None:
        """Empty the tables whose keys have all expired; an empty closed table takes the next turn."""
        _writing(db, "BEGIN IMMEDIATE")
        with db:  # commits, or rolls back whatever was raised
            (taking, taking_until, taking_entries), (closed, closed_until, closed_entries) = db.execute(_TURNS)
            taking_entries = _empty_if_expired(db, taking, taking_until, taking_entries, now)
            closed_entries = _empty_if_expired(db, closed, closed_until, closed_entries, now)
            if taking_entries and not closed_entries:
                db.execute(_SWAP)
                taking = closed
        self._taking = taking

    def _open(self) -> sqlite3.Connection:
        if self.own_directory:
            private_directory(self.path.parent)
        private_file(self.path)
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode = WAL")  # workers read and write without waiting on each other
            # No fsync: a worker that crashes loses nothing; a machine that crashes, this file (``check()`` says so).
            db.execute("PRAGMA synchronous = OFF")
            db.execute("BEGIN IMMEDIATE")
            with db:
                for statement in _SCHEMA:
                    db.execute(statement)
            db.execute("PRAGMA busy_timeout = 0")  # from now on, _writing waits
        except BaseException:
            db.close()
            raise
        return db


def _empty_if_expired(db: sqlite3.Connection, table: str, until: float, entries: int, now: float) -> int:
    """Empty ``table`` if its keys have all expired; the entries it holds then."""
    if not entries or until > now:
        return entries
    db.execute(_EMPTY[table])
    db.execute(_EMPTIED, (table,))
    return 0


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def _writing(
    db: sqlite3.Connection, statement: str, parameters: tuple[Any, ...] | dict[str, Any] = ()
) -> sqlite3.Cursor:
    """Run a statement that takes the write lock, waiting BUSY_TIMEOUT at most for it. Another worker holds it
    for some microseconds: this tries again within a millisecond, where SQLite's own wait sleeps up to 100 ms."""
    deadline, pause = time.monotonic() + BUSY_TIMEOUT, 0.00005
    while True:
        try:
            return db.execute(statement, parameters)
        except sqlite3.OperationalError as err:  # busy: it has not begun, so it may be tried again
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
