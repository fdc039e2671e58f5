"""Who a certificate says its holder is. No I/O."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from cryptography import x509
from cryptography.x509.oid import NameOID

from shoal.pki.names import node_of


@dataclass(frozen=True)
class Identity:
    common_name: str
    role: str
    serial: str          # hex, the key under which a revocation is recorded
    not_after: datetime

    def __str__(self) -> str:
        return f"{self.role}:{self.common_name}"

    @property
    def node_id(self) -> str:
        """Whom the certificate is of: an agent's node id (its CN is "<node id>.<generation>"),
        else the CN itself (manager id, "admin")."""
        return node_of(self.common_name) if self.role == "agent" else self.common_name


def _attr(cert: x509.Certificate, oid) -> str:
    values = cert.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def of_cert(cert: x509.Certificate) -> Identity:
    return Identity(_attr(cert, NameOID.COMMON_NAME), _attr(cert, NameOID.ORGANIZATIONAL_UNIT_NAME),
                    serial_hex(cert.serial_number), cert.not_valid_after_utc)


def serial_hex(serial: int) -> str:
    return format(serial, "x")


@lru_cache(maxsize=4096)
def of_pem(pem: bytes) -> Identity:
    """Cached: the same peer certificate arrives with every call on a connection."""
    return of_cert(x509.load_pem_x509_certificate(pem))
