"""The agent's image RPCs: protos to the image engine and back, bad input and engine failures
to one-line statuses (agent/api.py stays one short method per RPC)."""
from __future__ import annotations

import re
from typing import AsyncIterator

import grpc

from shoal.agent.runtime.base import Conflict, NotFound, RuntimeFailure
from shoal.agent.runtime.image_types import Credential, Image, ImageEngine, Progress
from shoal.protos.limits import ARCHIVE_CHUNK_BYTES
from shoal.protos.shoal.v1 import types_pb2

# An image reference or id as docker accepts it (the manager checks the same); anything else is refused.
IMAGE_RE = re.compile(r"[a-z0-9][a-z0-9._/:@+-]{0,254}", re.IGNORECASE)
PLATFORM_RE = re.compile(r"[a-z0-9_.-]{1,32}(/[a-z0-9_.-]{1,32}){0,2}", re.IGNORECASE)
MAX_CREDENTIALS = 8
MAX_CREDENTIAL_FIELD = 4096


def _show(value: str, limit: int = 80) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in value[:limit])


def require_image(value: str) -> str:
    if not IMAGE_RE.fullmatch(value):
        raise ValueError(f'image: "{_show(value)}" is not an image reference')
    return value


def credentials(auths) -> tuple[Credential, ...]:
    """The request's registry_auth, checked for size only: its values are never quoted back."""
    if len(auths) > MAX_CREDENTIALS:
        raise ValueError(f"registry_auth: {len(auths)} credentials; at most {MAX_CREDENTIALS}")
    out = []
    for a in auths:
        if any(len(v) > MAX_CREDENTIAL_FIELD for v in (a.server, a.username, a.password, a.identity_token)):
            raise ValueError(f"registry_auth: a field is longer than {MAX_CREDENTIAL_FIELD} characters")
        out.append(Credential(a.server, a.username, a.password, a.identity_token))
    return tuple(out)


def image_to_proto(i: Image) -> types_pb2.ImageOnNode:
    return types_pb2.ImageOnNode(id=i.id, repo_tags=i.repo_tags, repo_digests=i.repo_digests,
                                 size_bytes=i.size_bytes, created=i.created, containers=i.containers)


def progress_to_proto(p: Progress) -> types_pb2.ProgressEvent:
    return types_pb2.ProgressEvent(status=p.status[:1024], layer=p.layer[:128], current=p.current, total=p.total,
                                   done=bool(p.error), error=p.error[:1024])


async def pull(images: ImageEngine, request) -> AsyncIterator[types_pb2.ProgressEvent]:
    image = require_image(request.image)
    if request.platform and not PLATFORM_RE.fullmatch(request.platform):
        raise ValueError(f'platform: "{_show(request.platform)}" is not os[/arch[/variant]]')
    async for p in images.pull(image, request.platform, credentials(request.registry_auth)):
        yield progress_to_proto(p)
        if p.error:
            return
    yield types_pb2.ProgressEvent(status=f"Pulled {image}", done=True)


async def load(images: ImageEngine, chunks) -> AsyncIterator[types_pb2.ProgressEvent]:
    async def data() -> AsyncIterator[bytes]:
        async for chunk in chunks:
            if len(chunk.data) > ARCHIVE_CHUNK_BYTES:
                raise ValueError(f"data: a chunk of {len(chunk.data)} bytes; at most {ARCHIVE_CHUNK_BYTES}")
            yield chunk.data

    failed = False
    async for p in images.load(data()):
        failed = failed or bool(p.error)
        yield progress_to_proto(p)
    if not failed:
        yield types_pb2.ProgressEvent(status="loaded", done=True)


async def guarded(context, events: AsyncIterator[types_pb2.ProgressEvent]) -> AsyncIterator[types_pb2.ProgressEvent]:
    """A stream's failures as statuses: bad input INVALID_ARGUMENT, the engine's refusal in its words."""
    try:
        async for event in events:
            yield event
    except ValueError as exc:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    except RuntimeFailure as exc:
        code = (grpc.StatusCode.NOT_FOUND if isinstance(exc, NotFound) else
                grpc.StatusCode.ALREADY_EXISTS if isinstance(exc, Conflict) else grpc.StatusCode.INTERNAL)
        await context.abort(code, (str(exc).splitlines() or [exc.__class__.__name__])[0])
