"""Wave's rules, checked before anything is sent: each one with the message a user sees."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import rule_error, wave

URL = "https://x.example/a.png"
AUDIO = "https://x.example/voice.mp3"
VIDEO = {"tag": "src", "type": "reference", "video_url": "https://x.example/v.mp4"}


def image_ref(kind: str = "image", count: int = 1, **more: Any) -> dict[str, Any]:
    return {"tag": "char", "type": kind, "image_urls": [URL] * count, **more}


def mid(stamp: Any) -> dict[str, Any]:
    return {"tag": "kf", "image_url": URL, "time_stamp": stamp}


CASES = [
    ({"duration": 2}, "duration", "duration must be a whole number from 3 to 15; got 2"),
    ({"duration": 16}, "duration", "duration must be a whole number from 3 to 15; got 16"),
    ({"duration": 5.5}, "duration", "duration must be a whole number from 3 to 15; got 5.5"),
    ({"prompt": "x" * 5001}, "prompt", "prompt must be at most 5000 characters; got 5001"),
    ({"prompt": None}, "prompt", "prompt is required for this model"),
    (
        {"aspect_ratio": "21:9"},
        "aspect_ratio",
        "aspect_ratio must be one of 16:9, 9:16, 4:3, 3:4, 1:1",
    ),
    ({"resolution": "4k"}, "resolution", "resolution must be one of 480p, 720p, 1080p"),
    (
        {"negative_prompt": "blur"},
        "negative_prompt",
        "negative_prompt is not supported by skyreels-v4-fast",
    ),
    (
        {"guidance_scale": 3},
        "guidance_scale",
        "guidance_scale is not supported by skyreels-v4-fast",
    ),
    ({"image": "ftp://x/a.png"}, "image", "image must be an http(s) URL"),
    ({"end_image": "data:image/png;base64,AAAA"}, "end_image", "end_image must be an http(s) URL"),
    ({"extra": {"seed": 1}}, "extra.seed", "extra does not take seed"),
    ({"extra": {"action": "dance"}}, "extra.action", "extra.action must be one of generate"),
    (
        {"extra": {"prompt_optimizer": "yes"}},
        "extra.prompt_optimizer",
        "extra.prompt_optimizer must be true or false",
    ),
    (
        {"extra": {"ref_images": [image_ref()] * 7}},
        "extra.ref_images",
        "extra.ref_images takes at most 6 items; got 7",
    ),
    (
        {"extra": {"ref_images": [image_ref(count=2)]}},
        "extra.ref_images[0].image_urls",
        "must hold 1 URL(s); got 2",
    ),
    (
        {"extra": {"ref_images": [image_ref("grid", 1)]}},
        "extra.ref_images[0].image_urls",
        "must hold 2 to 9 URL(s); got 1",
    ),
    (
        {"extra": {"ref_images": [image_ref("grid", 10)]}},
        "extra.ref_images[0].image_urls",
        "must hold 2 to 9 URL(s); got 10",
    ),
    # The seed's formats: frames and reference images JPG/PNG/WEBP, videos MP4/MOV, audio WAV/MP3.
    (
        {"image": "https://x.example/first.gif"},
        "image",
        "image must be a file of format JPG, PNG, WEBP; its URL ends in .gif",
    ),
    ({"end_image": "https://x.example/last.BMP?sig=1"}, "end_image", "ends in .bmp"),
    (
        {"extra": {"ref_images": [{"tag": "@a", "type": "image",
                                   "image_urls": ["https://x.example/a.tiff"]}]}},
        "extra.ref_images[0].image_urls[0]",
        "format JPG, PNG, WEBP",
    ),
    (
        {"extra": {"ref_videos": [dict(VIDEO, video_url="https://x.example/v.avi")]}},
        "extra.ref_videos[0].video_url",
        "must be a file of format MP4, MOV; its URL ends in .avi",
    ),
    (
        {"extra": {"audio_urls": ["https://x.example/a.ogg"]}},
        "extra.audio_urls[0]",
        "must be a file of format WAV, MP3; its URL ends in .ogg",
    ),
    (
        {"extra": {"ref_images": [image_ref(audio_url="https://x.example/a.flac")]}},
        "extra.ref_images[0].audio_url",
        "format WAV, MP3",
    ),
    # An explicit action locks the mode: it needs the media of that mode.
    ({"prompt": None, "image": URL, "extra": {"action": "generate"}}, "extra.action",
     "extra.action generate needs prompt (text-to-video)"),
    ({"extra": {"action": "image2video"}}, "extra.action",
     "extra.action image2video needs image (sent as first_frame_image)"),
    ({"image": URL, "extra": {"action": "first_last_frame"}}, "extra.action",
     "extra.action first_last_frame needs image and end_image"),
    ({"extra": {"action": "reference"}}, "extra.action", "reference needs extra.ref_images"),
    ({"extra": {"action": "reference_video", "ref_videos": [dict(VIDEO, type="extend")]}},
     "extra.action", "reference_video needs extra.ref_videos with type reference"),
    ({"extra": {"action": "reference_audio", "ref_images": [image_ref()]}}, "extra.action",
     "reference_audio needs extra.audio_urls or extra.ref_images[].audio_url"),
    ({"extra": {"action": "extend", "ref_videos": [VIDEO]}}, "extra.action",
     "extend needs extra.ref_videos with type extend"),
    (
        {"extra": {"ref_images": [image_ref("collage")]}},
        "extra.ref_images[0].type",
        "must be one of image, grid",
    ),
    (
        {"extra": {"ref_images": [{"type": "image", "image_urls": [URL]}]}},
        "extra.ref_images[0].tag",
        "extra.ref_images[0].tag is required",
    ),
    (
        {"extra": {"ref_images": [image_ref()], "image_urls": [URL]}},
        "extra.image_urls",
        "give either extra.image_urls or extra.ref_images, not both",
    ),
    (
        {"extra": {"ref_images": [image_ref(audio_url=AUDIO)], "audio_urls": [AUDIO]}},
        "extra.audio_urls",
        "give either extra.audio_urls or ref_images[].audio_url, not both",
    ),
    (
        {"extra": {"ref_videos": [VIDEO, VIDEO]}},
        "extra.ref_videos",
        "extra.ref_videos takes at most 1 items; got 2",
    ),
    (
        {"extra": {"ref_videos": [dict(VIDEO, type="remix")]}},
        "extra.ref_videos[0].type",
        "must be one of reference, extend",
    ),
    (
        {"extra": {"ref_videos": [VIDEO], "video_urls": [VIDEO["video_url"]]}},
        "extra.video_urls",
        "give either extra.video_urls or extra.ref_videos, not both",
    ),
    (
        {"extra": {"mid_frame_images": [mid(i + 1) for i in range(7)]}},
        "extra.mid_frame_images",
        "takes at most 6 items; got 7",
    ),
    (
        {"extra": {"mid_frame_images": [mid(5)]}},
        "extra.mid_frame_images[0].time_stamp",
        "must be within (0, 5), the video's duration; got 5",
    ),
    (
        {"extra": {"mid_frame_images": [mid(-1)]}},
        "extra.mid_frame_images[0].time_stamp",
        "must be within (0, 5)",
    ),
    (
        {"extra": {"mid_frame_images": [mid(3), mid(2)]}},
        "extra.mid_frame_images[1].time_stamp",
        "time_stamp values must be strictly increasing; 2 follows 3",
    ),
    (
        {"extra": {"image_urls": ["not a url"]}},
        "extra.image_urls[0]",
        "extra.image_urls[0] must be an http(s) URL",
    ),
    ({"model": "skyreels-v5"}, "model", "model must be one of skyreels-v4-fast, skyreels-v4-std"),
]


@pytest.mark.parametrize(("fields", "field", "message"), CASES)
def test_rule(fields: dict[str, Any], field: str, message: str) -> None:
    error = rule_error(wave(**fields))
    assert error is not None, "the request passed the rules"
    assert error.field == field
    assert message in error.message


async def test_a_broken_rule_is_a_422_naming_the_field_and_nothing_is_sent(
    client: Any, wave_sim: Any
) -> None:
    fields, field, message = CASES[0]
    response = await client.post("/v1/tasks", json=wave(**fields))
    assert response.status == 422
    error = (await response.json())["error"]
    assert (error["code"], error["field"]) == ("invalid_field", field)
    assert message in error["message"]
    assert wave_sim.received == []
    assert (await (await client.get("/v1/tasks")).json())["tasks"] == []


async def test_media_urls_of_the_right_format_or_with_no_extension_are_accepted(
    client: Any,
) -> None:
    extra = {"ref_videos": [dict(VIDEO, video_url="https://x.example/v.MOV")],
             "audio_urls": ["https://x.example/a.wav"]}
    for image in ("https://x.example/a.jpeg", "https://x.example/a.webp",
                  "https://cdn.example/signed/abc123?X-Amz-Signature=z.gif"):
        body = wave(image=image, extra=extra, prompt="@src moves")
        assert (await client.post("/v1/tasks", json=body)).status == 202, image


async def test_each_action_with_its_media_is_accepted(client: Any) -> None:
    media: dict[str, dict[str, Any]] = {
        "generate": {},
        "image2video": {"image": URL},
        "first_last_frame": {"image": URL, "end_image": URL},
        "reference": {"extra": {"ref_images": [image_ref()]}},
        "reference_video": {"extra": {"ref_videos": [VIDEO]}},
        "reference_audio": {"extra": {"audio_urls": [AUDIO]}},
        "extend": {"extra": {"ref_videos": [dict(VIDEO, type="extend")]}},
    }
    for action, fields in media.items():
        extra = {**fields.pop("extra", {}), "action": action}
        body = wave(prompt="@a @src go", extra=extra, **fields)
        answer = await client.post("/v1/tasks", json=body)
        assert answer.status == 202, (action, await answer.text())


async def test_media_without_prompt_and_full_omni_request_are_accepted(client: Any) -> None:
    extra = {
        "ref_images": [image_ref(), image_ref("grid", 3, audio_url=AUDIO)],
        "ref_videos": [VIDEO],
        "action": "reference",
    }
    response = await client.post("/v1/tasks", json=wave(prompt=None, extra=extra))
    assert response.status == 202
