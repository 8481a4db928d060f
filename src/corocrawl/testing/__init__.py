"""corocrawl's bundled test server, for tests, benchmarks and trying settings safely; and the
other real parts its tests run against: `TestProxy` (HTTP and SOCKS5 proxies on loopback that
count what went through them) and `NginxServer` (nginx serving static files, over TLS and
HTTP/2 if asked).

Routes of the app built by `make_app` (all GET):

- ``/`` sleeps ``ServerConfig.delay`` seconds, then answers ``Hello!``.
- ``/delay/{seconds}`` sleeps that long (at most 600 s), then answers ``Hello!``.
- ``/status/{code}`` answers with that status; 3xx carry ``Location: /``;
  ``?retry_after=V`` adds ``Retry-After: V``.
- ``/bytes/{n}`` streams n deterministic bytes (byte i is ``i % 256``; at most 1 GiB);
  ``?chunked`` sends them with chunked transfer encoding instead of a Content-Length.
- ``/redirect/{n}`` redirects to ``/redirect/{n-1}``; ``/redirect/0`` answers ``Hello!``.
- ``/redirect-to?url=X&status=302`` redirects to any Location X; ``/redirect-loop`` to itself.
- ``/headers`` echoes the request headers as a JSON object.
- ``/flaky/{key}/{n}``: the first n requests for key answer 503 (``?retry_after=V``), then 200.
- ``/drip?bytes=N&interval=S`` sends N bytes one at a time, S seconds apart.
- ``/hang`` never answers; ``/reset`` and ``/big-length`` send a short body and drop the
  connection, claiming 100000 bytes and 10 GiB respectively.
- ``/gzip-bomb/{megabytes}`` is a small gzip body inflating to that many MiB of zeros (<= 4096).
- ``/encoded/{codings}?bytes=N&cut=K`` is N pattern bytes (default 1,024,000) encoded with each
  of the comma-separated codings in turn (``gzip``, ``deflate``, ``raw-deflate``, sent as
  ``deflate``; ``claim-gzip``, or any other name, is claimed but not applied); ``cut`` sends its
  first K bytes only: a whole HTTP response whose compressed stream ends early; ``lines=1``
  sends each coding on a header line of its own.
- ``/links/{n}`` is a page of nothing but n distinct links, about 15 bytes each (a link bomb).
- ``/bad-charset`` is HTML declared as UTF-8 holding invalid UTF-8.
- ``/site/{page}`` is a synthetic site of ``site_pages`` pages linking per `site_links`; each
  page also needs ``/site/style.css`` (served) and ``/site/logo.png`` (a 404: a broken asset).
- ``/directives?meta=...&header=...&canonical=...`` is a page with that meta robots, X-Robots-Tag
  and canonical link; it links to ``/bytes/11``, and to ``/bytes/12`` with rel="nofollow".
- ``/limited/{key}/{rate}/{page}`` is a site of 2,000 pages that answers 429 past ``rate``
  requests a second (``?retry_after=1``: with Retry-After); ``/limited-log/{key}`` lists every
  request it saw, as [seconds since the first, status].
- ``/trap/`` is a small site of ``TRAP_PAGES`` real pages and crawl traps (an infinite calendar,
  a page linking to itself with a growing path, a URL that doubles, a facet explosion, session
  ids in URLs): a crawl with its guards on must finish and reach every real page.
- ``/sitemaps/`` is a site whose pages are listed in sitemaps only, in each form a site may
  publish (index, XML, gzip, text, RSS, Atom), with an index cycle, indexes nested for ever, a
  gzip bomb and a sitemap cut short; ``/sitemaps/many.xml?n=N`` lists N URLs, and
  ``/sitemap.xml`` is the well-known one (see ``testing/_sitemaps.py``).
- ``/changing/`` is a site whose pages change on a known schedule of generations (``POST
  /changing/next`` starts the next one), with ETag, Last-Modified, both or neither, and answers
  conditional requests with 304: for recrawls (see ``testing/_changing.py``).
- ``/articles/`` is a small news site whose articles carry main text between menus, and
  JSON-LD, OpenGraph and ``<meta>`` data, some of it broken: for ``--extract`` (see
  ``testing/_articles.py``).
- ``/robots.txt`` answers ``ServerConfig.robots_txt``, or 404 when it is None; with
  ``robots_redirect`` it redirects there (301), and ``/robots-moved.txt`` has the rules.
- ``/stats`` reports request counts, peak concurrency, and the shortest gap between two
  requests starting on one host (``min_gap_by_host``); ``/stats/reset`` (GET or POST) zeroes
  them.
"""

from typing import TYPE_CHECKING, Any

from corocrawl.testing._config import ServerConfig
from corocrawl.testing._nginx import NginxServer
from corocrawl.testing._process import ServerProcess
from corocrawl.testing._proxy import TestProxy
from corocrawl.testing._site import site_links

if TYPE_CHECKING:
    from corocrawl.testing._server import make_app, run_server

__all__ = [
    "NginxServer",
    "ServerConfig",
    "ServerProcess",
    "TestProxy",
    "make_app",
    "run_server",
    "site_links",
]


def __getattr__(name: str) -> Any:
    # The app is aiohttp.web's: loaded when first asked for, so that the settings, the
    # process wrapper and the command line's --help do not load aiohttp.
    if name in ("make_app", "run_server"):
        from corocrawl.testing import _server

        return getattr(_server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
