"""Certificates for the security-profile tests, made by the tests (``openssl`` CLI, EC P-256).

A CA, a server certificate for 127.0.0.1 signed by it, and station (client) certificates
whose CN is the station id, from that CA or from a rogue one. (``cryptography`` is not in
the project's environment; the ``openssl`` CLI is.)
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@dataclass(frozen=True)
class Pem:
    """A certificate and its key, as files."""

    cert: Path
    key: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


class TestCa:
    """A certificate authority that issues server and station certificates into ``directory``."""

    __test__ = False  # not a pytest class

    def __init__(self, directory: Path, name: str = "test-ca") -> None:
        self.directory = directory
        self.name = name
        cert, key = directory / f"{name}.crt", directory / f"{name}.key"
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-days", "1", "-subj", f"/CN={name}",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-keyout", str(key), "-out", str(cert))  # fmt: skip
        self.pem = Pem(cert, key)

    def issue(self, cn: str, *, server: bool = False) -> Pem:
        stem = self.directory / f"{self.name}-{cn}"
        key, csr, cert = (
            stem.with_suffix(".key"),
            stem.with_suffix(".csr"),
            stem.with_suffix(".crt"),
        )
        ext = stem.with_suffix(".ext")
        ext.write_text(
            "basicConstraints=critical,CA:FALSE\n"
            + ("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n" if server
               else "extendedKeyUsage=clientAuth\n")
        )  # fmt: skip
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-subj", f"/CN={cn}", "-keyout", str(key), "-out", str(csr))  # fmt: skip
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(self.pem.cert),
                 "-CAkey", str(self.pem.key), "-CAcreateserial", "-days", "1",
                 "-extfile", str(ext), "-out", str(cert))  # fmt: skip
        return Pem(cert, key)

    def client_context(self, station: Pem | None = None) -> ssl.SSLContext:
        """What a station uses: trusts this CA for the server; presents ``station`` if given."""
        context = ssl.create_default_context(cafile=str(self.pem.cert))
        if station is not None:
            context.load_cert_chain(station.cert, station.key)
        return context
