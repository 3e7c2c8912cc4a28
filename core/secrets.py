"""Secrets at rest: AES-256-GCM with keys derived (HKDF-SHA256) from the secret key setting.

A sealed value is `b"\\x01" + key_id (8 bytes) + nonce (12 bytes) + ciphertext+tag`. `key_id` names the
derived key (the first 8 bytes of a SHA-256 of it), so values sealed under an earlier secret key still open
while `GPTSTORE_PREVIOUS_SECRET_KEYS` lists it; `reseal` moves a value to the current key (docs/tools.md,
"Secrets and key rotation"). The associated data binds a value to its row, so a ciphertext copied into
another row does not open.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.settings import Settings

FORMAT = b"\x01"
KEY_ID_BYTES = 8
NONCE_BYTES = 12  # NIST SP 800-38D's recommended IV length for GCM
HKDF_INFO = b"gptstore tool secrets v1"
LAST4_MIN_CHARS = 8  # shorter secrets show no characters at all (four would be half of them or more)


class SecretUnreadable(Exception):
    """A sealed value no configured key opens (its key was dropped from the settings, or it was altered)."""


@dataclass(frozen=True)
class _Key:
    id: bytes
    aead: AESGCM


def _derive(secret: str) -> _Key:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(secret.encode())
    return _Key(id=hashlib.sha256(key).digest()[:KEY_ID_BYTES], aead=AESGCM(key))


class SecretBox:
    """Seal and open secrets with the current key; open with any previous one too."""

    def __init__(self, settings: Settings):
        self.current = _derive(settings.secret())
        previous = [_derive(s.get_secret_value()) for s in settings.previous_secret_keys]
        self.keys = {key.id: key for key in (*previous, self.current)}

    def seal(self, plaintext: str, *, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self.current.aead.encrypt(nonce, plaintext.encode(), context)
        return FORMAT + self.current.id + nonce + sealed

    def open(self, value: bytes, *, context: bytes) -> str:
        value = bytes(value)
        if value[:1] != FORMAT or len(value) < 1 + KEY_ID_BYTES + NONCE_BYTES + 16:
            raise SecretUnreadable("not a sealed secret")
        key = self.keys.get(value[1 : 1 + KEY_ID_BYTES])
        if key is None:
            raise SecretUnreadable("sealed under a key that is neither the secret key nor a previous one")
        nonce = value[1 + KEY_ID_BYTES : 1 + KEY_ID_BYTES + NONCE_BYTES]
        try:
            return key.aead.decrypt(nonce, value[1 + KEY_ID_BYTES + NONCE_BYTES :], context).decode()
        except InvalidTag:
            raise SecretUnreadable(
                "the sealed secret does not open (altered, or moved from its row)"
            ) from None

    def is_current(self, value: bytes) -> bool:
        return bytes(value)[1 : 1 + KEY_ID_BYTES] == self.current.id

    def reseal(self, value: bytes, *, context: bytes) -> bytes:
        """The value sealed under the current key (unchanged if it already is)."""
        if self.is_current(value):
            return bytes(value)
        return self.seal(self.open(value, context=context), context=context)


def last4(secret: str) -> str | None:
    """The last four characters shown for a set secret; None for secrets shorter than 8 characters."""
    return secret[-4:] if len(secret) >= LAST4_MIN_CHARS else None
