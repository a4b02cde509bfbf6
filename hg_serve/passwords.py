"""Salted password hashes for `[[server.users]]`: `{scrypt}n$r$p$salt$hash` (base64).

hashlib.scrypt is in the standard library and memory-hard, so no extra package is needed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

PREFIX = "{scrypt}"
N, R, P = 2**14, 8, 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A new `{scrypt}…` hash of password with a random 16-byte salt."""
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    return f"{PREFIX}{N}${R}${P}${_b64(salt)}${_b64(digest)}"


def is_hash(value: str) -> bool:
    """True for a well-formed `{scrypt}` hash (config validation)."""
    try:
        _parse(value)
    except ValueError:
        return False
    return True


def _parse(value: str) -> tuple[int, int, int, bytes, bytes]:
    if not value.startswith(PREFIX):
        raise ValueError("not a {scrypt} hash")
    parts = value[len(PREFIX) :].split("$")
    if len(parts) != 5:
        raise ValueError("a {scrypt} hash has 5 $-separated fields")
    n, r, p = (int(x) for x in parts[:3])
    return n, r, p, _unb64(parts[3]), _unb64(parts[4])


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of password against a stored hash (False when malformed)."""
    try:
        n, r, p, salt, digest = _parse(stored)
        got = hashlib.scrypt(
            password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(digest), maxmem=2**27
        )
    except ValueError:
        return False
    return hmac.compare_digest(got, digest)
