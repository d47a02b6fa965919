"""TLS settings from paho's ``tls_set``/``tls_set_context`` arguments, turned into the Rust
core's rustls configuration once (so bad files fail at ``tls_set`` time, as in paho)."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, replace
from typing import Any, Optional

from turbomqtt import _core

_log = logging.getLogger("turbomqtt.tls")

_VERSIONS = {ssl.TLSVersion.TLSv1_2: 12, ssl.TLSVersion.TLSv1_3: 13}


def _protocol_range(tls_version: Optional[int]) -> tuple[Optional[int], Optional[int]]:
    if tls_version is None or tls_version in (ssl.PROTOCOL_TLS_CLIENT, ssl.PROTOCOL_TLS):
        return None, None
    if tls_version == ssl.PROTOCOL_TLSv1_2:
        return 12, 12
    # TLS 1.0 and 1.1 are broken and rustls does not offer them; brokers that accept those
    # accept 1.2 too, so connect with the safe versions rather than refuse an old script.
    _log.warning("tls_version %r is not supported; using TLS 1.2 or later", tls_version)
    return None, None


@dataclass(frozen=True)
class TlsSettings:
    """The TLS options of one client, and the core configuration built from them."""

    ca_certs: Optional[str] = None
    ca_data: Optional[bytes] = None
    system_roots: bool = False
    certfile: Optional[str] = None
    keyfile: Optional[str] = None
    keyfile_password: Optional[bytes] = None
    verify: bool = True
    check_hostname: bool = True
    min_version: Optional[int] = None
    max_version: Optional[int] = None
    alpn_protocols: Optional[tuple[str, ...]] = None
    ciphers: Optional[str] = None
    built: Any = None

    @classmethod
    def from_files(
        cls,
        *,
        ca_certs: Optional[str],
        certfile: Optional[str],
        keyfile: Optional[str],
        cert_reqs: Optional[ssl.VerifyMode],
        tls_version: Optional[int],
        ciphers: Optional[str],
        keyfile_password: Any,
        alpn_protocols: Optional[list[str]],
    ) -> TlsSettings:
        if callable(keyfile_password):
            keyfile_password = keyfile_password()
        if isinstance(keyfile_password, str):
            keyfile_password = keyfile_password.encode("utf-8")
        verify = cert_reqs != ssl.CERT_NONE
        low, high = _protocol_range(tls_version)
        settings = cls(
            ca_certs=None if ca_certs is None else str(ca_certs),
            system_roots=ca_certs is None,
            certfile=None if certfile is None else str(certfile),
            keyfile=None if keyfile is None else str(keyfile),
            keyfile_password=keyfile_password,
            verify=verify,
            check_hostname=verify,
            min_version=low,
            max_version=high,
            alpn_protocols=None if alpn_protocols is None else tuple(alpn_protocols),
            ciphers=ciphers,
        )
        return settings._build()

    @classmethod
    def from_context(cls, context: ssl.SSLContext) -> TlsSettings:
        der = context.get_ca_certs(binary_form=True)
        verify = context.verify_mode != ssl.CERT_NONE
        settings = cls(
            ca_data=b"".join(der) if der else None,
            system_roots=verify and not der,
            verify=verify,
            check_hostname=context.check_hostname,
            min_version=_VERSIONS.get(context.minimum_version),
            max_version=_VERSIONS.get(context.maximum_version),
        )
        return settings._build()

    def _build(self) -> TlsSettings:
        config = _core.TlsConfig(
            ca_certs=self.ca_certs,
            ca_data=self.ca_data,
            system_roots=self.system_roots,
            certfile=self.certfile,
            keyfile=self.keyfile,
            keyfile_password=self.keyfile_password,
            verify=self.verify,
            check_hostname=self.check_hostname,
            min_version=self.min_version,
            max_version=self.max_version,
            alpn_protocols=None if self.alpn_protocols is None else list(self.alpn_protocols),
            ciphers=self.ciphers,
        )
        return replace(self, built=config)

    def set_insecure(self, insecure: bool) -> TlsSettings:
        """A copy with the host-name check off (``insecure``) or on."""
        return replace(self, check_hostname=not insecure and self.verify)._build()

    def config(self) -> Any:
        """The core's TLS configuration."""
        return self.built
