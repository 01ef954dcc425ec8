"""What every provider adapter offers. Adapters turn values into requests and bytes into values;
they never touch the database."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from receiver.metrics import provider_call
from receiver.providers.errors import (
    CancelNotSupported,
    MalformedCallback,
    ProviderProtocolError,
)
from receiver.providers.http import call_json

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True)
class TaskRequest:
    """A client's request in reelhook's unified fields, after type checks."""

    provider: str
    model: str
    prompt: str | None = None
    negative_prompt: str | None = None
    image: str | None = None
    end_image: str | None = None
    duration: float | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    guidance_scale: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallbackTarget:
    """Where and how the provider should call back for one task."""

    url: str
    secret: str
    events: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProviderConfig:
    """How to reach one provider."""

    base_url: str
    api_key: str
    timeout: float = 30.0
    long_timeout: float = 600.0


class Report(NamedTuple):
    """What a provider said about a task, in reelhook's terms (None: it did not say)."""

    provider_task_id: str | None
    provider_status: str | None
    status: str | None
    dedupe_key: str
    progress: int | None = None
    video_url: str | None = None
    error: str | None = None
    payload: str = ""
    video_expires_at: float | None = None  # when the provider's video link dies (Unix seconds)


class Provider(Protocol):
    """One provider's protocol: validation, submit, fetch, cancel and callbacks."""

    name: str
    models: frozenset[str]
    supports_callbacks: bool
    cancels: bool  # has a cancel call (the others refuse every cancel with their reason)
    token_in_path: bool  # the callback secret travels in the callback URL's path
    confirm_terminal: bool  # a terminal callback counts only once Get Task agrees
    pollable: bool  # has a Get Task to poll
    background_submit: bool  # the submit call lasts as long as the generation
    fetches_image: bool  # reelhook itself downloads an http(s) `image` (a user URL we call)
    idempotent_submit: bool  # a resend under the same Idempotency-Key makes no second task

    def defaults(self, model: str) -> Mapping[str, Any]:
        """The unified fields' values used when a request leaves them out."""

    def validate(self, request: TaskRequest) -> None:
        """Raise InvalidRequest naming the first field that breaks the provider's rules."""

    def estimate_cost(self, request: TaskRequest) -> float | None:
        """The price in US dollars from the provider's published pricing, or None."""

    async def submit(
        self,
        client: httpx.AsyncClient,
        request: TaskRequest,
        callback: CallbackTarget | None,
        idempotency_key: str | None,
    ) -> Report:
        """Create the task at the provider; raise a ProviderError when it refuses."""

    async def fetch(self, client: httpx.AsyncClient, provider_task_id: str) -> Report:
        """Ask the provider for the task's current state."""

    async def cancel(self, client: httpx.AsyncClient, provider_task_id: str) -> None:
        """Cancel at the provider; CancelNotSupported when it cannot."""

    def presented_secret(self, headers: Mapping[str, str], path_token: str | None) -> str | None:
        """The secret or token a callback request carries, or None."""

    def read_callback(self, body: bytes) -> Report:
        """Parse a verified callback body; MalformedCallback when it is not the provider's shape."""


class Adapter:
    """What the adapters share: their configuration, and no callbacks, cancel or price unless
    an adapter says otherwise."""

    name: str
    title: str
    models: frozenset[str]
    default_base_url: str  # the provider's real host (PROVIDER_BASE_URL overrides it)
    default_max_in_flight: int  # tasks in flight at once (0: no cap)
    supports_callbacks = False
    cancels = False
    token_in_path = False
    confirm_terminal = False
    pollable: bool
    background_submit = False
    fetches_image = False
    idempotent_submit = False

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    def auth_headers(self) -> dict[str, str]:
        """The headers that authenticate a call to this provider."""
        raise NotImplementedError

    async def call(
        self,
        client: httpx.AsyncClient,
        method: str,
        path: str,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """One authenticated call to `path` on the provider's base URL; the decoded JSON answer."""
        with provider_call(self.name, method):
            return await call_json(
                client,
                method,
                f"{self.config.base_url}{path}",
                timeout=timeout or self.config.timeout,
                headers={**self.auth_headers(), **(headers or {})},
                **kwargs,
            )

    def defaults(self, model: str) -> Mapping[str, Any]:
        """None known unless the adapter says so."""
        return {}

    def estimate_cost(self, request: TaskRequest) -> float | None:
        """Unknown unless the provider's pricing is in our seeds."""
        return None

    async def cancel(self, client: httpx.AsyncClient, provider_task_id: str) -> None:
        """CancelNotSupported unless the adapter can cancel."""
        raise CancelNotSupported(f"{self.title} offers no cancel for these tasks")

    def presented_secret(self, headers: Mapping[str, str], path_token: str | None) -> str | None:
        """No secret: the provider sends no callbacks."""
        return None

    def read_callback(self, body: bytes) -> Report:
        """MalformedCallback: the provider sends no callbacks."""
        raise MalformedCallback(f"{self.title} sends no callbacks")


async def ask_about(
    provider: Provider, client: httpx.AsyncClient, provider_task_id: str
) -> Report:
    """The provider's Get Task answer about `provider_task_id`; ProviderProtocolError when the
    answer names another task (a provider's mix-up is never applied to ours)."""
    report = await provider.fetch(client, provider_task_id)
    if report.provider_task_id and report.provider_task_id != provider_task_id:
        raise ProviderProtocolError(
            f"{provider.name} answered Get Task {provider_task_id} about another task"
            f" ({report.provider_task_id[:100]}); not applied"
        )
    return report
