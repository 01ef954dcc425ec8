"""APIMart's constraint table (what it answers 422 for), checked before sending."""

from __future__ import annotations

from typing import Any

import pytest

from receiver.providers.apimart import count_tokens
from tests.helpers import apimart, rule_error

URL = "https://x.example/a.png"


def img(tag: str = "@a", count: int = 1, kind: str = "image", **more: Any) -> dict[str, Any]:
    return {"tag": tag, "type": kind, "image_urls": [URL] * count, **more}


def vid(tag: str = "@v", kind: str = "reference") -> dict[str, Any]:
    return {"tag": tag, "type": kind, "video_url": "https://x.example/v.mp4"}


def mid(stamp: Any, tag: str = "@k") -> dict[str, Any]:
    return {"tag": tag, "image_url": URL, "time_stamp": stamp}


P = "@a @b @c @d @k @v walk"
CASES = [
    ({"prompt": None}, "prompt", "prompt is required"),
    ({"prompt": "word " * 1281}, "prompt", "prompt must be at most 1280 tokens; it has about 1281"),
    ({"duration": 2}, "duration", "duration must be a whole number from 3 to 15; got 2"),
    ({"duration": 16}, "duration", "duration must be a whole number from 3 to 15; got 16"),
    ({"resolution": "2k"}, "resolution", "resolution must be one of 480p, 720p, 1080p"),
    # The seed's formats: first and end frames jpg / jpeg / png / gif / bmp, videos MP4 / MOV.
    (
        {"image": "https://x.example/a.webp"},
        "image",
        "image must be a file of format JPG, PNG, GIF, BMP; its URL ends in .webp",
    ),
    ({"end_image": "https://x.example/z.tif"}, "end_image", "its URL ends in .tif"),
    (
        {"prompt": "@v dances", "extra": {"ref_videos": [
            {"tag": "@v", "type": "reference", "video_url": "https://x.example/m.avi"}]}},
        "extra.ref_videos[0].video_url",
        "must be a file of format MP4, MOV; its URL ends in .avi",
    ),
    (
        {"aspect_ratio": "2:1"},
        "aspect_ratio",
        "aspect_ratio must be one of 16:9, 9:16, 4:3, 3:4, 1:1",
    ),
    (
        {"negative_prompt": "blur"},
        "negative_prompt",
        "negative_prompt is not supported by skyreels-v4-fast",
    ),
    ({"guidance_scale": 2}, "guidance_scale", "guidance_scale is not supported"),
    ({"extra": {"callback_url": URL}}, "extra.callback_url", "extra does not take callback_url"),
    (
        {"prompt": P, "extra": {"mid_frame_images": [mid(i + 1) for i in range(7)]}},
        "extra.mid_frame_images",
        "extra.mid_frame_images takes at most 6 items; got 7",
    ),
    (
        {"prompt": P, "extra": {"mid_frame_images": [mid(0)]}},
        "extra.mid_frame_images[0].time_stamp",
        "must be -1 or within (0, 5)",
    ),
    (
        {"prompt": P, "duration": 8, "extra": {"mid_frame_images": [mid(8)]}},
        "extra.mid_frame_images[0].time_stamp",
        "must be -1 or within (0, 8), the video's duration",
    ),
    (
        {"prompt": P, "extra": {"mid_frame_images": [mid(3), mid(-1), mid(2)]}},
        "extra.mid_frame_images[2].time_stamp",
        "strictly increasing; 2 follows 3",
    ),
    (
        {"prompt": P, "extra": {"ref_images": [img(), img("@b", kind="grid")]}},
        "extra.ref_images",
        "all extra.ref_images must share the same type",
    ),
    (
        {"prompt": P, "extra": {"ref_images": [img(kind="grid"), img("@b", kind="grid")]}},
        "extra.ref_images",
        "type grid takes exactly 1 item; got 2",
    ),
    (
        {"prompt": P, "extra": {"ref_images": [img(kind="grid", count=2)]}},
        "extra.ref_images[0].image_urls",
        "must hold 1 URL(s); got 2",
    ),
    (
        {"prompt": P, "extra": {"ref_images": [img(t) for t in ("@a", "@b", "@c", "@d")]}},
        "extra.ref_images",
        "type image takes 1 to 3 items; got 4",
    ),
    (
        {"prompt": P, "extra": {"ref_images": [img(count=6)]}},
        "extra.ref_images[0].image_urls",
        "must hold 1 to 5 URL(s); got 6",
    ),
    (
        {"prompt": P, "extra": {"ref_images": [img(kind="grid", audio_url=URL)]}},
        "extra.ref_images[0].audio_url",
        "audio_url is only supported with type image",
    ),
    (
        {"prompt": P, "extra": {"ref_videos": [vid(), vid()]}},
        "extra.ref_videos",
        "extra.ref_videos takes at most 1 items; got 2",
    ),
    (
        {"prompt": P, "extra": {"ref_images": [img()], "ref_videos": [vid(kind="extend")]}},
        "extra.ref_videos",
        "ref_videos of type extend cannot be combined with ref_images",
    ),
    (
        {"prompt": P, "image": URL, "extra": {"ref_images": [img()]}},
        "extra.ref_images",
        "I2V fields (image, end_image, extra.mid_frame_images) and Omni fields",
    ),
    (
        {"prompt": P, "extra": {"mid_frame_images": [mid(2)], "ref_videos": [vid()]}},
        "extra.ref_videos",
        "cannot be used together",
    ),
    (
        {"prompt": "x walks", "extra": {"ref_images": [img("Actor")]}},
        "extra.ref_images[0].tag",
        "extra.ref_images[0].tag must start with @ (e.g. @image1); got 'Actor'",
    ),
    (
        {"prompt": "someone walks", "extra": {"ref_videos": [vid("@video1")]}},
        "extra.ref_videos[0].tag",
        "extra.ref_videos[0].tag @video1 must appear in the prompt",
    ),
    (
        {"prompt": "a king", "extra": {"mid_frame_images": [mid(2, "@image1")]}},
        "extra.mid_frame_images[0].tag",
        "@image1 must appear in the prompt",
    ),
    ({"image": "notaurl"}, "image", "image must be an http(s) URL"),
]


@pytest.mark.parametrize(("fields", "field", "message"), CASES)
def test_rule(fields: dict[str, Any], field: str, message: str) -> None:
    error = rule_error(apimart(**fields))
    assert error is not None, "the request passed the rules"
    assert error.field == field
    assert message in error.message


async def test_a_broken_rule_is_a_422_naming_the_field_and_nothing_is_sent(
    client: Any, apimart_sim: Any
) -> None:
    fields, field, message = CASES[0]
    response = await client.post("/v1/tasks", json=apimart(**fields))
    assert response.status == 422
    error = (await response.json())["error"]
    assert (error["code"], error["field"]) == ("invalid_field", field)
    assert message in error["message"]
    assert apimart_sim.received == []
    assert (await (await client.get("/v1/tasks")).json())["tasks"] == []


async def test_reference_video_with_short_duration_and_image_refs_is_accepted(client: Any) -> None:
    extra = {"ref_images": [img("@a"), img("@b")], "ref_videos": [vid("@v")]}
    body = apimart(prompt="@a copies @v while @b watches", duration=5, extra=extra)
    assert (await client.post("/v1/tasks", json=body)).status == 202


async def test_a_reference_video_overrides_any_duration_from_3_to_15(
    client: Any, apimart_sim: Any
) -> None:
    # The seed: duration [3, 15]; "overridden by reference video length (max 10s)". A longer
    # duration asked for is not an error: APIMart takes the reference video's length instead.
    body = apimart(prompt="@v dances", duration=12, extra={"ref_videos": [vid("@v")]})
    assert (await client.post("/v1/tasks", json=body)).status == 202
    assert apimart_sim.received[-1]["body"]["duration"] == 12
    too_long = apimart(prompt="@v dances", duration=16, extra={"ref_videos": [vid("@v")]})
    assert (await client.post("/v1/tasks", json=too_long)).status == 422


def test_tokens_are_counted_for_words_punctuation_and_cjk() -> None:
    assert count_tokens("A cat, walking.") == 5
    assert count_tokens("internationalization") == 4  # 20 letters: a long run, split
    assert count_tokens("x" * 8000) == 1334  # a run of letters is no single token
    assert count_tokens("word " * 1280) == 1280
    assert count_tokens("一只猫") == 3
