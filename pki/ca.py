"""The cluster CA: keys, certificate signing requests and certificates. No I/O.

Every certificate names its holder in the subject: CN = node id (agents), manager id
(managers) or "admin"; OU = the role. Peers are checked by role, and agents also by
node id, so an address change never invalidates a certificate.
"""
from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shoal.pki.names import MANAGER_NAME, node_name, node_of  # noqa: F401  (their home before pki.names)

ROLE_MANAGER = "manager"
ROLE_AGENT = "agent"
ROLE_ADMIN = "admin"
ROLE_ETCD = "etcd"      # etcd's serving certificate: no Shoal API accepts it
ROLES = (ROLE_MANAGER, ROLE_AGENT, ROLE_ADMIN, ROLE_ETCD)

DEFAULT_LIFETIME = timedelta(days=90)
CA_LIFETIME = timedelta(days=3650)
# Clocks on hosts disagree a little; a certificate is valid from a bit before it was made.
BACKDATE = timedelta(minutes=5)


class CsrError(ValueError):
    pass


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("not an EC private key")
    return key


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def digest(ca_pem: bytes) -> str:
    """What a join token pins: the SHA-256 of the CA certificate's DER form, hex."""
    return hashlib.sha256(load_cert(ca_pem).public_bytes(serialization.Encoding.DER)).hexdigest()


def make_csr(key: ec.EllipticCurvePrivateKey, common_name: str) -> bytes:
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)


def csr_public_key(csr_pem: bytes, max_bytes: int = 8192):
    """The public key of a CSR whose self-signature holds; its subject is ignored (the CA decides names)."""
    if len(csr_pem) > max_bytes:
        raise CsrError(f"csr: longer than {max_bytes} bytes")
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise CsrError("csr: not a PEM certificate signing request") from exc
    if not csr.is_signature_valid:
        raise CsrError("csr: its signature does not verify")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.key_size < 256:
        raise CsrError("csr: the key must be EC P-256 or stronger")
    return key


@dataclass
class Authority:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, cluster: str = "shoal", lifetime: timedelta = CA_LIFETIME) -> "Authority":
        key = new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{cluster} cluster CA"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "shoal")])
        now = datetime.now(timezone.utc)
        cert = (x509.CertificateBuilder()
                .subject_name(name).issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - BACKDATE).not_valid_after(now + lifetime)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        return cls(cert, key)

    @classmethod
    def load(cls, cert: bytes, key: bytes) -> "Authority":
        authority = cls(load_cert(cert), load_key(key))
        if ec_public_key(authority.cert).public_numbers() != authority.key.public_key().public_numbers():
            raise ValueError("the CA key does not belong to the CA certificate")
        return authority

    @property
    def pem(self) -> bytes:
        return cert_pem(self.cert)

    def issue(self, public_key, common_name: str, role: str, *, lifetime: timedelta = DEFAULT_LIFETIME,
              dns_names: tuple[str, ...] = (), ip_addresses: tuple[str, ...] = ()) -> x509.Certificate:
        if role not in ROLES:
            raise ValueError(f"role: {role!r} is not one of {', '.join(ROLES)}")
        now = datetime.now(timezone.utc)
        # A certificate never outlives the CA that signed it.
        not_after = min(now + lifetime, self.cert.not_valid_after_utc)
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                                            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
                                            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "shoal")]))
                   .issuer_name(self.cert.subject)
                   .public_key(public_key)
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - BACKDATE).not_valid_after(not_after)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                         ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                                  critical=False))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def verify(self, cert: x509.Certificate) -> bool:
        """True when this CA signed cert (the TLS stack does this for connections; this is for files)."""
        try:
            algorithm = cert.signature_hash_algorithm
            if algorithm is None:
                return False   # an Ed25519-style signature: not one this CA makes
            ec_public_key(self.cert).verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(algorithm))
            return True
        except InvalidSignature:
            return False


def ec_public_key(cert: x509.Certificate) -> ec.EllipticCurvePublicKey:
    """The certificate's key, which is an EC key in every certificate Shoal makes or accepts."""
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError(f"the certificate's key is {type(key).__name__}, not an EC key")
    return key


def issue_for_role(authority: Authority, public_key, common_name: str, role: str,
                   lifetime: timedelta = DEFAULT_LIFETIME, ip_addresses: tuple[str, ...] = ()) -> x509.Certificate:
    """The names each role's certificate carries (see MANAGER_NAME and node_name)."""
    dns: tuple[str, ...]
    if role == ROLE_MANAGER:
        dns = (MANAGER_NAME,)
    elif role == ROLE_AGENT:
        # Named by the node, not by the generation: the manager dials a node, whichever join it is of.
        dns = (node_name(node_of(common_name)),)
    else:
        dns = ()
    return authority.issue(public_key, common_name, role, lifetime=lifetime, dns_names=dns, ip_addresses=ip_addresses)
