"""1min.ai: SkyReels image-to-video through one synchronous call.

The image is first uploaded with the Asset API (multipart field `asset`); then `POST /api/features`
returns only when the video is done, which can take minutes. There is no webhook and no Get Task,
so reelhook runs the submit in the background (`background_submit`) and never polls it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from receiver.providers import FACTS, rules
from receiver.providers.base import Adapter, CallbackTarget, Report, TaskRequest
from receiver.providers.errors import (
    InvalidRequest,
    ProviderProtocolError,
    ProviderRejected,
    ProviderUnavailable,
)
from receiver.providers.http import compact, safe_url
from receiver.providers.piapi import SKYREELS_DEFAULTS
from store.states import FAILED, SUCCEEDED

if TYPE_CHECKING:
    import httpx

MODEL = "Qubico/skyreels"
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MEDIA_TYPES = {"image/jpeg": "jpg", "image/jpg": "jpg", "image/png": "png", "image/webp": "webp"}
EXTENSIONS = ("jpg", "jpeg", "png", "webp")


class OneMin(Adapter):
    """The 1min.ai adapter."""

    title = "1min.ai"
    name, default_base_url, default_max_in_flight, pollable = FACTS["onemin"]
    models = frozenset({MODEL})
    background_submit = True
    fetches_image = True

    def defaults(self, model: str) -> Mapping[str, Any]:
        """SkyReels' defaults, as PiAPI's (16:9, guidance 3.5)."""
        return SKYREELS_DEFAULTS

    def validate(self, request: TaskRequest) -> None:
        """Image (JPG/PNG/WEBP, at most 10 MB) and prompt required; aspect ratio; guidance 0-10."""
        rules.only_keys("extra", request.extra, ())
        for name in ("duration", "resolution", "end_image"):
            rules.refuse(name, getattr(request, name), request.model)
        rules.require("image", request.image)
        rules.require("prompt", request.prompt)
        rules.image_reference("image", request.image)
        check_image_reference(request.image or "")
        rules.one_of("aspect_ratio", request.aspect_ratio, ASPECT_RATIOS)
        rules.number_in("guidance_scale", request.guidance_scale, 0, 10)

    async def submit(
        self,
        client: httpx.AsyncClient,
        request: TaskRequest,
        callback: CallbackTarget | None,
        idempotency_key: str | None,
    ) -> Report:
        """Upload the image, then call IMAGE_TO_VIDEO and wait (up to the long timeout)."""
        media_type, data = await self._image_bytes(client, request.image or "")
        path = await self._upload(client, media_type, data)
        answer = await self.call(
            client,
            "POST",
            "/api/features",
            timeout=self.config.long_timeout,
            json=build_feature_body(request, path),
        )
        return record_report(answer)

    async def fetch(self, client: httpx.AsyncClient, provider_task_id: str) -> Report:
        """1min.ai has no Get Task: the answer to the submit is the only news."""
        raise ProviderRejected("1min.ai offers no way to look a task up")

    async def _image_bytes(self, client: httpx.AsyncClient, image: str) -> tuple[str, bytes]:
        if rules.is_data_uri(image):
            data = rules.decode_data_uri("image", image)[1]
        else:
            data = await download(client, image, self.config.timeout)
        sniffed = sniff_image(data)
        if sniffed is None:
            raise ProviderRejected("image is not a JPG, PNG or WEBP file")
        if len(data) > MAX_IMAGE_BYTES:
            raise ProviderRejected(f"image is {len(data)} bytes; 1min.ai takes at most 10 MB")
        return sniffed, data

    async def _upload(self, client: httpx.AsyncClient, media_type: str, data: bytes) -> str:
        name = f"reelhook.{MEDIA_TYPES[media_type]}"
        answer = await self.call(
            client,
            "POST",
            "/api/assets",
            files={"asset": (name, data, media_type)},
        )
        content = answer.get("fileContent") if isinstance(answer, dict) else None
        asset = answer.get("asset") if isinstance(answer, dict) else None
        for name, value in (("fileContent", content), ("asset", asset)):
            if value is not None and not isinstance(value, dict):
                raise ProviderProtocolError(f"1min.ai asset answer has a non-object {name}")
        path = (content or {}).get("path") or (asset or {}).get("key")
        if not isinstance(path, str) or not path:
            raise ProviderProtocolError("1min.ai asset answer has no fileContent.path")
        return path

    def auth_headers(self) -> dict[str, str]:
        return {"API-KEY": self.config.api_key}


def check_image_reference(image: str) -> None:
    """A data URI must be JPG/PNG/WEBP, by its label and by its bytes, and at most 10 MB; a URL's
    file extension, when it has one, must be one of those (its bytes are checked once fetched)."""
    if rules.is_data_uri(image):
        media_type, data = rules.decode_data_uri("image", image)
        if media_type not in MEDIA_TYPES:
            raise InvalidRequest("image", f"image must be JPG, PNG or WEBP; got {media_type}")
        if len(data) > MAX_IMAGE_BYTES:
            raise InvalidRequest(
                "image", f"image must be at most 10 MB; got {len(data) / 1024 / 1024:.1f} MB"
            )
        if sniff_image(data) is None:  # the bytes decide, not the label
            raise InvalidRequest(
                "image", f"image must be JPG, PNG or WEBP; its bytes are none of those"
                f" (labelled {media_type})"
            )
        return
    last = urlsplit(image).path.rsplit("/", 1)[-1]
    if "." in last and last.rsplit(".", 1)[1].lower() not in EXTENSIONS:
        raise InvalidRequest(
            "image", f"image must be JPG, PNG or WEBP; got a .{last.rsplit('.', 1)[1]} file"
        )


async def download(client: httpx.AsyncClient, url: str, timeout: float) -> bytes:
    """Fetch an image URL, refusing anything over 10 MB."""
    import httpx  # loaded by the client that makes this call already

    try:
        async with client.stream("GET", url, timeout=timeout) as response:
            if response.status_code != 200:
                raise ProviderRejected(
                    f"could not fetch image: {safe_url(url)} answered {response.status_code}"
                )
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_IMAGE_BYTES:
                    raise ProviderRejected(
                        "image is larger than 10 MB; 1min.ai takes at most 10 MB"
                    )
                chunks.append(chunk)
    except httpx.InvalidURL as exc:
        raise ProviderRejected(f"image URL is not valid: {safe_url(url)}") from exc
    except (httpx.HTTPError, OSError) as exc:
        # OSError: a name that does not resolve can surface from the guarded transport as such.
        shown = safe_url(url)
        raise ProviderUnavailable(f"could not fetch image {shown}: {type(exc).__name__}") from exc
    return b"".join(chunks)


def sniff_image(data: bytes) -> str | None:
    """The media type from the file's first bytes: JPEG, PNG or WEBP, else None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def build_feature_body(request: TaskRequest, image_path: str) -> dict[str, Any]:
    """The IMAGE_TO_VIDEO body with the uploaded asset's path as imageUrl."""
    prompt: dict[str, Any] = {
        "imageUrl": image_path,
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "aspect_ratio": request.aspect_ratio or SKYREELS_DEFAULTS["aspect_ratio"],
        "guidance_scale": (
            request.guidance_scale if request.guidance_scale is not None
            else SKYREELS_DEFAULTS["guidance_scale"]
        ),
    }
    return {
        "type": "IMAGE_TO_VIDEO",
        "model": request.model,
        "conversationId": "IMAGE_TO_VIDEO",
        "promptObject": {key: value for key, value in prompt.items() if value is not None},
    }


def record_report(answer: Any) -> Report:
    """The outcome of the features call: aiRecord.status SUCCESS with temporaryUrl, or failed."""
    record = answer.get("aiRecord") if isinstance(answer, dict) else None
    if not isinstance(record, dict):
        raise ProviderProtocolError("1min.ai answer has no aiRecord")
    status = str(record.get("status", "")).upper()
    uuid = str(record.get("uuid") or "") or None
    url = record.get("temporaryUrl") or answer.get("temporaryUrl")
    if not isinstance(url, str) or not url:
        results = _detail(record).get("resultObject") or []
        if not isinstance(results, list):
            raise ProviderProtocolError("1min.ai aiRecordDetail.resultObject is not a list")
        url = results[0] if results and isinstance(results[0], str) else None
    succeeded = status == "SUCCESS" and url is not None
    error = None if succeeded else _failure(record, status)
    return Report(
        provider_task_id=uuid,
        provider_status=status or None,
        status=SUCCEEDED if succeeded else FAILED,
        dedupe_key=f"submit:{uuid}:{status}",
        progress=100 if succeeded else None,
        video_url=url if succeeded else None,
        error=error,
        payload=compact(answer),
        video_expires_at=presigned_expiry(url) if succeeded and url else None,
    )


def presigned_expiry(url: str) -> float | None:
    """When a presigned `temporaryUrl` stops working (Unix seconds): X-Amz-Date plus
    X-Amz-Expires (S3 signature v4), or Expires (v2, CloudFront); None when it does not say."""
    query = parse_qs(urlsplit(url).query)
    signed, lasts = query.get("X-Amz-Date", [""])[0], query.get("X-Amz-Expires", [""])[0]
    if signed and lasts.isdigit():
        try:
            start = datetime.strptime(signed, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return None
        return start.timestamp() + int(lasts)
    expires = query.get("Expires", [""])[0]
    return float(expires) if expires.isdigit() else None


def _detail(record: dict[str, Any]) -> dict[str, Any]:
    detail = record.get("aiRecordDetail") or {}
    if not isinstance(detail, dict):
        raise ProviderProtocolError("1min.ai aiRecord.aiRecordDetail is not an object")
    return detail


def _failure(record: dict[str, Any], status: str) -> str:
    response = _detail(record).get("responseObject")
    if isinstance(response, dict):
        for key in ("error", "message"):
            if isinstance(response.get(key), str) and response[key]:
                return f"1min.ai: {response[key]}"
    return f"1min.ai answered status {status or 'unknown'} without a video"
