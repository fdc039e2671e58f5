"""The cluster CA, certificates and join tokens (pure; no sockets)."""
from __future__ import annotations

import base64
import stat
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from shoal.pki import ca, files, identity, tokens


@pytest.fixture(scope="module")
def authority():
    return ca.Authority.create("test")


def test_issued_certificate_names_holder_role_and_dns_name(authority):
    key = ca.new_key()
    cert = ca.issue_for_role(authority, key.public_key(), "ab12cd34ef", ca.ROLE_AGENT)
    who = identity.of_cert(cert)
    assert (who.common_name, who.role) == ("ab12cd34ef", "agent")
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["ab12cd34ef.node.shoal"]
    assert authority.verify(cert)
    assert not ca.Authority.create("other").verify(cert)


def test_manager_certificates_carry_the_role_name(authority):
    cert = ca.issue_for_role(authority, ca.new_key().public_key(), "mgr-1", ca.ROLE_MANAGER)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [ca.MANAGER_NAME]


def test_lifetime_is_capped_by_the_ca(authority):
    short = ca.Authority.create("short", lifetime=timedelta(days=1))
    cert = short.issue(ca.new_key().public_key(), "x", ca.ROLE_ADMIN, lifetime=timedelta(days=90))
    assert cert.not_valid_after_utc <= short.cert.not_valid_after_utc


def test_unknown_role_is_refused(authority):
    with pytest.raises(ValueError, match="role"):
        authority.issue(ca.new_key().public_key(), "x", "root")


def test_csr_subject_is_ignored_but_its_signature_checked(authority):
    key = ca.new_key()
    pem = ca.make_csr(key, "i-claim-to-be-admin")
    assert ca.csr_public_key(pem).public_numbers() == key.public_key().public_numbers()
    der = x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER)
    forged = der.replace(b"i-claim-to-be-admin", b"j-claim-to-be-admin")
    tampered = b"-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(forged) + b"-----END CERTIFICATE REQUEST-----\n"
    with pytest.raises(ca.CsrError):
        ca.csr_public_key(tampered)
    with pytest.raises(ca.CsrError, match="longer"):
        ca.csr_public_key(b"x" * 9000)
    with pytest.raises(ca.CsrError, match="not a PEM"):
        ca.csr_public_key(b"garbage")


def test_load_refuses_a_key_of_another_ca(authority):
    other = ca.Authority.create("other")
    with pytest.raises(ValueError, match="does not belong"):
        ca.Authority.load(authority.pem, ca.key_pem(other.key))
    again = ca.Authority.load(authority.pem, ca.key_pem(authority.key))
    assert ca.digest(again.pem) == ca.digest(authority.pem)


def test_token_round_trip_and_repr_hides_the_secret(authority):
    t = tokens.new(ca.digest(authority.pem))
    text = str(t)
    assert text.startswith("SHOAL-1-" + ca.digest(authority.pem) + "-")
    assert tokens.parse(text) == t
    assert t.secret not in repr(t)
    assert tokens.same_secret(t.secret, tokens.parse(text).secret)
    assert not tokens.same_secret(t.secret, tokens.new(t.ca_digest).secret)


@pytest.mark.parametrize("bad", ["", "SHOAL-1-abc-def", "SHOAL-2-" + "a" * 64 + "-" + "b" * 32,
                                 "SHOAL-1-" + "g" * 64 + "-" + "b" * 32, "SHOAL-1-" + "a" * 64 + "-" + "b" * 31])
def test_malformed_tokens_are_refused_with_the_field(bad):
    with pytest.raises(ValueError, match="^--join-token: not a join token"):
        tokens.parse(bad)


def test_private_files_are_0600(tmp_path, authority):
    key = ca.new_key()
    cert = ca.issue_for_role(authority, key.public_key(), "admin", ca.ROLE_ADMIN)
    creds = files.Credentials(authority.pem, ca.cert_pem(cert), ca.key_pem(key))
    files.save(tmp_path / "d", "admin", creds)
    assert stat.S_IMODE((tmp_path / "d" / "admin.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o700
    assert files.load(tmp_path / "d", "admin") == creds
    assert files.load(tmp_path / "d", "nobody") is None
    assert "PRIVATE" not in repr(creds)
