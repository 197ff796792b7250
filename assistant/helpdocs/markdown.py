"""Help doc Markdown to HTML, for the doc pages and the admin preview.

Docs are written by admins but still treated as untrusted: raw HTML is escaped, and links
and images may only point at http(s) or site-relative addresses.
"""

from xml.etree.ElementTree import Element

import markdown
from django.utils.html import escape
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

SAFE_PREFIXES = ("http://", "https://", "/", "#", "mailto:")


class _SafeLinks(Treeprocessor):
    def run(self, root: Element) -> None:
        for el in root.iter():
            for attr in ("href", "src"):
                value = (el.get(attr) or "").strip()
                if value and not value.lower().startswith(SAFE_PREFIXES):
                    el.set(attr, "#")
            if el.tag == "a" and el.get("href", "").startswith("http"):
                el.set("rel", "noopener noreferrer")


class _SafeLinksExtension(Extension):
    def extendMarkdown(self, md) -> None:  # noqa: N802 (Markdown's API)
        md.treeprocessors.register(_SafeLinks(md), "safe_links", 0)


def render_markdown(body: str) -> str:
    return markdown.markdown(escape(body), extensions=["sane_lists", _SafeLinksExtension()])
