"""The dashboard's own web.AppKeys (the app's are in receiver/keys.py, which knows no dashboard)."""

from __future__ import annotations

from aiohttp import web

from receiver.dashboard.hub import EventHub
from receiver.dashboard.templating import Templates

HUB = web.AppKey("hub", EventHub)
TEMPLATES = web.AppKey("templates", Templates)
