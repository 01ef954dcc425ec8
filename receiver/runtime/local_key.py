"""The secret key kept beside a SQLite database when REELHOOK_SECRET_KEY is not set.

A single-VM reelhook then works with no key to manage: the first start makes one and keeps it in
`<database>.key` (readable by its owner only), and every later start of serve, worker or tick on
that file reads it. The key never enters the database, so a copy of the database alone still
cannot be used to forge callbacks or read destinations. With PostgreSQL (many processes, disks
that may be wiped) or with destinations in the settings, REELHOOK_SECRET_KEY must be set.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import stat

from receiver.errors import SettingsError
from receiver.settings.secret_keys import is_fernet_key, key_file_of


def local_key(database: str) -> bytes:
    """The key kept beside `database`, made now if there is none yet and the database holds no
    task (a new key could not read what it holds); SettingsError in one line otherwise. Two
    processes starting at once agree on one key: it is written in full to a file of its own,
    then linked into place only if none is there yet."""
    path = key_file_of(database)
    if not os.path.lexists(path):
        if _holds_tasks(database):
            raise SettingsError(
                f"REELHOOK_SECRET_KEY is unset and {path} is missing, but {database} holds tasks"
                " a new key could not read: restore that file, or set REELHOOK_SECRET_KEY to the"
                " key it was used with"
            )
        _make(path)
    return _read(path)


def _make(path: str) -> None:
    from receiver.services.secrets import new_fernet_key  # cryptography: only when one is made

    draft = f"{path}.{os.getpid()}-{secrets.token_hex(4)}"
    try:
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(new_fernet_key() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process was first: its key is the one
        finally:
            os.unlink(draft)
        _sync_directory(os.path.dirname(os.path.abspath(path)))
    except OSError as exc:
        raise SettingsError(
            f"REELHOOK_SECRET_KEY is unset and no key can be kept at {path}: {exc.strerror};"
            " set REELHOOK_SECRET_KEY (make one with: reelhook keygen)"
        ) from None


def _sync_directory(folder: str) -> None:
    """Make the new name durable: a crash must not lose the key of tasks already accepted."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _holds_tasks(database: str) -> bool:
    """Whether the file holds tasks; SettingsError when that cannot be told (a file locked by a
    restore, damaged, or not SQLite at all): a new key must never meet a database it cannot
    read."""
    if not os.path.exists(database) or os.path.getsize(database) == 0:
        return False
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1.0)
        try:
            if conn.execute(_HAS_TASKS).fetchone() is None:
                return False  # a SQLite file reelhook has not set up yet
            return conn.execute("SELECT 1 FROM tasks LIMIT 1").fetchone() is not None
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise SettingsError(
            f"REELHOOK_SECRET_KEY is unset and {key_file_of(database)} is missing, and reelhook"
            f" cannot tell whether {database} holds tasks ({exc}); make it readable, or set"
            " REELHOOK_SECRET_KEY to the key it was used with"
        ) from None


_HAS_TASKS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tasks'"


def _read(path: str) -> bytes:
    """The key in the file, which must be a regular file of this user's, for this user only."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise SettingsError(f"cannot read the key kept at {path}: {exc.strerror}") from None
    with os.fdopen(descriptor) as handle:
        facts = os.fstat(handle.fileno())
        if not stat.S_ISREG(facts.st_mode) or facts.st_uid != os.geteuid():
            raise SettingsError(f"{path} is not a file of this user's; refusing its key")
        if facts.st_mode & 0o077:
            raise SettingsError(f"{path} is open to other users; make it private: chmod 600")
        raw = handle.read().strip()
    if not is_fernet_key(raw):
        raise SettingsError(
            f"{path} does not hold a Fernet key; restore it, or set REELHOOK_SECRET_KEY"
        )
    return raw.encode()
