"""A small news site under /articles/, for --extract: pages whose main text sits between
menus and footers, with the metadata sites publish (JSON-LD, OpenGraph, `<meta>`), some of
it broken.

- /articles/              the index: links to each article, and to data.json
- /articles/launch        English, JSON-LD (an Article) and OpenGraph, an author in `<meta>`
- /articles/marche        French (`<html lang>`), two og:image, a JSON-LD list, JSON-LD that
                          does not parse, and a date only in `article:published_time`
- /articles/empty         an empty page: no main text, no metadata
- /articles/data.json     not HTML: no item
"""

from __future__ import annotations

__all__ = ["ARTICLES", "article_page"]

_MENU = '<nav><a href="/articles/">Home</a> | <a href="/articles/empty">Sections</a></nav>'
_FOOTER = "<footer>Copyright 2026 The Daily Loopback. All rights reserved.</footer>"

ARTICLES: dict[str, str] = {
    "launch": (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Rocket launch delayed | The Daily Loopback</title>"
        '<meta name="description" content="The launch moved to Friday.">'
        '<meta name="author" content="Ada Writer">'
        '<meta property="og:title" content="Rocket launch delayed">'
        '<meta property="og:type" content="article">'
        '<meta name="twitter:card" content="summary">'
        '<script type="application/ld+json">{"@context": "https://schema.org", '
        '"@type": "NewsArticle", "headline": "Rocket launch delayed", '
        '"author": {"@type": "Person", "name": "Ada Writer"}, '
        '"datePublished": "2026-11-30T08:00:00Z"}</script>'
        f"</head><body>{_MENU}<article><h1>Rocket launch delayed</h1>"
        "<p>The launch of the research rocket was moved to Friday after engineers found a "
        "fault in a valve of the second stage during the final checks on Monday.</p>"
        "<p>The crew will stay in quarantine until then, and the weather forecast for the "
        "new date is good, the agency said in a statement on Tuesday morning.</p>"
        f"</article>{_FOOTER}</body></html>"
    ),
    "marche": (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        "<title>Le marché de Noël ouvre</title>"
        '<meta property="og:image" content="https://img.example/1.jpg">'
        '<meta property="og:image" content="https://img.example/2.jpg">'
        '<meta property="article:published_time" content="2026-12-01">'
        '<script type="application/ld+json">[{"@type": "Place", "name": "Place du marché"}, '
        '{"@type": "Event", "name": "Marché de Noël"}]</script>'
        '<script type="application/ld+json">{"@type": "broken", </script>'
        f"</head><body>{_MENU}<main><h1>Le marché de Noël ouvre</h1>"
        "<p>Le marché de Noël ouvre ses portes samedi sur la place centrale, avec plus de "
        "cent chalets de bois, des artisans de toute la région et une grande roue.</p>"
        "<p>Les organisateurs attendent deux cent mille visiteurs pendant les quatre "
        "semaines, soit davantage que l'an dernier selon la mairie.</p>"
        f"</main>{_FOOTER}</body></html>"
    ),
    "empty": "<!doctype html><html><head></head><body></body></html>",
}


def article_page(name: str) -> tuple[bytes, str] | None:
    """The body and content type of /articles/{name} (the index for ""), or None: a 404."""
    if name == "":
        links = "".join(
            f'<li><a href="/articles/{article}">{article}</a></li>' for article in ARTICLES
        )
        page = f"<!doctype html><title>Articles</title>{_MENU}<ul>{links}</ul>"
        page += '<a href="/articles/data.json">data</a>'
        return page.encode(), "text/html"
    if name == "data.json":
        return b'{"articles": 3}', "application/json"
    if name in ARTICLES:
        return ARTICLES[name].encode(), "text/html"
    return None
