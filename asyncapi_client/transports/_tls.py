"""TLS settings shared by every transport: `verify`, `cert` and the environment, as httpx reads them.

`verify` is True (certifi's CA bundle, or `SSL_CERT_FILE` / `SSL_CERT_DIR` when `trust_env`), False
(no verification: for tests only), the path of a CA bundle file or directory, or an
`ssl.SSLContext` used as given. `cert` is a client certificate for mutual TLS: the path of a PEM
file holding the certificate and its key, or `(certfile, keyfile)`, or `(certfile, keyfile,
password)`. Anything else is refused at construction with a message naming the options.

The Python TLS stacks (httpcore, aiohttp) take the `ssl.SSLContext` from `ssl_context()`;
pyreqwest's Rust TLS takes certificates as bytes, from `TLSMaterial`.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any, Union

VerifyTypes = Union[bool, str, "os.PathLike[str]", ssl.SSLContext]
CertTypes = Union[str, "os.PathLike[str]", tuple[str, str], tuple[str, str, str]]

_VERIFY_HELP = "verify must be True, False, the path of a CA bundle (file or directory) or an ssl.SSLContext"
_CERT_HELP = (
    "cert must be the path of a PEM file with the certificate and its key, "
    "(certfile, keyfile) or (certfile, keyfile, password)"
)


def check_verify(verify: Any) -> VerifyTypes:
    if isinstance(verify, (bool, ssl.SSLContext)):
        return verify
    if isinstance(verify, (str, os.PathLike)):
        path = Path(verify)
        if not path.exists():
            raise ValueError(f"{_VERIFY_HELP}; the CA bundle {str(path)!r} does not exist")
        return verify
    raise TypeError(f"{_VERIFY_HELP}, got {type(verify).__name__}")


def check_cert(cert: Any, verify: VerifyTypes) -> tuple[str, str | None, str | None] | None:
    """`cert` as (certfile, keyfile, password), or None."""
    if cert is None:
        return None
    if isinstance(verify, ssl.SSLContext):
        raise ValueError(
            "cert cannot be combined with an ssl.SSLContext as verify: load the client certificate "
            "into your context (context.load_cert_chain(...)), or pass verify as True or a CA path"
        )
    if isinstance(cert, (str, os.PathLike)):
        parts: tuple[Any, ...] = (cert,)
    elif isinstance(cert, tuple) and 2 <= len(cert) <= 3:
        parts = cert
    else:
        raise TypeError(f"{_CERT_HELP}, got {type(cert).__name__}")
    for part in parts[:2]:
        if not isinstance(part, (str, os.PathLike)):
            raise TypeError(f"{_CERT_HELP}, got a {type(part).__name__} in it")
        if not Path(part).is_file():
            raise ValueError(f"{_CERT_HELP}; {str(part)!r} is not a file")
    password = parts[2] if len(parts) == 3 else None
    if password is not None and not isinstance(password, str):
        raise TypeError(f"{_CERT_HELP}; the password must be a str")
    return (str(parts[0]), str(parts[1]) if len(parts) > 1 else None, password)


def _env_ca(trust_env: bool) -> tuple[str | None, str | None]:
    """(cafile, capath) from `SSL_CERT_FILE` / `SSL_CERT_DIR`, when trusted and set."""
    if not trust_env:
        return None, None
    cafile = os.environ.get("SSL_CERT_FILE") or None
    capath = os.environ.get("SSL_CERT_DIR") or None
    for name, value, check in (
        ("SSL_CERT_FILE", cafile, os.path.isfile),
        ("SSL_CERT_DIR", capath, os.path.isdir),
    ):
        if value is not None and not check(value):
            raise ValueError(
                f"{name}={value!r} is not a {'file' if name == 'SSL_CERT_FILE' else 'directory'}: "
                "fix or unset it, or pass trust_env=False to ignore the environment"
            )
    return cafile, capath


def _certifi() -> str | None:
    try:
        import certifi
    except ImportError:  # pragma: no cover - httpx depends on certifi
        return None
    return str(certifi.where())


def ssl_context(
    verify: VerifyTypes, cert: tuple[str, str | None, str | None] | None, *, trust_env: bool
) -> ssl.SSLContext:
    """The context for connections to the server (and to an https proxy)."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is False:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif verify is True:
        cafile, capath = _env_ca(trust_env)
        if cafile is None and capath is None:
            cafile = _certifi()
        ctx = ssl.create_default_context(cafile=cafile, capath=capath)
    else:
        path = Path(verify)
        if path.is_dir():
            ctx = ssl.create_default_context(capath=str(path))
        else:
            ctx = ssl.create_default_context(cafile=str(path))
    if cert is not None:
        ctx.load_cert_chain(cert[0], cert[1], cert[2])
    return ctx


class TLSMaterial:
    """What a TLS stack outside Python needs: extra trusted roots (PEM or DER), whether to
    verify at all, and the client identity as PEM (certificate then key)."""

    def __init__(
        self, verify: VerifyTypes, cert: tuple[str, str | None, str | None] | None, *, trust_env: bool
    ) -> None:
        self.verify = True
        self.check_hostname = True
        self.roots_pem: list[bytes] = []
        self.roots_der: list[bytes] = []
        self.identity_pem: bytes | None = None
        if isinstance(verify, ssl.SSLContext):
            self.verify = verify.verify_mode != ssl.CERT_NONE
            self.check_hostname = verify.check_hostname
            # The certificates the context has loaded (from cafile or cadata; a capath's are
            # loaded lazily by OpenSSL and cannot be listed).
            self.roots_der = [bytes(der) for der in verify.get_ca_certs(binary_form=True)]
        elif verify is False:
            self.verify = False
        elif verify is True:
            cafile, capath = _env_ca(trust_env)
            self.roots_pem = _read_pem(cafile, capath)
        else:
            path = Path(verify)
            self.roots_pem = _read_pem(None, str(path)) if path.is_dir() else _read_pem(str(path), None)
        if cert is not None:
            certfile, keyfile, password = cert
            if password is not None:
                raise ValueError("a password-protected client key is not supported by this transport")
            self.identity_pem = Path(certfile).read_bytes() + (
                b"\n" + Path(keyfile).read_bytes() if keyfile else b""
            )


def _read_pem(cafile: str | None, capath: str | None) -> list[bytes]:
    """Each certificate of the bundle file and of the directory's files, one PEM block apiece."""
    found: list[bytes] = []
    paths = [Path(cafile)] if cafile else []
    if capath:
        paths += sorted(p for p in Path(capath).iterdir() if p.is_file())
    for path in paths:
        data = path.read_bytes()
        for block in data.split(_PEM_BEGIN)[1:]:
            end = block.find(_PEM_END)
            if end >= 0:
                found.append(_PEM_BEGIN + block[: end + len(_PEM_END)] + b"\n")
    return found


_PEM_BEGIN = b"-----BEGIN CERTIFICATE-----"
_PEM_END = b"-----END CERTIFICATE-----"
