"""`open_frontier`: a frontier named by a URL, its backend picked from an explicit table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._exceptions import ConfigError
from ._base import Frontier
from ._memory import MemoryFrontier
from ._redis import RedisFrontier
from ._sqlite import SqliteFrontier

__all__ = ["BACKENDS", "open_frontier"]


async def _memory(url: str) -> Frontier:
    if url not in ("memory:", "memory://"):
        raise ConfigError(f"frontier {url!r}: a memory frontier is 'memory:'")
    return MemoryFrontier()


async def _sqlite(url: str) -> Frontier:
    parts = urlsplit(url)
    if parts.netloc or not parts.path:
        raise ConfigError(f"frontier {url!r}: give 'sqlite:///ABSOLUTE/PATH' or 'sqlite:PATH'")
    return await SqliteFrontier.open(Path(parts.path))


async def _redis(url: str) -> Frontier:
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    crawl_ids = [value for name, value in query if name == "crawl_id"]
    if len(crawl_ids) != 1:
        raise ConfigError(f"frontier {url!r}: name the crawl once, as ?crawl_id=NAME")
    rest = urlencode([(name, value) for name, value in query if name != "crawl_id"])
    return await RedisFrontier.open(urlunsplit(parts._replace(query=rest)), crawl_ids[0])


# The scheme of a frontier URL picks its backend; a URL with no scheme is a SQLite file.
BACKENDS: dict[str, Callable[[str], Awaitable[Frontier]]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "redis": _redis,
    "rediss": _redis,
    "unix": _redis,
}


async def open_frontier(url: str | Path) -> Frontier:
    """Open the frontier that `url` names:

    - ``"crawl.db"`` or ``"sqlite:///var/crawl.db"``: a SQLite state file (made if missing);
    - ``"redis://HOST:6379/0?crawl_id=NAME"`` (also ``rediss://``, ``unix://``): a shared
      crawl's frontier on Redis, joined as one worker (created if it does not exist);
    - ``"memory:"``: in this process only, gone when it ends.

        frontier = await open_frontier("crawl.db")
    """
    text = str(url)
    scheme, sep, _ = text.partition(":")
    if isinstance(url, Path) or not sep or "/" in scheme or len(scheme) == 1:
        return await SqliteFrontier.open(Path(text))  # a path (C:\\ is a drive, not a scheme)
    try:
        open_backend = BACKENDS[scheme.lower()]
    except KeyError:
        known = ", ".join(f"{name}:" for name in BACKENDS)
        raise ConfigError(
            f"frontier {text!r}: unknown scheme {scheme!r} (known: {known})"
        ) from None
    return await open_backend(text)
