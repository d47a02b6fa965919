"""Throw-away X.509 material for the TLS tests, generated with ``cryptography``.

Everything is made once per test session (see the ``tls_files`` fixture in
``tests/conftest.py``) into a temporary directory, so no key ever lives in the
repository and the tests need no ``openssl`` binary.

What is generated, and why:

* a CA (``ca_cert``) that signs everything below;
* ``server_cert`` for ``DNS:localhost`` and ``IP:127.0.0.1``: the good server;
* ``wrong_host_cert``, signed by the same CA but only for ``DNS:wrong.example``,
  so host-name verification fails while the chain is valid;
* ``client_cert`` for mutual TLS, with its key both in clear (``client_key``) and
  as a password-protected PKCS#8 PEM (``client_key_encrypted``);
* an unrelated ``rogue_ca_cert`` and a client certificate it signed, to check that
  a chain from the wrong CA is refused on both sides.

Keys are RSA 2048 (what most deployments use); certificates are X.509 v3 with
SKI/AKI, key usage and extended key usage set, because rustls/webpki and
Python's ``VERIFY_X509_STRICT`` reject certificates without them.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CLIENT_KEY_PASSWORD", "TLSFiles", "generate_tls_files"]

#: Password of :attr:`TLSFiles.client_key_encrypted`.
CLIENT_KEY_PASSWORD = "turbomqtt-test-password"

_VALIDITY = datetime.timedelta(days=30)


@dataclass(frozen=True)
class TLSFiles:
    """Paths of the generated PEM files (all inside :attr:`directory`)."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    wrong_host_cert: Path
    wrong_host_key: Path
    client_cert: Path
    client_key: Path
    client_key_encrypted: Path
    client_key_password: str
    rogue_ca_cert: Path
    rogue_ca_key: Path
    rogue_client_cert: Path
    rogue_client_key: Path


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "turbomqtt tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _make_ca(common_name: str) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = _new_key()
    now = datetime.datetime.now(datetime.timezone.utc)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + _VALIDITY)
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
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _make_leaf(
    common_name: str,
    ca_cert: x509.Certificate,
    ca_key: rsa.RSAPrivateKey,
    *,
    server: bool,
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = _new_key()
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
    )
    san: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    san += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _write_key(path: Path, key: rsa.RSAPrivateKey, password: str | None = None) -> Path:
    encryption: serialization.KeySerializationEncryption
    if password is None:
        encryption = serialization.NoEncryption()
    else:
        encryption = serialization.BestAvailableEncryption(password.encode())
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    path.chmod(0o600)
    return path


def generate_tls_files(directory: Path) -> TLSFiles:
    """Generate every certificate and key into ``directory`` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = _make_ca("turbomqtt test CA")
    server_cert, server_key = _make_leaf(
        "localhost",
        ca_cert,
        ca_key,
        server=True,
        dns_names=("localhost",),
        ip_addresses=("127.0.0.1",),
    )
    wrong_cert, wrong_key = _make_leaf(
        "wrong.example", ca_cert, ca_key, server=True, dns_names=("wrong.example",)
    )
    client_cert, client_key = _make_leaf("turbomqtt-test-client", ca_cert, ca_key, server=False)
    rogue_ca_cert, rogue_ca_key = _make_ca("rogue CA")
    rogue_client_cert, rogue_client_key = _make_leaf(
        "rogue-client", rogue_ca_cert, rogue_ca_key, server=False
    )
    d = directory
    return TLSFiles(
        directory=d,
        ca_cert=_write_cert(d / "ca.crt", ca_cert),
        ca_key=_write_key(d / "ca.key", ca_key),
        server_cert=_write_cert(d / "server.crt", server_cert),
        server_key=_write_key(d / "server.key", server_key),
        wrong_host_cert=_write_cert(d / "wrong-host.crt", wrong_cert),
        wrong_host_key=_write_key(d / "wrong-host.key", wrong_key),
        client_cert=_write_cert(d / "client.crt", client_cert),
        client_key=_write_key(d / "client.key", client_key),
        client_key_encrypted=_write_key(
            d / "client-encrypted.key", client_key, CLIENT_KEY_PASSWORD
        ),
        client_key_password=CLIENT_KEY_PASSWORD,
        rogue_ca_cert=_write_cert(d / "rogue-ca.crt", rogue_ca_cert),
        rogue_ca_key=_write_key(d / "rogue-ca.key", rogue_ca_key),
        rogue_client_cert=_write_cert(d / "rogue-client.crt", rogue_client_cert),
        rogue_client_key=_write_key(d / "rogue-client.key", rogue_client_key),
    )
