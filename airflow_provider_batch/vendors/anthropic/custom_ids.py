"""The reversible ``custom_id`` mapping for keys Anthropic refuses.

Anthropic takes a ``custom_id`` only when it matches ``^[a-zA-Z0-9_-]{1,64}$``. Validation refuses
any other before anything is sent, naming the line; nothing is rewritten behind the user's back.
A user whose keys hold other characters (``ticket#42``, ``é``, ``a.b``) maps them explicitly when
building the input, and maps them back when reading the results::

    from airflow_provider_batch.vendors.anthropic.custom_ids import decode, encode

    custom_id = encode("ticket#42")      # 'apbx_dGlja2V0IzQy'
    decode(custom_id)                    # 'ticket#42'

:func:`encode` is base64url (whose alphabet is exactly Anthropic's) behind the ``apbx_`` prefix, so
keys of up to 44 UTF-8 bytes fit; a key that already matches the rule is returned unchanged
(``encode`` of an ``apbx_``-prefixed key is encoded, so :func:`decode` always inverts it).
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["CUSTOM_ID_PATTERN", "MAX_KEY_BYTES", "PREFIX", "decode", "encode", "is_valid"]

#: Anthropic's rule for ``custom_id``.
CUSTOM_ID_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
PREFIX = "apbx_"
#: The longest key (UTF-8 bytes) whose encoding fits in 64 characters.
MAX_KEY_BYTES = (64 - len(PREFIX)) * 3 // 4

_RULE = re.compile(CUSTOM_ID_PATTERN)


def is_valid(custom_id: str) -> bool:
    """Whether Anthropic takes ``custom_id`` as it is."""
    return _RULE.fullmatch(custom_id) is not None


def encode(key: str) -> str:
    """``key`` as a valid ``custom_id``: unchanged when it already is one (and does not start with
    the prefix), else ``apbx_`` + base64url of its UTF-8 bytes, unpadded.

    :raises ValueError: the key is longer than :data:`MAX_KEY_BYTES` bytes in UTF-8.
    """
    if is_valid(key) and not key.startswith(PREFIX):
        return key
    raw = key.encode("utf-8")
    if len(raw) > MAX_KEY_BYTES:
        raise ValueError(
            f"key {key[:40]!r} is {len(raw)} bytes in UTF-8; the reversible custom_id mapping holds at "
            f"most {MAX_KEY_BYTES} (a custom_id is at most 64 characters)"
        )
    return PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode(custom_id: str) -> str:
    """The key :func:`encode` mapped to ``custom_id`` (an id without the prefix is its own key)."""
    if not custom_id.startswith(PREFIX):
        return custom_id
    body = custom_id[len(PREFIX) :]
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError(
            f"custom_id {custom_id!r} carries the {PREFIX!r} prefix but is no encoded key"
        ) from None
