// A tiny, safe Markdown subset for model output: paragraphs, lists (numbered as given, nested),
// **bold**, `code` and [links](https://…). Everything is built with createElement and
// textContent: model text is never parsed as HTML, links are http(s) only, and there are no
// images.

const INLINE = /(\*\*([^*]+)\*\*|`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\))/g;

function safeHref(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

function inline(parent, text) {
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) parent.append(document.createTextNode(text.slice(last, m.index)));
    if (m[2] !== undefined) {
      const b = document.createElement("strong");
      b.textContent = m[2];
      parent.append(b);
    } else if (m[3] !== undefined) {
      const c = document.createElement("code");
      c.textContent = m[3];
      parent.append(c);
    } else {
      const href = safeHref(m[5]);
      if (href) {
        const a = document.createElement("a");
        a.href = href;
        a.rel = "noopener noreferrer";
        a.target = "_blank";
        a.textContent = m[4];
        parent.append(a);
      } else {
        parent.append(document.createTextNode(m[4]));
      }
    }
    last = m.index + m[0].length;
  }
  if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
}

const LIST_LINE = /^(\s*)([-*]|\d+[.)])\s+(.*)$/;

// Lines that are all list items, as nested lists: an ordered one starts at the doc's number
// ("4. …" after a paragraph stays 4), an indented item belongs to the item above it.
function list(lines) {
  const fragment = document.createDocumentFragment();
  const stack = []; // {indent, ordered, el}
  for (const line of lines) {
    const [, space, marker, text] = line.match(LIST_LINE);
    const indent = space.length;
    const ordered = /\d/.test(marker);
    while (stack.length && indent < stack[stack.length - 1].indent) stack.pop();
    let top = stack[stack.length - 1];
    if (!top || indent > top.indent || top.ordered !== ordered) {
      if (top && indent === top.indent) stack.pop();
      const el = document.createElement(ordered ? "ol" : "ul");
      const start = parseInt(marker, 10);
      if (ordered && start !== 1) el.start = start;
      const parent = stack.length ? stack[stack.length - 1].el.lastElementChild : null;
      (parent || fragment).append(el);
      top = { indent, ordered, el };
      stack.push(top);
    }
    const li = document.createElement("li");
    inline(li, text);
    top.el.append(li);
  }
  return fragment;
}

export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  for (const block of String(text).split(/\n\s*\n/)) {
    const lines = block.split("\n").filter((l) => l.trim());
    if (!lines.length) continue;
    if (lines.every((l) => LIST_LINE.test(l))) {
      fragment.append(list(lines));
    } else {
      const p = document.createElement("p");
      lines.forEach((line, i) => {
        if (i) p.append(document.createElement("br"));
        inline(p, line);
      });
      fragment.append(p);
    }
  }
  return fragment;
}
