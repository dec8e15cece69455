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
from collections.abc import Iterator
from contextlib import contextmanager

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


#: Password verifications running at once; each takes 64 MiB and a core for a while.
MAX_VERIFICATIONS = 4


class Busy(Exception):
    """Every password-verification slot is taken: come back later (HTTP 503)."""


class Authenticator:
    """``cached`` is cheap and safe on the event loop; ``verify`` runs the KDF and belongs
    in a worker thread, inside ``slot()``, which refuses (``Busy``) rather than queue."""

    def __init__(
        self, users: UserStore, secret: bytes, *, max_verifications: int = MAX_VERIFICATIONS
    ) -> None:
        self._users = users
        self._key = hashlib.sha256(b"tisa credential cache\x00" + secret).digest()
        self._cache: dict[bytes, tuple[float, UserRecord]] = {}
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_verifications)

    def _cache_key(self, name: str, password: str) -> bytes:
        return hmac.new(
            self._key, name.encode() + b"\x00" + password.encode(), hashlib.sha256
        ).digest()

    def cached(self, name: str, password: str) -> UserRecord | None:
        """The user if these credentials were verified in the last ``CACHE_SECONDS``."""
        key = self._cache_key(name, password)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the verification slots, or raise ``Busy`` at once if none is free:
        a flood of bogus logins gets refusals, not an unbounded queue."""
        if not self._slots.acquire(blocking=False):
            raise Busy("too many password verifications at once")
        try:
            yield
        finally:
            self._slots.release()

    def authenticate(self, name: str, password: str) -> UserRecord | None:
        """The user, or ``None`` for an unknown name or a wrong password (not told apart).
        Raises ``Busy`` when every verification slot is taken."""
        hit = self.cached(name, password)
        if hit is not None:
            return hit
        with self.slot():
            return self.verify(name, password)

    def verify(self, name: str, password: str) -> UserRecord | None:
        """Run the KDF (also for an unknown name, so names that exist cannot be told
        apart by timing) and remember a success."""
        now = time.monotonic()
        user = self._users.user(name)
        if user is None:
            verify_password(_dummy_hash(), password)
            return None
        if not verify_password(user.password_hash, password):
            return None
        with self._lock:
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
            self._cache[self._cache_key(name, password)] = (now + CACHE_SECONDS, user)
        return user


_dummy: list[str] = []


def _dummy_hash() -> str:
    if not _dummy:
        from tisa.crypto.passwords import hash_password

        _dummy.append(hash_password("not a real password"))
    return _dummy[0]
