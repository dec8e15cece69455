"""HTTP Basic authentication against argon2id hashes, with a verification cache.

A successful verification is remembered for a short while under a keyed hash of the
credentials (HMAC with the node secret), so a client posting thousands of objects a second
does not pay the memory-hard KDF on every request. The cache never holds a password, and a
wrong password is never cached."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
import time

from tisa.crypto.passwords import verify_password
from tisa.store.ports import UserRecord, UserStore

CACHE_SECONDS = 60.0
CACHE_MAX = 10_000


def parse_basic(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, sep, password = decoded.partition(":")
    if not sep or not name:
        return None
    return name, password


class Authenticator:
    def __init__(self, users: UserStore, secret: bytes) -> None:
        self._users = users
        self._key = hashlib.sha256(b"tisa credential cache\x00" + secret).digest()
        self._cache: dict[bytes, tuple[float, UserRecord]] = {}
        self._lock = threading.Lock()
        self._kdf_lock = threading.Lock()

    def authenticate(self, name: str, password: str) -> UserRecord | None:
        """The user, or ``None`` for an unknown name or a wrong password (not told apart)."""
        key = hmac.new(
            self._key, name.encode() + b"\x00" + password.encode(), hashlib.sha256
        ).digest()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        # One KDF at a time: each takes 64 MiB, and a burst of new connections must not
        # multiply that (or the CPU time). Whoever waited finds the first one's result.
        with self._kdf_lock:
            with self._lock:
                hit = self._cache.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
            return self._verify(key, name, password, now)

    def _verify(self, key: bytes, name: str, password: str, now: float) -> UserRecord | None:
        user = self._users.user(name)
        if user is None:
            # Spend comparable time so a caller cannot tell names that exist.
            verify_password(_dummy_hash(), password)
            return None
        if not verify_password(user.password_hash, password):
            return None
        with self._lock:
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
            self._cache[key] = (now + CACHE_SECONDS, user)
        return user


_dummy: list[str] = []


def _dummy_hash() -> str:
    if not _dummy:
        from tisa.crypto.passwords import hash_password

        _dummy.append(hash_password("not a real password"))
    return _dummy[0]
