"""Help doc Markdown to HTML, for the doc pages and the admin preview.

Rendered from the tokens the sections are read from (helpdocs.parsing), so every heading
carries the anchor an answer's source links to. Docs are written by admins or imported, and
still treated as untrusted: raw HTML is left out, links may only point at http(s), mailto or
this site's paths, and an image shows only from this site (others leave their alt text).
"""

import re
from collections.abc import Callable
from pathlib import PurePosixPath

from markdown_it.token import Token

from assistant.helpdocs.parsing import parser, split_front_matter, tokens_of

SAFE_PREFIXES = ("http://", "https://", "/", "#", "mailto:")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)


def doc_slug_of(href: str) -> str | None:
    """The doc a relative link between Markdown files names ("../network#actions",
    "network.md" → "network"), or None for any other link."""
    if not href or href.startswith(("/", "#")) or _SCHEME.match(href):
        return None
    path = href.split("#")[0].split("?")[0].rstrip("/")
    name = PurePosixPath(path).name
    for suffix in (".md", ".mdx", ".markdown", ".html"):
        name = name.removesuffix(suffix)
    return name or None


def _safe(tokens: list[Token], doc_url: Callable[[str], str | None]) -> list[Token]:
    out = []
    for token in tokens:
        if token.type in ("html_block", "html_inline"):
            continue
        if token.type == "heading_open":
            token.attrSet("id", token.meta["anchor"])
        elif token.type == "link_open":
            href = str(token.attrGet("href") or "").strip()
            slug = doc_slug_of(href)
            url = doc_url(slug) if slug else None
            if url:
                anchor = href.partition("#")[2]
                token.attrSet("href", f"{url}#{anchor}" if anchor else url)
            elif not href.lower().startswith(SAFE_PREFIXES):
                token.attrSet("href", "#")
            elif href.startswith("http"):
                token.attrSet("rel", "noopener noreferrer")
        elif token.type == "image" and not str(token.attrGet("src") or "").startswith("/"):
            alt = Token("text", "", 0)
            alt.content = token.content
            token = alt
        if token.children:
            token.children = _safe(token.children, doc_url)
        out.append(token)
    return _without_empty_paragraphs(out)


def _without_empty_paragraphs(tokens: list[Token]) -> list[Token]:
    """Paragraphs that held only raw HTML (a <video>) render as nothing, not as <p></p>."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        if (
            tokens[i].type == "paragraph_open"
            and i + 2 < len(tokens)
            and tokens[i + 1].type == "inline"
            and not any(
                c.type != "softbreak" and (c.type != "text" or c.content.strip())
                for c in tokens[i + 1].children or []
            )
        ):
            i += 3
            continue
        out.append(tokens[i])
        i += 1
    return out


def _without_title(tokens: list[Token], title: str) -> list[Token]:
    """The page shows the title itself: a first-level heading repeating it at the top goes."""
    first = next((i for i, t in enumerate(tokens) if t.type == "heading_open"), None)
    if (
        first is not None
        and tokens[first].tag == "h1"
        and tokens[first].meta["text"].strip().lower() == title.strip().lower()
        and not any(t.type == "inline" and t.content.strip() for t in tokens[:first])
    ):
        return tokens[:first] + tokens[first + 3 :]
    return tokens


def render_markdown(
    body: str, title: str = "", doc_url: Callable[[str], str | None] = lambda slug: None
) -> str:
    """The doc as HTML. `doc_url`: the page of the doc a relative link names, if there is one
    (links between the files of an imported help centre)."""
    _, text = split_front_matter(body)
    md = parser()
    tokens = _without_title(tokens_of(text), title) if title else tokens_of(text)
    return md.renderer.render(_safe(tokens, doc_url), md.options, {})
