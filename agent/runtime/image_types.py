"""What the agent's image calls take and give (pure: no engine here), and the engine's JSON turned into it."""
from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import AsyncIterator, Protocol


@dataclass(frozen=True, slots=True)
class Credential:
    server: str
    username: str = ""
    password: str = ""
    identity_token: str = ""

    def __repr__(self) -> str:   # never the secret, even in a traceback
        return f"Credential(server={self.server!r}, username={self.username!r})"


@dataclass(frozen=True, slots=True)
class Image:
    id: str
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    size_bytes: int
    created: str
    containers: int


@dataclass(frozen=True, slots=True)
class Progress:
    status: str
    layer: str = ""
    current: int = 0
    total: int = 0
    error: str = ""


def auth_config(creds: tuple[Credential, ...]) -> dict | None:
    """docker-py's auth_config for a pull: the first credential (the CLI sends the image's registry's)."""
    for c in creds:
        if c.identity_token:
            return {"identitytoken": c.identity_token, "serveraddress": c.server}
        if c.username or c.password:
            return {"username": c.username, "password": c.password, "serveraddress": c.server}
    return None


def line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0] if text else "the engine failed"


def progress_of(event: dict) -> Progress:
    """One JSON message of the engine's pull/load stream."""
    if event.get("errorDetail") or event.get("error"):
        detail = event.get("errorDetail") or {}
        return Progress(status="", error=line(str(detail.get("message") or event.get("error") or "")))
    detail = event.get("progressDetail") or {}
    status = event.get("status") or (event.get("stream") or "").strip()
    return Progress(status=status, layer=str(event.get("id") or ""),
                    current=int(detail.get("current") or 0), total=int(detail.get("total") or 0))


def image_of(summary: dict) -> Image:
    created = summary.get("Created") or 0
    return Image(
        id=summary.get("Id", ""),
        repo_tags=tuple(t for t in summary.get("RepoTags") or () if t != "<none>:<none>"),
        repo_digests=tuple(d for d in summary.get("RepoDigests") or () if d != "<none>@<none>"),
        size_bytes=int(summary.get("Size") or 0),
        created=datetime.fromtimestamp(int(created), timezone.utc).isoformat() if created else "",
        containers=int(summary.get("Containers", -1)),
    )


class ImageEngine(Protocol):
    async def list(self, all: bool) -> builtins.list[Image]: ...
    def pull(self, image: str, platform: str, creds: tuple[Credential, ...]) -> AsyncIterator[Progress]: ...
    def load(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[Progress]: ...
    async def remove(self, image: str, force: bool) -> tuple[builtins.list[str], builtins.list[str]]: ...
    async def prune(self, all: bool) -> tuple[builtins.list[str], int]: ...
