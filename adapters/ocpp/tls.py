"""TLS for security profiles 2 and 3: the server context, and the station named by a client cert.

Profile 2: TLS with a server certificate; stations still log in with HTTP Basic.
Profile 3: mutual TLS; the TLS handshake itself refuses a station without a certificate
signed by ``ca_file``, and the CSMS then requires the certificate's common name (CN) to be
the station id of the URL, so one station's certificate cannot speak for another.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

SECURITY_PROFILES = (1, 2, 3)


def server_context(
    profile: int, cert_file: Path, key_file: Path, ca_file: Path | None = None
) -> ssl.SSLContext:
    """A TLS 1.2+ server context; profile 3 also demands a client certificate from ``ca_file``."""
    if profile not in (2, 3):
        raise ValueError(f"security_profile: TLS is for profiles 2 and 3, not {profile}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    if profile == 3:
        if ca_file is None:
            raise ValueError("tls_ca: profile 3 needs the CA that signs station certificates")
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=ca_file)
    return context


def common_name(peer_cert: Any) -> str | None:
    """The subject CN of a certificate as ``SSLSocket.getpeercert()`` returns it."""
    if not isinstance(peer_cert, dict):
        return None
    for rdn in peer_cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def check_profile(profile: int, context: ssl.SSLContext | None) -> None:
    """Refuse a CSMS whose TLS context does not give the promised profile."""
    if profile not in SECURITY_PROFILES:
        raise ValueError(f"security_profile: one of {SECURITY_PROFILES}, not {profile}")
    if profile == 1 and context is not None:
        raise ValueError("security_profile: 1 is plain ws://; use 2 or 3 with a TLS context")
    if profile >= 2 and context is None:
        raise ValueError(f"security_profile: {profile} needs a TLS context (certificate, key)")
    if profile == 3 and context is not None and context.verify_mode != ssl.CERT_REQUIRED:
        raise ValueError("security_profile: 3 needs a context that requires client certificates")
