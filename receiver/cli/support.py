"""What every client command shares: one way to reach the server, one table printer, and one
way to declare a command with its description and the settings it reads."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

CLIENT_SETTINGS = ("REELHOOK_URL", "REELHOOK_API_TOKEN")
Run = Callable[[argparse.Namespace], int]


class ClientError(Exception):
    """The request could not be made or was refused; the message says which and why."""


class ApiClient:
    """The client API of a running server: REELHOOK_URL (default http://127.0.0.1:$PORT) and
    the first token in REELHOOK_API_TOKEN."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.url = (env.get("REELHOOK_URL") or f"http://127.0.0.1:{env.get('PORT') or 8080}")
        self.url = self.url.rstrip("/")
        self.token = (env.get("REELHOOK_API_TOKEN") or "").split(",")[0].strip()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request; the decoded JSON answer, or ClientError that says what went wrong."""
        if not self.token:
            raise ClientError(
                "REELHOOK_API_TOKEN is not set: set it to one of the server's API tokens"
            )
        import httpx  # only the client commands pay for it, not serve, worker or tick

        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        try:
            response = httpx.request(
                method, f"{self.url}{path}", headers=headers, timeout=30.0, **kwargs
            )
        except httpx.HTTPError as exc:
            raise ClientError(
                f"cannot reach reelhook at {self.url} ({type(exc).__name__}); is `reelhook serve`"
                " running there? (REELHOOK_URL)"
            ) from exc
        return _answer(response, self.url)


    def download(self, path: str, target: Path) -> int:
        """Stream the bytes at `path` into the file `target` (following a redirect to a
        presigned URL, without the token); the number of bytes, or ClientError. The file
        appears only once it is whole."""
        if not self.token:
            raise ClientError("REELHOOK_API_TOKEN is not set: set it to one of the server's tokens")
        import httpx

        partial = target.with_name(target.name + ".part")
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            with httpx.stream("GET", f"{self.url}{path}", headers=headers, timeout=60.0,
                              follow_redirects=True) as response:
                if response.status_code >= 400:
                    response.read()
                    _answer(response, self.url)
                with partial.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
        except httpx.HTTPError as exc:
            partial.unlink(missing_ok=True)
            raise ClientError(f"downloading from {self.url} failed ({type(exc).__name__})") from exc
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise ClientError(f"cannot write {target}: {exc.strerror}") from exc
        partial.replace(target)
        return target.stat().st_size


def _answer(response: httpx.Response, url: str) -> Any:
    is_json = response.headers.get("content-type", "").startswith("application/json")
    body = response.json() if is_json else {}
    if response.status_code == 401:
        raise ClientError(
            f"the server at {url} refused REELHOOK_API_TOKEN (401): it is not one of the"
            " server's tokens"
        )
    if response.status_code >= 400:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        message = error.get("message") or response.text[:200]
        raise ClientError(f"{response.status_code}: {message}")
    return body


def add_command(
    commands: Any, name: str, summary: str, settings: Sequence[str], run: Run,
    details: str = "",
) -> argparse.ArgumentParser:
    """A subcommand whose --help says what it does and which settings it reads."""
    reads = ", ".join(settings) if settings else "none"
    description = f"{summary}.\n\n{details + chr(10) + chr(10) if details else ''}Settings: {reads}"
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=summary, description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run)
    return parser
