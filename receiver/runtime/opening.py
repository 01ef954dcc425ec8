"""Opening the store for a long-running process (serve, worker): open it, confirm the secret key
opens its sealed values, register the settings' destinations (again, should PostgreSQL be away
for a moment)."""

from __future__ import annotations

from collections.abc import Callable

from receiver.runtime.patience import wait_out_outages
from receiver.runtime.videos import video_wait
from receiver.services.destinations import register_settings_destinations
from receiver.services.sealing import confirm_key
from receiver.services.secrets import SecretBox
from receiver.settings import Settings
from store import TaskStore, open_store
from store.rows import TaskRow


async def open_for_service(
    settings: Settings,
    secrets: SecretBox,
    on_other_change: Callable[[TaskRow], None] | None = None,
) -> TaskStore:
    """The store, checked and with the settings' destinations registered; StoreUnavailable or
    StartupError (one line each) when the start cannot go on."""
    return await wait_out_outages(
        settings.database, lambda: _open_once(settings, secrets, on_other_change))


async def _open_once(
    settings: Settings,
    secrets: SecretBox,
    on_other_change: Callable[[TaskRow], None] | None,
) -> TaskStore:
    store = await open_store(
        settings.database,
        notify_on=settings.notify_on,
        busy_timeout=settings.db_busy_timeout,
        pool_size=settings.db_pool_size,
        migrate=False,
        on_other_change=on_other_change,
        video_wait=video_wait(settings),
        timeouts=settings.db_timeouts,
        direct=settings.direct_database,
    )
    try:
        await confirm_key(store.sealed, secrets)
        await register_settings_destinations(store, settings, secrets)
    except BaseException:
        await store.close()
        raise
    return store
