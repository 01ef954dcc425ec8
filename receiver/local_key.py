"""The secret key kept beside a SQLite database when REELHOOK_SECRET_KEY is not set.

A single-VM reelhook then works with no key to manage: the first start makes one and keeps it in
`<database>.key` (readable by its owner only), and every later start of serve, worker or tick on
that file reads it. The key never enters the database, so a copy of the database alone still
cannot be used to forge callbacks or read destinations. With PostgreSQL (many processes, disks
that may be wiped) or with destinations in the settings, REELHOOK_SECRET_KEY must be set.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets

from receiver.errors import SettingsError
from receiver.secrets import new_fernet_key


def key_file_of(database: str) -> str:
    """Where the key of this SQLite database is kept."""
    return f"{database}.key"


def local_key(database: str) -> bytes:
    """The key kept beside `database`, made now if there is none yet; SettingsError in one line
    when it can be neither read nor made. Two processes starting at once agree on one key: it is
    written in full to a file of its own, then linked into place only if none is there yet."""
    path = key_file_of(database)
    if os.path.exists(path):
        return _read(path)
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
    except OSError as exc:
        raise SettingsError(
            f"REELHOOK_SECRET_KEY is unset and no key can be kept at {path}: {exc.strerror};"
            " set REELHOOK_SECRET_KEY (make one with: reelhook keygen)"
        ) from None
    return _read(path)


def _read(path: str) -> bytes:
    try:
        with open(path) as handle:
            raw = handle.read().strip()
    except OSError as exc:
        raise SettingsError(f"cannot read the key kept at {path}: {exc.strerror}") from None
    if not is_fernet_key(raw):
        raise SettingsError(
            f"{path} does not hold a Fernet key; restore it, or set REELHOOK_SECRET_KEY"
        )
    return raw.encode()


def is_fernet_key(raw: str) -> bool:
    """32 url-safe base64 bytes."""
    try:
        return len(base64.urlsafe_b64decode(raw.encode())) == 32
    except (binascii.Error, ValueError):
        return False
