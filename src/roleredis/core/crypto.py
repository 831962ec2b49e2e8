"""Encryption at rest: AES-256-GCM with keys from the environment, and key ids for rotation.

Keys are 32 random bytes in URL-safe base64 (make one with :func:`generate_key`), read only
from ``ROLEREDIS_ENCRYPTION_KEY`` (the key new writes use) and
``ROLEREDIS_ENCRYPTION_OLD_KEYS`` (comma-separated, still readable). Each sealed value carries
the id of its key (8 bytes of SHA-256 of the key), so keys can rotate without rewriting data.
The Redis key is bound in as associated data: a sealed value copied under another key does not
open. A tampered value or a missing key gives SerializationError, never garbage.

>>> keyring = Keyring(generate_key())
>>> sealed = keyring.seal(b"secret", aad=b"weather:token")
>>> keyring.open(sealed, aad=b"weather:token")
b'secret'
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..foundation.errors import ConfigError, SerializationError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["KEY_ID_SIZE", "Keyring", "generate_key"]

KEY_ID_SIZE = 8
NONCE_SIZE = 12


def generate_key() -> str:
    """A new random AES-256 key, as the text ROLEREDIS_ENCRYPTION_KEY takes."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def _decode_key(text: str, where: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raw = b""
    if len(raw) != 32:
        raise ConfigError(
            f"{where} must be 32 random bytes in URL-safe base64 (44 characters); make one with "
            "python -c 'import roleredis.core.crypto as c; print(c.generate_key())'"
        )
    return raw


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:KEY_ID_SIZE]


class Keyring:
    """The current key (for sealing) and the old ones (for opening only)."""

    def __init__(self, current: str | None, old: Iterable[str] = ()) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # imported when used

        self._current: tuple[bytes, AESGCM] | None = None
        self._by_id: dict[bytes, AESGCM] = {}
        if current:
            raw = _decode_key(current, "ROLEREDIS_ENCRYPTION_KEY")
            cipher = AESGCM(raw)
            self._current = (key_id(raw), cipher)
            self._by_id[key_id(raw)] = cipher
        for i, text in enumerate(old):
            raw = _decode_key(text, f"ROLEREDIS_ENCRYPTION_OLD_KEYS (key {i + 1})")
            self._by_id.setdefault(key_id(raw), AESGCM(raw))

    def __repr__(self) -> str:  # never the keys
        return f"Keyring(current={self._current is not None}, keys={len(self._by_id)})"

    @property
    def can_seal(self) -> bool:
        return self._current is not None

    def seal(self, plain: bytes, aad: bytes) -> bytes:
        """``key id + nonce + ciphertext`` of ``plain``, bound to ``aad``."""
        if self._current is None:
            raise ConfigError(
                "encryption was asked for but ROLEREDIS_ENCRYPTION_KEY is not set; set it to a "
                "key from roleredis.core.crypto.generate_key()"
            )
        kid, cipher = self._current
        nonce = os.urandom(NONCE_SIZE)
        return kid + nonce + cipher.encrypt(nonce, plain, kid + aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        """The plain bytes of a sealed value; SerializationError if it cannot be opened."""
        from cryptography.exceptions import InvalidTag

        kid = sealed[:KEY_ID_SIZE]
        nonce = sealed[KEY_ID_SIZE : KEY_ID_SIZE + NONCE_SIZE]
        cipher = self._by_id.get(kid)
        if cipher is None:
            raise SerializationError(
                f"the value is encrypted with key id {kid.hex()}, which is neither "
                "ROLEREDIS_ENCRYPTION_KEY nor in ROLEREDIS_ENCRYPTION_OLD_KEYS"
            )
        try:
            plain = cipher.decrypt(nonce, sealed[KEY_ID_SIZE + NONCE_SIZE :], kid + aad)
        except InvalidTag:
            raise SerializationError(
                "the encrypted value does not open: it was tampered with, moved from another "
                "key, or sealed with a different key under the same id"
            ) from None
        return plain
