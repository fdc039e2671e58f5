"""Join tokens: SHOAL-1-<CA digest>-<secret>. The digest pins the CA (no trust on first use);
the secret says which role may join. No I/O."""
from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass

TOKEN_RE = re.compile(r"SHOAL-1-([0-9a-f]{64})-([0-9a-z]{32})")


@dataclass(frozen=True)
class JoinToken:
    ca_digest: str
    secret: str

    def __str__(self) -> str:
        return f"SHOAL-1-{self.ca_digest}-{self.secret}"

    def __repr__(self) -> str:
        # Never print the secret by accident (a repr lands in logs and tracebacks).
        return f"JoinToken(ca_digest={self.ca_digest[:12]}..., secret=<hidden>)"


def new(ca_digest: str) -> JoinToken:
    return JoinToken(ca_digest, secrets.token_hex(16))


def parse(text: str, field: str = "--join-token") -> JoinToken:
    m = TOKEN_RE.fullmatch(text.strip())
    if not m:
        raise ValueError(f"{field}: not a join token (SHOAL-1-<64 hex CA digest>-<32 character secret>)")
    return JoinToken(m.group(1), m.group(2))


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
