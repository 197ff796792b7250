// A tiny, safe Markdown subset for model output: paragraphs, lists, **bold**, `code` and
// [links](https://…). Everything is built with createElement and textContent: model text is
// never parsed as HTML, links are http(s) only, and there are no images.

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

export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  for (const block of String(text).split(/\n\s*\n/)) {
    const lines = block.split("\n").filter((l) => l.trim());
    if (!lines.length) continue;
    const bullets = lines.every((l) => /^\s*[-*]\s+/.test(l));
    const numbers = lines.every((l) => /^\s*\d+[.)]\s+/.test(l));
    if (bullets || numbers) {
      const list = document.createElement(bullets ? "ul" : "ol");
      for (const line of lines) {
        const li = document.createElement("li");
        inline(li, line.replace(/^\s*([-*]|\d+[.)])\s+/, ""));
        list.append(li);
      }
      fragment.append(list);
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
