"""Which registry an image reference names, by docker's rule (distribution/reference's
splitDockerDomain): the part before the first "/" is a registry host only if it has a "." or a
":", is "localhost", or has an upper-case letter; otherwise the image is on Docker Hub."""
from __future__ import annotations

DOCKER_HUB = "docker.io"
# The key docker's own config.json files Docker Hub's credentials under (docker login's default).
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", DOCKER_HUB_AUTH_KEY,
                "https://index.docker.io/v1", "index.docker.io/v1/", "https://docker.io"}


def registry_of(image: str) -> str:
    """The registry host[:port] of a reference: "reg.test:5000/a/b:1" -> "reg.test:5000"; "busybox" -> docker.io."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        return first
    return DOCKER_HUB


def auth_key(server: str) -> str:
    """The key a registry's credentials are filed under: its host[:port], as `docker login` files
    them (a scheme and a trailing path are dropped), Docker Hub under docker's historical key."""
    s = server.strip()
    if s in _HUB_ALIASES or s.rstrip("/") in _HUB_ALIASES:
        return DOCKER_HUB_AUTH_KEY
    for scheme in ("https://", "http://"):
        if s.startswith(scheme):
            s = s[len(scheme):]
    s = s.split("/", 1)[0]
    return DOCKER_HUB_AUTH_KEY if s in _HUB_ALIASES else s
