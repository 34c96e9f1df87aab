"""Signing notices, so that an abuse desk can tell a real one from a phishing copy.

Fake takedown notices are a known way into abuse desks: a link or an attachment in a convincing
"report". Every notice is signed with S/MIME (RFC 8551, ``multipart/signed`` with a detached
PKCS #7 signature, made by the ``cryptography`` package). S/MIME rather than OpenPGP because the
mail clients and ticket systems abuse desks use (Outlook, Thunderbird, Apple Mail, RT, OTRS) check
S/MIME signatures against the certificate authorities they already trust, with nothing to set up;
an OpenPGP signature means nothing until the recipient has found, fetched and chosen to trust our
key. The certificate must be issued for the address notices come from, so that clients show the
signature as the sender's.

The signed part is built 7-bit clean (quoted-printable or base64), so no relay on the way needs to
re-encode it and break the signature. While the key or certificate is missing, unreadable, not
yet valid or expired, :func:`signing_problem` says so and no notice is composed: an unsigned
notice is never sent in place of a signed one.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from notices.message import new_boundary
from takedown.errors import TakedownError
from takedown.settings import Settings

_CONTENT_HEADER = re.compile(rb"^(content-|mime-version:)", re.I)


class SigningUnavailable(TakedownError):
    """Notices cannot be signed now; the message says why and what to set."""


@dataclass(frozen=True)
class NoticeSigner:
    """A signing key with its certificate (and the intermediates to send along)."""

    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @classmethod
    def load(cls, key_file: str, certificate_file: str, password: str | None = None) -> NoticeSigner:
        """The key and certificate from their PEM files; :class:`SigningUnavailable` saying which
        file is wrong and how, when they cannot be used."""
        try:
            key_data = Path(key_file).read_bytes()
        except OSError as exc:
            raise SigningUnavailable(f"TAKEDOWN_SIGNING_KEY={key_file}: {exc.strerror or exc}") from None
        try:
            certificates = x509.load_pem_x509_certificates(Path(certificate_file).read_bytes())
        except OSError as exc:
            raise SigningUnavailable(
                f"TAKEDOWN_SIGNING_CERT={certificate_file}: {exc.strerror or exc}"
            ) from None
        except ValueError:
            raise SigningUnavailable(
                f"TAKEDOWN_SIGNING_CERT={certificate_file}: not a PEM certificate "
                "(-----BEGIN CERTIFICATE-----)"
            ) from None
        try:
            key = serialization.load_pem_private_key(key_data, password.encode() if password else None)
        except TypeError:
            raise SigningUnavailable(
                f"TAKEDOWN_SIGNING_KEY={key_file} is protected by a passphrase: "
                "set TAKEDOWN_SIGNING_KEY_PASSWORD"
            ) from None
        except ValueError:
            raise SigningUnavailable(
                f"TAKEDOWN_SIGNING_KEY={key_file}: not a PEM private key, or the passphrase is wrong"
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise SigningUnavailable(
                f"TAKEDOWN_SIGNING_KEY={key_file}: an RSA or EC key is needed for S/MIME"
            )
        certificate, *chain = certificates
        if _public(certificate.public_key()) != _public(key.public_key()):
            raise SigningUnavailable(
                f"TAKEDOWN_SIGNING_CERT={certificate_file}: its first certificate is not for the key in "
                f"TAKEDOWN_SIGNING_KEY={key_file}"
            )
        return cls(key, certificate, tuple(chain))

    def addresses(self) -> list[str]:
        """The e-mail addresses the certificate is for (its subject alternative names)."""
        try:
            names = self.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        except x509.ExtensionNotFound:
            return []
        return [address.lower() for address in names.value.get_values_for_type(x509.RFC822Name)]

    def fingerprint(self) -> str:
        """The certificate's SHA-256 fingerprint as mail clients and ``openssl x509 -fingerprint``
        print it (``AB:CD:...``), for recipients to compare."""
        return ":".join(f"{byte:02X}" for byte in self.certificate.fingerprint(hashes.SHA256()))

    def issuer(self) -> str:
        return self.certificate.issuer.rfc4514_string()

    def problem(self, now: datetime, sender: str) -> str | None:
        """Why notices from ``sender`` cannot be signed at ``now``, or ``None``."""
        starts = self.certificate.not_valid_before_utc
        if now < starts:
            return f"the signing certificate is not valid before {starts:%Y-%m-%d %H:%M}Z"
        if now >= self.certificate.not_valid_after_utc:
            return (
                f"the signing certificate expired on {self.certificate.not_valid_after_utc:%Y-%m-%d %H:%M}Z"
            )
        if sender.lower() not in self.addresses():
            named = ", ".join(self.addresses()) or "no e-mail address"
            return f"the signing certificate is for {named}, but notices come from {sender}"
        return None

    def sign(self, whole: bytes) -> bytes:
        """The message ``whole`` (7-bit, CRLF: :func:`notices.message.build_message`) as
        ``multipart/signed``: its own headers outside, its content signed as it stands."""
        head, _, body = whole.partition(b"\r\n\r\n")
        outer: list[bytes] = []
        inner: list[bytes] = []
        for field in _fields(head):
            (inner if _CONTENT_HEADER.match(field) else outer).append(field)
        entity = (
            b"".join(f + b"\r\n" for f in inner if not f.lower().startswith(b"mime-version:"))
            + b"\r\n"
            + body
        )
        builder = (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(entity)
            .add_signer(self.certificate, self.key, hashes.SHA256())
        )
        for certificate in self.chain:
            builder = builder.add_certificate(certificate)
        signature = builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature])
        return b"".join(f + b"\r\n" for f in outer) + _multipart_signed(entity, signature)


def _multipart_signed(entity: bytes, signature: bytes) -> bytes:
    """``multipart/signed`` (RFC 8551, section 3.5.3) of ``entity`` as it stands and its detached
    signature. Written out here rather than by ``cryptography``'s S/MIME encoding, which builds the
    same structure through the ``email`` package: a tenth of composing a notice, for a fixed text
    around two blobs. The boundary is 128 random bits, so nothing in the entity can hold it."""
    boundary = new_boundary().encode()
    encoded = base64.b64encode(signature)
    lines = b"\r\n".join(encoded[i : i + 64] for i in range(0, len(encoded), 64))
    return b"".join(
        (
            b"MIME-Version: 1.0\r\n",
            b'Content-Type: multipart/signed; protocol="application/x-pkcs7-signature";\r\n',
            b' micalg="sha-256"; boundary="' + boundary + b'"\r\n',
            b"\r\n",
            b"This is an S/MIME signed message\r\n",
            b"\r\n--" + boundary + b"\r\n",
            entity,
            b"\r\n--" + boundary + b"\r\n",
            b'Content-Type: application/x-pkcs7-signature; name="smime.p7s"\r\n',
            b"Content-Transfer-Encoding: base64\r\n",
            b'Content-Disposition: attachment; filename="smime.p7s"\r\n',
            b"\r\n",
            lines,
            b"\r\n\r\n--" + boundary + b"--\r\n",
        )
    )


def _public(key: object) -> bytes:
    """A public key as its DER SubjectPublicKeyInfo, to compare a certificate's with a key's."""
    return key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _fields(head: bytes) -> list[bytes]:
    """The header block as one entry per field, each with its folded lines."""
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        elif line:
            fields.append(line)
    return fields


def signer_for(settings: Settings) -> NoticeSigner | None:
    """The signer the settings ask for; ``None`` when signing is off. :class:`SigningUnavailable`
    when it is on but the key or certificate is not set or cannot be used."""
    if not settings.sign_notices:
        return None
    if not settings.signing_key or not settings.signing_certificate:
        missing = " and ".join(
            name
            for name, value in (
                ("TAKEDOWN_SIGNING_KEY", settings.signing_key),
                ("TAKEDOWN_SIGNING_CERT", settings.signing_certificate),
            )
            if not value
        )
        raise SigningUnavailable(
            f"notices are signed, and {missing} is not set: give the S/MIME key and certificate for the "
            "notices' sender address (or set TAKEDOWN_SIGN_NOTICES=0 to send them unsigned)"
        )
    return NoticeSigner.load(
        settings.signing_key, settings.signing_certificate, settings.signing_key_password
    )
