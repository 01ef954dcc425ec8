"""The finished videos a simulator hands out: GET /videos/{name} answers a real MP4 (one second of
64x64 H.264, with byte ranges), until the simulator forgets its videos as a provider's links
expire."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

SAMPLE = Path(__file__).with_name("sample.mp4")


class VideoShelf:
    """The videos of one simulator; `forget` makes every link answer 404, as an expired one."""

    def __init__(self) -> None:
        self.forgotten = False
        self.downloads = 0

    def add_routes(self, app: web.Application) -> None:
        """Serve GET /videos/{name} from `app`."""
        app.router.add_get("/videos/{name}", self._video)

    def forget(self) -> None:
        """Let every link die, as a provider's do after hours or a day."""
        self.forgotten = True

    async def _video(self, request: web.Request) -> web.StreamResponse:
        if self.forgotten:
            raise web.HTTPNotFound(text="this link has expired")
        self.downloads += 1
        return web.FileResponse(SAMPLE, headers={"Content-Type": "video/mp4"})
