"""The test server's settings, apart from its app so that reading them loads no aiohttp."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["ServerConfig"]


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Settings of the test server; the defaults reproduce the original tutorial's server."""

    host: str = "127.0.0.1"
    port: int = 0  # 0 picks a free port
    delay: float = 3.0  # seconds that / sleeps before answering
    site_pages: int = 1000
    site_links: int = 10  # links per site page
    site_page_bytes: int = 5120  # approximate size of each site page, padded with text
    robots_txt: str | None = None  # body of /robots.txt; None answers 404
    robots_status: int | None = None  # answer /robots.txt with this status instead (e.g. 503)
    # Answer /robots.txt with a 301 to this URL or path; the rules are then at /robots-moved.txt.
    robots_redirect: str | None = None
    # More addresses to listen on, on the same port: 127.0.0.2, 127.0.0.3... are further hosts
    # on loopback, for tests that need several hosts (--workers partitions by host).
    also_listen: tuple[str, ...] = ()
    # Serve HTTPS with this certificate chain and key (PEM files), instead of HTTP.
    tls_cert: str | None = None
    tls_key: str | None = None

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("HTTPS needs both a certificate (--tls-cert) and its key (--tls-key)")
        if not self.host:
            raise ValueError("host must not be empty")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        if not (math.isfinite(self.delay) and self.delay >= 0):
            raise ValueError(f"delay must be a finite number >= 0, got {self.delay}")
        if self.site_pages < 1:
            raise ValueError(f"site_pages must be >= 1, got {self.site_pages}")
        if self.site_links < 1:
            raise ValueError(f"site_links must be >= 1, got {self.site_links}")
        if self.site_page_bytes < 0:
            raise ValueError(f"site_page_bytes must be >= 0, got {self.site_page_bytes}")
