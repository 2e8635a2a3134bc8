"""Checks of a built site: every relative link resolves to a file, and no page refers to anything off the machine.

:func:`site_problems` reads each page of a built site; tests call it, and so can a person after copying a site
elsewhere (a copied site keeps working only if the runs and model store it links to moved with it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

URL = re.compile(r"(?i)\b(?:https?|wss?|ftp)://[^\s\"'<>)]+")
_LINK_ATTRS = {"href", "src", "action", "data", "poster"}


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links.extend(value for name, value in attrs if name in _LINK_ATTRS and value)


def links_of(page: Path) -> list[str]:
    """Every href/src of a page, as written."""
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.links


@dataclass(frozen=True)
class LinkProblem:
    page: str
    link: str
    problem: str


def broken_links(folder: Path) -> list[LinkProblem]:
    """Relative links of the site's pages that point at no file; absolute and scheme links are problems too."""
    problems = []
    for page in sorted(Path(folder).glob("*.html")):
        for link in links_of(page):
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//") or link.startswith("/"):
                problems.append(LinkProblem(page.name, link, "not a relative link (breaks when the site moves)"))
                continue
            if not parts.path:  # a link to a place on the same page
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            if not target.exists():
                problems.append(LinkProblem(page.name, link, f"no such file: {target}"))
    return problems


def external_urls(folder: Path, allowed: set[str] | frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """(page, url) for every URL in a page's text not in ``allowed`` (URLs the user wrote in their own params)."""
    found = []
    for page in sorted(Path(folder).rglob("*")):
        if page.suffix not in (".html", ".md") or not page.is_file():
            continue
        for url in URL.findall(page.read_text(encoding="utf-8")):
            if url not in allowed:
                found.append((page.name, url))
    return found
