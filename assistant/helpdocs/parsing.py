"""Help-centre Markdown read as it is written: front matter, then sections, one per heading.

One CommonMark parser (markdown-it-py) reads every doc; its token stream is walked once into
sections, each with its heading path and anchor, and the paragraphs, list items and table rows
under it (bold UI labels kept as **label**). What the site generators add around Markdown is
read or dropped, never an error: YAML or TOML front matter; Hugo shortcodes and Liquid tags
(a paired shortcode's content stays); MDX imports, exports, comments and JSX components;
admonitions (`:::tip` containers, MkDocs `!!! note`, GitHub `> [!NOTE]`: their text stays);
heading ids (`{#id}`). Images, raw HTML (iframes, videos, styles), code blocks, footnotes and
link targets never reach a section; link text does. A caption (an image's italic line, or
a line ending in ":" just before an image or embedded media) is dropped with its media.

The doc page is rendered from the same tokens (helpdocs.markdown), so an anchor that a source
links to is the id of its heading on the page.
"""

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.admon import admon_plugin
from mdit_py_plugins.container import container_plugin
from mdit_py_plugins.footnote import footnote_plugin

# Bumped when what a section holds changes: stored sections of an older version are re-read.
VERSION = 2


class FrontMatterError(ValueError):
    """The front matter is not a YAML (or TOML) mapping."""


@dataclass(frozen=True, slots=True)
class Block:
    """A paragraph, a list item or a table row, as text with its **bold labels**."""

    kind: str  # "para" | "item" | "row"
    text: str
    number: int | None = None  # an ordered list item's number in the doc
    depth: int = 0  # list nesting

    @property
    def plain(self) -> str:
        return self.text.replace("**", "")


@dataclass(frozen=True, slots=True)
class Section:
    anchor: str  # "" for the text before the first heading
    headings: tuple[str, ...]  # the doc's title, then each heading down to this one
    blocks: tuple[Block, ...]

    @property
    def title(self) -> str:
        """The heading path: "Payments › Refunds"."""
        return " › ".join(self.headings)

    @property
    def text(self) -> str:
        return "\n".join(b.plain for b in self.blocks)

    def as_json(self) -> dict:
        return {
            "anchor": self.anchor,
            "headings": list(self.headings),
            "blocks": [[b.kind, b.text, b.number, b.depth] for b in self.blocks],
        }

    @classmethod
    def from_json(cls, data: dict) -> "Section":
        return cls(
            anchor=data["anchor"],
            headings=tuple(data["headings"]),
            blocks=tuple(Block(k, t, n, d) for k, t, n, d in data["blocks"]),
        )


@dataclass(frozen=True)
class ParsedDoc:
    meta: dict  # the front matter
    title: str  # from the front matter, else the first heading, else ""
    sections: tuple[Section, ...]


# --- front matter ---------------------------------------------------------------------------
_YAML_FM = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S | re.M)
_TOML_FM = re.compile(r"\A\ufeff?\+\+\+[ \t]*\r?\n(.*?)^\+\+\+[ \t]*(?:\r?\n|\Z)", re.S | re.M)


def split_front_matter(text: str) -> tuple[dict, str]:
    """(front matter, body). Raises FrontMatterError when it is there but not a mapping."""
    for pattern, load in ((_YAML_FM, yaml.safe_load), (_TOML_FM, tomllib.loads)):
        match = pattern.match(text)
        if match is None:
            continue
        try:
            meta = load(match.group(1)) or {}
        except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FrontMatterError(f"malformed front matter: {first}") from exc
        if not isinstance(meta, dict):
            raise FrontMatterError("malformed front matter: not a mapping of names to values")
        return meta, text[match.end() :]
    return {}, text.lstrip("\ufeff")


# --- what the site generators add ------------------------------------------------------------
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
# A link to a Hugo page by shortcode: the link stays (its text counts), its target does not.
_SHORTCODE_TARGET = re.compile(r"\]\(\s*\{\{[<%].*?[>%]\}\}\s*\)")
_SHORTCODE = re.compile(r"\{\{[<%].*?[>%]\}\}", re.S)
_LIQUID = re.compile(r"\{%-?.*?-?%\}|\{\{-?[^{}<%]*?-?\}\}", re.S)
_MDX_LINE = re.compile(
    r"^(?:import\s.+\sfrom\s+['\"].*|import\s+['\"].*|export\s+(?:const|default|function|let)\b.*)$"
)
_MDX_COMMENT = re.compile(r"\{/\*.*?\*/\}", re.S)
# A JSX component (capitalised), as a line of its own: a block boundary; its label (a tab's
# name: <TabItem label="Web">) stays as a line that introduces what follows.
_JSX_NAME = r"(?!(?i:script|style|iframe|object|embed)\b)[A-Z][\w.]*"  # never HTML that runs
_JSX_LINE = re.compile(rf"^[ \t]*</?{_JSX_NAME}(?:\s[^<>]*)?/?>[ \t]*$")
_JSX_LABEL = re.compile(r"""\b(?:label|title)=(?:"([^"]+)"|'([^']+)'|\{["']([^"']+)["']\})""")
_JSX_INLINE = re.compile(rf"</?{_JSX_NAME}(?:\s[^<>]*)?/?>")


def _prepare_prose(text: str) -> str:
    text = _SHORTCODE_TARGET.sub("](#)", text)
    text = _SHORTCODE.sub("", text)
    text = _LIQUID.sub("", text)
    text = _MDX_COMMENT.sub("", text)
    lines = []
    for line in text.split("\n"):
        if _MDX_LINE.match(line):
            continue
        if _JSX_LINE.match(line):
            label = _JSX_LABEL.search(line)
            text = next((g for g in label.groups() if g), "") if label else ""
            lines.extend(["", f"{text}:", ""] if text else ["", ""])
            continue
        lines.append(_JSX_INLINE.sub("", line))
    return "\n".join(lines)


def prepare(body: str) -> str:
    """The body as CommonMark: the generators' syntax removed outside code fences."""
    out, prose, fence = [], [], None
    for line in body.replace("\r\n", "\n").split("\n"):
        match = _FENCE.match(line)
        if fence is None and match:
            out.append(_prepare_prose("\n".join(prose)))
            prose, fence = [], match.group(1)
            out.append(line)
        elif fence is not None:
            out.append(line)
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
        else:
            prose.append(line)
    if prose:
        out.append(_prepare_prose("\n".join(prose)))
    return "\n".join(out)


# --- the parser ----------------------------------------------------------------------------
@lru_cache(maxsize=1)
def parser() -> MarkdownIt:
    md = (
        MarkdownIt("commonmark", {"html": True})
        .enable(["table", "strikethrough"])
        .use(admon_plugin)
        .use(footnote_plugin)
        .use(container_plugin, name="admonition", validate=lambda params, *args: True)
    )
    # Every link parses as a link (its text counts; the doc page makes an unsafe target "#"),
    # rather than staying as Markdown source text.
    md.validateLink = lambda url: True
    return md


_HEADING_ID = re.compile(r"\s*\{:?\s*#([\w-]+)[^}]*\}\s*$")
# Raw HTML that runs or embeds something: the paragraph or item around it is an injection or
# an embed, never text to rank or quote.
_ACTIVE_TAG = re.compile(r"<\s*/?\s*(script|style|iframe|object|embed)\b", re.IGNORECASE)
_ALERT = re.compile(r"^\s*\[!\w+\][+-]?\s*")
_URLISH = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|www\.)\S*$", re.I)
_SPACES = re.compile(r"\s+")


def slugify_heading(text: str) -> str:
    """A heading's anchor as GitHub, Docusaurus and MkDocs make it: lower case, punctuation
    dropped, spaces as hyphens, letters of any script kept."""
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def inline_text(token: Token, labels: bool = True) -> str:
    """An inline token's text: link text without its target, no images, no raw HTML, no
    footnote marks; **bold** kept when `labels`."""
    out: list[str] = []
    link: list[str] | None = None  # the text of the link being read, and its target
    target = ""
    for child in token.children or []:
        kind = child.type
        if kind in ("text", "code_inline"):
            (link if link is not None else out).append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            (link if link is not None else out).append(" ")
        elif kind in ("strong_open", "strong_close") and labels:
            (link if link is not None else out).append("**")
        elif kind == "link_open":
            link, target = [], str(child.attrGet("href") or "")
        elif kind == "link_close" and link is not None:
            text = "".join(link)
            # A bare address as link text is the target itself.
            if not (_URLISH.match(text.strip()) or text.strip() == target):
                out.append(text)
            link = None
    text = _SPACES.sub(" ", "".join(out)).strip()
    # Bold around nothing (an image, a dropped link) or split by a dropped part.
    text = re.sub(r"\*\*\s*\*\*", " ", text)
    return _SPACES.sub(" ", text).strip()


def _is_media(tokens: list[Token], i: int) -> bool:
    """An image-only paragraph, or raw HTML (an iframe, a video) at token i."""
    token = tokens[i]
    if token.type == "html_block":
        return True
    if token.type == "paragraph_open" and i + 1 < len(tokens):
        children = [c for c in tokens[i + 1].children or [] if c.type not in ("softbreak",)]
        shown = [c for c in children if not (c.type == "text" and not c.content.strip())]
        return bool(shown) and all(c.type in ("image", "html_inline") for c in shown)
    return False


def _italic_only(token: Token) -> bool:
    children = [c for c in token.children or [] if not (c.type == "text" and not c.content.strip())]
    return (
        len(children) >= 3 and children[0].type == "em_open" and children[-1].type == "em_close"
    )


def assign_anchors(tokens: list[Token]) -> None:
    """Each heading_open gets its anchor (its `{#id}`, else its slug, made unique) in
    token.meta["anchor"] and its text in token.meta["text"]; the `{#id}` leaves the text."""
    used: dict[str, int] = {}
    for i, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        inline = tokens[i + 1]
        explicit = None
        if inline.children:
            last = inline.children[-1]
            match = _HEADING_ID.search(last.content) if last.type == "text" else None
            if match:
                explicit = match.group(1)
                last.content = last.content[: match.start()]
        text = inline_text(inline, labels=False)
        anchor = explicit or slugify_heading(text) or "section"
        if anchor in used:
            used[anchor] += 1
            anchor = f"{anchor}-{used[anchor]}"
        else:
            used[anchor] = 0
        token.meta = {**(token.meta or {}), "anchor": anchor, "text": text}


def tokens_of(body: str) -> list[Token]:
    """The body's tokens with their anchors, the generators' syntax removed."""
    tokens = parser().parse(prepare(body))
    assign_anchors(tokens)
    return tokens


class _Reader:
    """One walk over the tokens, building sections."""

    def __init__(self, title: str):
        self.title = title
        self.sections: list[Section] = []
        self.anchor = ""
        self.path: list[tuple[int, str]] = []  # (level, text) of the headings above
        self.blocks: list = []  # Blocks, _Italic lines and MEDIA marks, in order
        self.lists: list[list] = []  # per open list: [ordered, next number]
        self.items: list[dict] = []  # per open list item: its text parts

    def close_section(self) -> None:
        blocks = _without_captions(self.blocks)
        headings = (self.title, *(text for _, text in self.path))
        if blocks or self.anchor:
            self.sections.append(Section(self.anchor, tuple(h for h in headings if h), blocks))
        self.blocks = []

    def heading(self, level: int, anchor: str, text: str) -> None:
        self.close_section()
        while self.path and self.path[-1][0] >= level:
            self.path.pop()
        self.path.append((level, text))
        self.anchor = anchor

    def flush_item(self) -> None:
        item = self.items[-1]
        text = " ".join(item["parts"]).strip()
        item["parts"] = []
        if text:
            kind = "item" if not item["emitted"] else "para"
            self.blocks.append(Block(kind, text, item["number"], len(self.items) - 1))
            item["emitted"] = True


def read(body: str, title: str = "") -> ParsedDoc:
    """A doc's front matter, title and sections. `title` (the admin's) wins over the front
    matter's, which wins over a first-level heading that opens the body."""
    meta, text = split_front_matter(body)
    tokens = tokens_of(text)
    title = title.strip() or str(meta.get("title") or "").strip()
    first = next((i for i, t in enumerate(tokens) if t.type == "heading_open"), None)
    leading_h1 = (
        first is not None
        and tokens[first].tag == "h1"
        and not any(t.type == "inline" and t.content.strip() for t in tokens[:first])
    )
    if leading_h1 and (not title or tokens[first].meta["text"].lower() == title.lower()):
        title = title or tokens[first].meta["text"]
        skip_heading = first
    else:
        skip_heading = None
    reader = _Reader(title)
    skip_depth = 0  # inside a footnote block or an admonition's title
    i = 0
    while i < len(tokens):
        token = tokens[i]
        kind = token.type
        if kind in ("footnote_block_open", "admonition_title_open"):
            skip_depth += 1
        elif kind in ("footnote_block_close", "admonition_title_close"):
            skip_depth -= 1
        elif skip_depth:
            pass
        elif kind == "heading_open":
            if i != skip_heading:
                reader.heading(int(token.tag[1]), token.meta["anchor"], token.meta["text"])
            i += 3  # heading_open, inline, heading_close
            continue
        elif _is_media(tokens, i):
            reader.blocks.append(MEDIA)
            if kind == "paragraph_open":
                i += 3
                continue
        elif kind in ("bullet_list_open", "ordered_list_open"):
            if reader.items:
                reader.flush_item()
            start = int(token.attrGet("start") or 1) if kind == "ordered_list_open" else None
            reader.lists.append([kind == "ordered_list_open", start])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            reader.lists.pop()
        elif kind == "list_item_open":
            ordered, number = reader.lists[-1]
            if ordered:
                reader.lists[-1][1] = number + 1
            reader.items.append({"parts": [], "number": number, "emitted": False})
        elif kind == "list_item_close":
            reader.flush_item()
            reader.items.pop()
        elif kind == "table_open":
            i = _read_table(tokens, i, reader.blocks)
            continue
        elif kind == "inline":
            active = any(
                c.type == "html_inline" and _ACTIVE_TAG.search(c.content)
                for c in token.children or []
            )
            text = "" if active else _ALERT.sub("", inline_text(token))
            if active and reader.items:
                reader.items[-1]["parts"] = []
                reader.items[-1]["emitted"] = True  # the whole item goes
            elif text and _italic_only(token) and not reader.items:
                reader.blocks.append(_Italic(text))
            elif text and reader.items:
                reader.items[-1]["parts"].append(text)
            elif text:
                reader.blocks.append(Block("para", text))
        i += 1
    reader.close_section()
    return ParsedDoc(meta=meta, title=title, sections=tuple(reader.sections))


@dataclass(frozen=True, slots=True)
class _Italic:
    """A paragraph in italics only: a caption when it stands next to an image or a video."""

    text: str


MEDIA = "media"  # where an image-only paragraph or raw HTML (an iframe, a video) stood


def _without_captions(blocks: list) -> tuple[Block, ...]:
    """The blocks without media marks and their captions: an italic line next to a medium,
    or a line that introduces one (ends with ":" just before it)."""
    out: list[Block] = []
    for i, block in enumerate(blocks):
        before = blocks[i - 1] if i else None
        after = blocks[i + 1] if i + 1 < len(blocks) else None
        if block == MEDIA:
            continue
        if isinstance(block, _Italic):
            if MEDIA in (before, after):
                continue
            block = Block("para", block.text)
        if block.kind == "para" and after == MEDIA and block.text.rstrip().endswith(":"):
            continue
        out.append(block)
    return tuple(out)


def _read_table(tokens: list[Token], i: int, blocks: list) -> int:
    """Each body row as one block: "header: cell; header: cell"."""
    headers: list[str] = []
    row: list[str] = []
    in_head = False
    while tokens[i].type != "table_close":
        token = tokens[i]
        if token.type == "thead_open":
            in_head = True
        elif token.type == "thead_close":
            in_head = False
        elif token.type == "tr_open":
            row = []
        elif token.type == "inline":
            row.append(inline_text(token))
        elif token.type == "tr_close":
            if in_head:
                headers = row
            elif any(row):
                named = zip(headers[1:] + [""] * len(row), row[1:], strict=False)
                rest = "; ".join(f"{h}: {c}" if h else c for h, c in named if c)
                text = f"{row[0]} — {rest}" if row[0] and rest else row[0] or rest
                blocks.append(Block("row", text))
        i += 1
    return i + 1
