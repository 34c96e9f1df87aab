"""The sandbox's certificate authority for S/MIME: a root, and certificates for a mail address.

Real hotlines buy an S/MIME certificate for their notices' sender address from a CA that mail
clients trust. The sandbox plays that CA: it issues a certificate for the sandbox hotline's address
(and, for tests, expired or misaddressed ones), and its root is what a recipient verifies against
(``openssl smime -verify -CAfile ROOT``).
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SINCE = datetime(2020, 1, 1, tzinfo=UTC)
"""Where the sandbox's certificates start: the demo and the tests run weeks of chasing on clocks
set to any day of these years."""


class SigningAuthority:
    """A root certificate and key, in a directory of its own, issuing S/MIME certificates."""

    def __init__(self) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="takedown-sandbox-ca-")
        self.directory = Path(self._directory.name)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sandbox S/MIME Root")])
        now = datetime.now(UTC)
        self.root = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(SINCE)
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(authority=True), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.root_file = self.directory / "root.pem"
        self.root_file.write_bytes(self.root.public_bytes(serialization.Encoding.PEM))
        self._issued = 0

    def issue(
        self, address: str, *, not_before: datetime | None = None, not_after: datetime | None = None
    ) -> tuple[Path, Path]:
        """A key and a certificate for ``address``, as files (key, certificate); valid from
        :data:`SINCE` for ten years unless told otherwise."""
        now = datetime.now(UTC)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.EMAIL_ADDRESS, address)]))
            .issuer_name(self.root.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or SINCE)
            .not_valid_after(not_after or now + timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(address)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(_key_usage(authority=False), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self._issued += 1
        key_file = self.directory / f"signing-{self._issued}.key"
        certificate_file = self.directory / f"signing-{self._issued}.pem"
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        key_file.chmod(0o600)
        certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return key_file, certificate_file

    def cleanup(self) -> None:
        self._directory.cleanup()


def _key_usage(*, authority: bool) -> x509.KeyUsage:
    """A root signs certificates; a mail certificate signs (and may encrypt) messages."""
    return x509.KeyUsage(
        digital_signature=not authority,
        content_commitment=not authority,
        key_encipherment=not authority,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=authority,
        crl_sign=authority,
        encipher_only=False,
        decipher_only=False,
    )
