"""Connection-pool limits for the HTTP client of a polling trigger.

Each trigger keeps its own small ``httpx.AsyncClient``. One pool shared by every trigger of the
loop was measured and rejected: with a thousand requests in flight, httpcore's pool spends its
time re-scanning its queue (a round of 1,000 polls took 20-50 s instead of 2-4 s).

httpx drops a kept-alive connection after 5 s idle, while triggers poll every 30 s by default, so
every poll would pay a new TCP connection (and, against the real API, a DNS lookup and a TLS
handshake). The expiry is therefore raised just past the poll interval, so the next round reuses
the connection. It is capped below common NAT and load-balancer idle timeouts (AWS NAT gateway
350 s, Azure 240 s): a connection silently dropped there would stall a poll until the read timeout.
A connection the server closed meanwhile is noticed by httpcore before reuse and replaced.
"""

from __future__ import annotations

import httpx

__all__ = ["KEEPALIVE_CAP_S", "polling_limits"]

#: Longest time an idle connection is kept for the next polling round.
KEEPALIVE_CAP_S = 120.0
_MARGIN_S = 10.0


def polling_limits(poll_interval: float | None) -> httpx.Limits:
    """Pool limits for a client that polls every ``poll_interval`` seconds.

    :param poll_interval: seconds between polling rounds; ``None`` gives httpx's defaults.
    """
    if poll_interval is None:
        return httpx.Limits()
    expiry = min(KEEPALIVE_CAP_S, float(poll_interval) + _MARGIN_S)
    return httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=expiry)
