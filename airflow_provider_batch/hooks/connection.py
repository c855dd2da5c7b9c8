"""What every vendor's connection shares: the API root its host names, and masking its key.

Vendor-neutral: the batch hook, the doctor and the common.ai adapter read connections of every
vendor's type through these two functions.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["api_root", "mask_secret"]


def api_root(host: str | None, port: int | None, default: str) -> str:
    """The API root (with ``/v1``) that a connection's host names.

    :param host: a full URL (``https://api.together.ai/v1``; a URL without a path gets ``/v1``) or
        a bare host name (``api.openai.com``, served over HTTPS under ``/v1``); empty: ``default``.
    :param port: the connection's port, used with a bare host name only.
    :param default: the vendor's own API root.
    """
    host = (host or "").strip()
    if not host:
        return default
    if "://" not in host:
        netloc = f"{host}:{port}" if port else host
        return f"https://{netloc}/v1"
    parts = urlsplit(host)
    if parts.path.strip("/"):
        return host.rstrip("/")
    return f"{host.rstrip('/')}/v1"


def mask_secret(secret: str) -> None:
    """Register ``secret`` with Airflow's secrets masker, so no log line shows it."""
    from airflow.sdk.log import mask_secret as register  # Airflow >= 3.1

    register(secret)
