"""The callback body every server receives: a realistic PiAPI task object, new on every request.

One template serves both load generators: Python fills it with `callback_body`, wrk's Lua script
with `string.format` (see `lua_template`), so every server gets the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# {ptid} is the provider task id, {secret} the secret PiAPI echoes back (as it does in the
# task object), {seq} a number unique within one run.
TEMPLATE = (
    '{{"timestamp": {seq}, "data": {{"task_id": "{ptid}", "model": "Qubico/skyreels",'
    ' "task_type": "img2video", "status": "processing", "progress": null,'
    ' "config": {{"service_mode": "public",'
    ' "webhook_config": {{"endpoint": "", "secret": "{secret}"}}}},'
    ' "input": {{"prompt": "FPS-24, a woman smiles and turns to the camera",'
    ' "image": "https://images.example.com/girl.webp", "aspect_ratio": "16:9",'
    ' "guidance_scale": 3.5}}, "output": {{}},'
    ' "meta": {{"created_at": "2025-01-01T00:00:00Z", "started_at": "2025-01-01T00:00:01Z",'
    ' "ended_at": null, "usage": {{"type": "point", "frozen": 0, "consume": 0}}}},'
    ' "detail": null, "logs": ["generating frames: step {seq}"],'
    ' "error": {{"code": 0, "raw_message": "", "message": "", "detail": null}}}}}}'
)
TIMESTAMP_BASE = 1_700_000_000


@dataclass(frozen=True)
class Target:
    """One callback address: the path, the secret the provider echoes, its task id there."""

    path: str
    secret: str
    provider_task_id: str


def callback_body(target: Target, seq: int) -> bytes:
    """The body of callback number `seq` for `target`."""
    return TEMPLATE.format(
        ptid=target.provider_task_id, secret=target.secret, seq=TIMESTAMP_BASE + seq
    ).encode()


def lua_template() -> str:
    """TEMPLATE as a Lua string.format pattern taking (seq, ptid, secret, seq), in that order."""
    text = TEMPLATE.replace("%", "%%").replace("{ptid}", "%s").replace("{secret}", "%s")
    text = text.replace("{seq}", "%d")
    return text.replace("{{", "{").replace("}}", "}")


def check_template() -> None:
    """Fail loudly if the template stopped being JSON (it is edited by hand)."""
    json.loads(callback_body(Target("/", "s", "t"), 1))
