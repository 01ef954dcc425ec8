"""1min.ai's rules, checked before the upload: each with the message a user sees."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest

from tests.helpers import onemin, rule_error

GIF = "data:image/gif;base64," + base64.b64encode(b"GIF89a" + b"\0" * 10).decode()
NOT_AN_IMAGE = "data:image/png;base64," + base64.b64encode(b"hello world").decode()
GIF_AS_WEBP = "data:image/webp;base64," + base64.b64encode(b"GIF89a" + b"\0" * 10).decode()
HUGE = (
    "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * (10 << 20)).decode()
)

CASES = [
    ({"image": None}, "image", "image is required for this model"),
    ({"prompt": None}, "prompt", "prompt is required for this model"),
    ({"image": "ftp://x/a.png"}, "image", "image must be an http(s) URL or a data:image"),
    ({"image": GIF}, "image", "image must be JPG, PNG or WEBP; got image/gif"),
    ({"image": NOT_AN_IMAGE}, "image",
     "image must be JPG, PNG or WEBP; its bytes are none of those (labelled image/png)"),
    ({"image": GIF_AS_WEBP}, "image",
     "image must be JPG, PNG or WEBP; its bytes are none of those (labelled image/webp)"),
    (
        {"image": "https://x.example/a.gif"},
        "image",
        "image must be JPG, PNG or WEBP; got a .gif file",
    ),
    ({"aspect_ratio": "4:3"}, "aspect_ratio", "aspect_ratio must be one of 16:9, 9:16, 1:1"),
    ({"guidance_scale": 10.5}, "guidance_scale", "guidance_scale must be in [0, 10]; got 10.5"),
    ({"guidance_scale": -1}, "guidance_scale", "guidance_scale must be in [0, 10]; got -1"),
    ({"duration": 5}, "duration", "duration is not supported by Qubico/skyreels"),
    ({"resolution": "720p"}, "resolution", "resolution is not supported by Qubico/skyreels"),
    ({"end_image": "https://x.example/b.png"}, "end_image", "end_image is not supported"),
    ({"extra": {"fps": 24}}, "extra.fps", "extra does not take fps"),
]


@pytest.mark.parametrize(("fields", "field", "message"), CASES)
def test_rule(fields: dict[str, Any], field: str, message: str) -> None:
    error = rule_error(onemin(**fields))
    assert error is not None, "the request passed the rules"
    assert error.field == field
    assert message in error.message


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [case for case in CASES if "image" in case[0] and case[0]["image"] in (None, NOT_AN_IMAGE)],
)
async def test_a_broken_rule_is_a_422_naming_the_field_and_nothing_is_sent(
    client: Any, onemin_sim: Any, fields: dict[str, Any], field: str, message: str
) -> None:
    response = await client.post("/v1/tasks", json=onemin(**fields))
    assert response.status == 422
    error = (await response.json())["error"]
    assert (error["code"], error["field"]) == ("invalid_field", field)
    assert message in error["message"]
    assert onemin_sim.assets == {}
    assert (await (await client.get("/v1/tasks")).json())["tasks"] == []


async def test_guidance_scale_bounds_are_allowed(client: Any) -> None:
    for scale in (0, 10):
        assert (await client.post("/v1/tasks", json=onemin(guidance_scale=scale))).status == 202


async def test_image_over_10_mb_is_refused(client: Any, onemin_sim: Any) -> None:
    body = io.BytesIO(json.dumps(onemin(image=HUGE)).encode())
    response = await client.post(
        "/v1/tasks", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["field"] == "image"
    assert error["message"] == "image must be at most 10 MB; got 10.0 MB"
    assert onemin_sim.assets == {}
