"""Setting up kept videos from reelhook's settings: the video store, the signed links and the
keeper, for `serve`, `worker` and `tick` alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dispatcher.links import VideoLinks
from dispatcher.netguard import host_and_port
from dispatcher.wakeup import Wakeup
from receiver.providers import PROVIDER_NAMES
from receiver.services.videos.copying import Copier
from receiver.services.videos.keeper import VideoKeeper
from receiver.services.videos.storage import VideoStore
from receiver.settings import Settings
from store import TaskStore

if TYPE_CHECKING:
    import httpx


def video_wait(settings: Settings) -> float | None:
    """How long a succeeded task's notices wait for its copy; None when videos are not kept."""
    videos = settings.videos
    return videos.wait if videos.kept(settings.database) else None


def video_links(settings: Settings) -> VideoLinks:
    """The signed links to kept videos, under this reelhook's public URL."""
    return VideoLinks(settings.secret_key, settings.public_url, settings.videos.link_lifetime,
                      settings.older_secret_keys)


def video_store(settings: Settings) -> VideoStore | None:
    """The store REELHOOK_VIDEO_STORE names, or None when videos are not kept."""
    if not settings.videos.kept(settings.database):
        return None
    where = settings.videos.location(settings.database)
    return VideoStore.from_setting(where, settings.videos.store_options)


def keeper(
    settings: Settings,
    store: TaskStore,
    videos: VideoStore,
    http: httpx.AsyncClient,
    owner: str,
    wakeup: Wakeup | None = None,
) -> VideoKeeper:
    """The keeper of `store`'s videos; downloads go through `http` (the guarded client), the
    providers' own hosts trusted as configured."""
    trusted = frozenset(
        host_and_port(settings.provider(name).base_url) for name in PROVIDER_NAMES
    ) | settings.trusted_hosts
    copier = Copier(http, videos, settings.videos.max_bytes, settings.allow_private_urls, trusted)
    return VideoKeeper(
        store, copier, owner, timeout=settings.videos.timeout, keep_days=settings.videos.keep_days,
        wakeup=wakeup,
    )
