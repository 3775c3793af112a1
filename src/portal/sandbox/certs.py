"""A private CA and a server certificate for the sandbox, so the SDK talks to it over verified HTTPS.

azure-core refuses to send bearer tokens over plain HTTP, and turning verification off would hide real TLS
mistakes, so the sandbox makes its own CA and clients trust exactly that CA (`connection_verify=<ca.pem>`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_NAMES = ("127.0.0.1", "::1", "localhost")
_VALIDITY = dt.timedelta(days=365)
# Certificates closer than this to expiry are made anew rather than reused.
_RENEW_BEFORE = dt.timedelta(days=7)


@dataclass(frozen=True)
class CertificatePaths:
    ca_cert: Path  # what clients verify against
    server_cert: Path
    server_key: Path


def ensure_certificates(folder: str | os.PathLike[str], extra_names: tuple[str, ...] = ()) -> CertificatePaths:
    """Reuse the certificates in `folder` when still valid for every name, else make a new CA and server pair.

    Reuse keeps `ca.pem` stable across restarts of a sandbox on the same state folder, so a client configured
    once keeps working. The CA's private key is never written: a new pair is made when anything changes.
    """
    names = tuple(dict.fromkeys(DEFAULT_NAMES + tuple(extra_names)))
    base = Path(folder)
    paths = CertificatePaths(base / "ca.pem", base / "server.pem", base / "server-key.pem")
    if _reusable(paths, names):
        return paths
    base.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _ca_certificate(ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _server_certificate(server_key, ca_key, ca_cert, names)
    _write(
        paths.server_key,
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        private=True,
    )
    _write(paths.server_cert, server_cert.public_bytes(serialization.Encoding.PEM))
    _write(paths.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM))
    return paths


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Portal Sandbox CA")])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))  # tolerate small clock skew
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    names: tuple[str, ...],
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    # Python 3.13 verifies with VERIFY_X509_STRICT, which wants the key identifiers and a proper SAN.
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "portal-sandbox")]))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _reusable(paths: CertificatePaths, names: tuple[str, ...]) -> bool:
    if not (paths.ca_cert.is_file() and paths.server_cert.is_file() and paths.server_key.is_file()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
        ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    if cert.issuer != ca.subject:
        return False
    if cert.not_valid_after_utc - dt.datetime.now(dt.UTC) < _RENEW_BEFORE:
        return False
    return all(_general_name(n) in san for n in names)


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    """Atomic, and the key readable by its owner only."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
