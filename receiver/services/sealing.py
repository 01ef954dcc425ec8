"""The secret key and the database's sealed values: a start with a key that opens none of them
is refused, and `reelhook rotate-key` re-seals them all under the first listed key.

The database keeps a key check (a fixed text sealed with the key); the first start with a key
writes it, every later start of serve, worker and tick opens it first. A database from before the
check is judged by one of its sealed values instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from receiver.errors import StartupError
from receiver.services.destinations import route_key
from receiver.services.secrets import SecretBox
from receiver.settings import Settings
from store.interface import SealedStore
from store.models import Resealed, SealedColumn
from store.plans.sealed import DESTINATION_TARGETS, SEALED_COLUMNS

KEY_CHECK_TEXT = "reelhook key check v1"
PAGE = 500  # sealed values re-sealed per transaction
WRONG_KEY = (
    "REELHOOK_SECRET_KEY cannot open this database's sealed values: it was set up with another"
    " key. Set the key it was used with; to change keys, list the new key first and the old one"
    " after it (comma-separated), then run: reelhook rotate-key"
)


def secret_box(settings: Settings) -> SecretBox:
    """The SecretBox of REELHOOK_SECRET_KEY's keys, the first sealing."""
    return SecretBox(settings.secret_key, *settings.older_secret_keys)


async def confirm_key(sealed: SealedStore, secrets: SecretBox) -> None:
    """StartupError (one line) unless a listed key opens the database's sealed values; the first
    start with a key on a database without a check writes one."""
    check = await sealed.key_check()
    if check is None:
        sample = await sealed.any_value()
        if sample is not None and not secrets.opens(sample):
            raise StartupError(WRONG_KEY)
        await sealed.set_key_check(secrets.encrypt(KEY_CHECK_TEXT))
    elif not secrets.opens(check):
        raise StartupError(WRONG_KEY)


@dataclass
class Rotation:
    """What `rotate-key` did: values re-sealed, and values no listed key opens (left as is)."""

    resealed: int = 0
    unopened: int = 0


async def rotate_key(sealed: SealedStore, secrets: SecretBox) -> Rotation:
    """Re-seal every sealed value under the first listed key, page by page, then the key check;
    values no listed key opens are counted and left as they are."""
    done = Rotation()
    for column in SEALED_COLUMNS:
        await _rotate_column(sealed, secrets, column, done)
    await sealed.set_key_check(secrets.encrypt(KEY_CHECK_TEXT), replace=True)
    return done


async def _rotate_column(
    sealed: SealedStore, secrets: SecretBox, column: SealedColumn, done: Rotation
) -> None:
    after = None
    while page := await sealed.page(column, after, PAGE):
        changes = []
        for row in page:
            try:
                changes.append(_resealed(secrets, column, row))
            except ValueError:
                done.unopened += 1
        done.resealed += await sealed.reseal(column, changes)
        after = page[-1]["key"]


def _resealed(secrets: SecretBox, column: SealedColumn, row: dict[str, object]) -> Resealed:
    old = str(row["sealed"])
    new = secrets.reseal(old)
    derived = None
    if column == DESTINATION_TARGETS:
        target = json.loads(secrets.decrypt(new))
        derived = route_key(secrets, str(row["context"]), target)
    return Resealed(row["key"], old, new, derived)
