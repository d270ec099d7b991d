"""Whether a host can be reached, asked once and quickly (no torch): what the offline-first
paths decide on (fetching published weights, ``spp-lab sync``). ``SPP_LAB_OFFLINE=1``
answers no without asking."""

from __future__ import annotations

import concurrent.futures as cf
import os
import socket
from urllib.parse import urlparse

OFFLINE = "SPP_LAB_OFFLINE"  # 1: never reach for the network


def reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether ``url``'s host accepts a connection on its port within ``timeout`` seconds
    (a name that does not resolve in that time counts as no)."""
    if os.environ.get(OFFLINE, "") not in ("", "0"):
        return False
    parts = urlparse(url if "://" in url else f"https://{url}")
    port = parts.port or (80 if parts.scheme == "http" else 443)

    def probe() -> bool:
        try:
            socket.create_connection((parts.hostname, port), timeout).close()
            return True
        except OSError:
            return False

    pool = cf.ThreadPoolExecutor(1)
    try:
        return pool.submit(probe).result(timeout=timeout + 1)  # DNS can hang past timeout
    except cf.TimeoutError:
        return False
    finally:
        pool.shutdown(wait=False)
