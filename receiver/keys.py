"""Every web.AppKey of the app (the dashboard's own are in receiver/dashboard/keys.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from dispatcher.links import VideoLinks
from receiver.providers.base import Provider
from receiver.services.auth_failures import FailedAuth
from receiver.services.callback_slots import Slots
from receiver.services.known_tasks import KnownTasks
from receiver.services.loops import BackgroundLoops
from receiver.services.secrets import SecretBox
from receiver.services.tasks import TaskService
from receiver.services.videos.keeper import VideoKeeper
from receiver.services.videos.storage import VideoStore
from receiver.services.wakeups import Wakeups
from receiver.settings import Settings
from store import TaskStore

if TYPE_CHECKING:
    import httpx

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", TaskStore)
# Typed only for the checker: httpx is imported at the client's first use (dispatcher/outgoing.py).
HTTP: web.AppKey[httpx.AsyncClient] = web.AppKey("http")
PROVIDERS = web.AppKey("providers", dict[str, Provider])
SECRETS = web.AppKey("secrets", SecretBox)
TASKS = web.AppKey("tasks", TaskService)
CALLBACK_SLOTS = web.AppKey("callback_slots", Slots)
KNOWN_TASKS = web.AppKey("known_tasks", KnownTasks)
WAKEUPS = web.AppKey("wakeups", Wakeups)
LOOPS = web.AppKey("loops", BackgroundLoops)
AUTH_FAILURES = web.AppKey("auth_failures", FailedAuth)
VIDEO_LINKS = web.AppKey("video_links", VideoLinks)
# Set only while videos are kept (REELHOOK_VIDEO_STORE is not off): app.get() them.
VIDEO_STORE = web.AppKey("video_store", VideoStore)
KEEPER = web.AppKey("keeper", VideoKeeper)
