"""Throwaway TLS certificates for tests, made with the ``cryptography`` package.

:func:`make_tls_files` writes, into one directory, everything a TLS test needs: a certificate
authority, a server certificate for ``127.0.0.1`` and ``localhost`` signed by it, a client
certificate signed by it, and a second, unrelated CA (whose certificate a client can be given to
show that a server signed by the first one is refused).

Keys are ECDSA P-256 (fast to make); certificates are valid from one hour ago for ``days`` days
and carry the extensions strict verifiers want (basic constraints, key usage, subject and
authority key identifiers, extended key usage, subject alternative names).

Example::

    files = make_tls_files(tmp_path)
    # redis-server --port 0 --tls-port N --tls-cert-file files.server_cert
    #   --tls-key-file files.server_key --tls-ca-cert-file files.ca_cert
    # client: ssl_ca_certs=files.ca_cert (and ssl_certfile / ssl_keyfile for a client cert)

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     files = make_tls_files(d)
...     files.server_cert.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
True
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CertificateAuthority",
    "IssuedCertificate",
    "TLSFiles",
    "issue_certificate",
    "make_ca",
    "make_tls_files",
]

DEFAULT_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")


@dataclasses.dataclass(frozen=True)
class IssuedCertificate:
    """A certificate and its private key (both in memory)."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        """The certificate in PEM form."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """The private key in unencrypted PKCS#8 PEM form."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def write(self, cert_path: str | os.PathLike[str], key_path: str | os.PathLike[str]) -> None:
        """Write the certificate and the key (the key readable by the owner only)."""
        Path(cert_path).write_bytes(self.cert_pem())
        key_file = Path(key_path)
        key_file.write_bytes(self.key_pem())
        key_file.chmod(0o600)


@dataclasses.dataclass(frozen=True)
class CertificateAuthority(IssuedCertificate):
    """A self-signed CA that can issue certificates (see :func:`issue_certificate`)."""

    name: str = "roleredis test CA"


@dataclasses.dataclass(frozen=True)
class TLSFiles:
    """Paths of the PEM files written by :func:`make_tls_files`."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca_cert: Path
    other_ca_key: Path
    other_client_cert: Path
    other_client_key: Path


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "roleredis tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(common_name: str = "roleredis test CA", *, days: int = 7) -> CertificateAuthority:
    """A new self-signed certificate authority with a fresh P-256 key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    public = key.public_key()
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(certificate=certificate, key=key, name=common_name)


def _alt_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def issue_certificate(
    ca: CertificateAuthority,
    common_name: str,
    *,
    hosts: Sequence[str] = (),
    server: bool = False,
    client: bool = False,
    days: int = 7,
) -> IssuedCertificate:
    """A leaf certificate signed by ``ca``.

    ``hosts`` become subject alternative names (IP addresses or DNS names); ``server`` and
    ``client`` choose the extended key usages (server auth, client auth, or both).
    """
    if not (server or client):
        raise ValueError("a certificate must be for a server, a client, or both")
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    usages = [
        oid
        for oid, wanted in (
            (ExtendedKeyUsageOID.SERVER_AUTH, server),
            (ExtendedKeyUsageOID.CLIENT_AUTH, client),
        )
        if wanted
    ]
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.certificate.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_alt_name(h) for h in hosts]), critical=False
        )
    certificate = builder.sign(ca.key, hashes.SHA256())
    return IssuedCertificate(certificate=certificate, key=key)


def make_tls_files(
    directory: str | os.PathLike[str], *, hosts: Sequence[str] = DEFAULT_HOSTS, days: int = 7
) -> TLSFiles:
    """Make a CA, a server certificate for ``hosts``, a client certificate, and a second
    unrelated CA (with a client certificate of its own); write them as PEM into
    ``directory`` (created if needed) and return their paths."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    ca = make_ca("roleredis test CA")
    other = make_ca("unrelated test CA")
    server = issue_certificate(ca, "roleredis test server", hosts=hosts, server=True)
    client = issue_certificate(ca, "roleredis test client", client=True)
    other_client = issue_certificate(other, "unrelated test client", client=True)
    files = TLSFiles(
        directory=root,
        ca_cert=root / "ca.crt",
        ca_key=root / "ca.key",
        server_cert=root / "server.crt",
        server_key=root / "server.key",
        client_cert=root / "client.crt",
        client_key=root / "client.key",
        other_ca_cert=root / "other-ca.crt",
        other_ca_key=root / "other-ca.key",
        other_client_cert=root / "other-client.crt",
        other_client_key=root / "other-client.key",
    )
    ca.write(files.ca_cert, files.ca_key)
    other.write(files.other_ca_cert, files.other_ca_key)
    server.write(files.server_cert, files.server_key)
    client.write(files.client_cert, files.client_key)
    other_client.write(files.other_client_cert, files.other_client_key)
    return files
