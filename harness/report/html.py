"""``REPORT.html``: the Markdown report rendered with markdown-it-py (CommonMark + GitHub
tables), every local image embedded as a ``data:`` URI, so the one file can be mailed,
attached to CI runs or opened anywhere without the figures folder.

Layout for reading on a laptop: prose and verdict tables in a column of readable width that
never scrolls sideways at 1,280 px (cells wrap), a sticky table of contents beside it (built from
the report's H2 headings and its claim sections), collapsible detail (the report's ``<details>``
blocks), figures inline. Wide numeric tables scroll inside their own box."""

from __future__ import annotations

import base64
import html
import mimetypes
import re
from pathlib import Path
from typing import Any

__all__ = ["markdown_renderer", "render_html", "write_html"]

_CSS = """
*{box-sizing:border-box}
html{scroll-padding-top:4.5rem}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;line-height:1.45;color:#1d1d1f;background:#fff}
nav.toc{position:sticky;top:0;z-index:10;background:#f8f8f8;border-bottom:1px solid #ddd;padding:0.3rem 1rem;
 font-size:0.8em;line-height:1.6}
nav.toc ul{display:inline;list-style:none;margin:0;padding:0}nav.toc>strong{margin-right:0.8em}nav.toc li{display:inline;margin-right:0.7em}
nav.toc li ul{margin-left:0.3em}nav.toc li li{margin-right:0.4em}
nav.toc a{text-decoration:none;color:#0b5cad}nav.toc a:hover{text-decoration:underline}
main{max-width:78rem;margin:0 auto;padding:0.5rem 1rem 4rem}
main p,main li{max-width:60rem}
h1{font-size:1.4em;margin:0.2em 0}h2{border-bottom:1px solid #ddd;padding-bottom:0.1em;margin:1.2em 0 0.4em}
main>p{margin:0.5em 0}
h3{margin-top:1.6em}
table{border-collapse:collapse;font-size:0.85em;margin:0.8em 0;width:100%}
th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top;overflow-wrap:anywhere}th{background:#f3f3f3;text-align:left}
.verdicts table{font-size:0.8em;margin:0.4em 0}.verdicts td{padding:1px 5px}.verdicts td:first-child{white-space:nowrap}
.verdicts td,.verdicts th{line-height:1.25}.verdicts table{table-layout:fixed}
.verdicts th:first-child,.verdicts td:first-child{width:3em}th{overflow-wrap:normal}
details table{display:block;overflow-x:auto;width:auto;max-width:100%}
details{margin:0.6em 0}summary{cursor:pointer;color:#0b5cad}
img{max-width:100%;height:auto;display:block;margin:0.5em 0}
.figs img{display:inline-block;max-width:49%;vertical-align:top;margin:0.3em 0.5% 0.3em 0}code{background:#f5f5f5;padding:0 3px}
pre{background:#f5f5f5;padding:0.6em;overflow-x:auto}
"""

_ANCHOR = re.compile(r'<a id="([^"]+)"></a>')


def _heading_ids(tokens: list[Any]) -> list[tuple[int, str, str]]:
    """Give every H2/H3 an ``id`` (its ``<a id>`` anchor, else a slug of its text); return
    ``(level, id, text)`` of each, for the table of contents."""
    out = []
    used: set[str] = set()
    for i, tok in enumerate(tokens):
        if tok.type != "heading_open" or tok.tag not in ("h2", "h3"):
            continue
        content = tokens[i + 1].content if i + 1 < len(tokens) else ""
        m = _ANCHOR.search(content)
        text = re.sub(r"<[^>]+>|`", "", content).strip()
        if m:
            ident = m.group(1)
        else:
            ident = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
            base, k = ident, 2
            while ident in used:
                ident, k = f"{base}-{k}", k + 1
            tok.attrSet("id", ident)
        used.add(ident)
        out.append((int(tok.tag[1]), ident, text))
    return out


def _toc(headings: list[tuple[int, str, str]]) -> str:
    """Nested list: every H2, and under it the claim sections (H3 whose id starts ``claim-``)."""
    parts = ['<nav class="toc"><strong>Contents</strong><ul>']
    open_sub = False
    for level, ident, text in headings:
        if level == 2:
            if open_sub:
                parts.append("</ul></li>")
                open_sub = False
            parts.append(f'<li><a href="#{ident}">{html.escape(text)}</a>')
            if ident == "claims":
                parts.append("<ul>")
                open_sub = True
            else:
                parts.append("</li>")
        elif open_sub and ident.startswith("claim-"):
            short = text.split(":", 1)[0]
            parts.append(f'<li><a href="#{ident}" title="{html.escape(text)}">{html.escape(short)}</a></li>')
    if open_sub:
        parts.append("</ul></li>")
    parts.append("</ul></nav>")
    return "".join(parts)


def markdown_renderer() -> Any:
    """The renderer the report is checked with: CommonMark plus GitHub-style tables."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table")


def render_html(markdown_path: Path) -> str:
    """HTML of ``markdown_path`` with its local images inlined; raises FileNotFoundError naming
    an image that does not exist."""
    md = markdown_renderer()
    tokens = md.parse(markdown_path.read_text())
    base = markdown_path.parent
    for tok in tokens:
        for child in tok.children or []:
            if child.type != "image":
                continue
            src = str(child.attrs.get("src", ""))
            if "://" in src or src.startswith("data:"):
                continue
            path = base / src
            if not path.is_file():
                raise FileNotFoundError(f"{markdown_path}: image {src!r} not found at {path}")
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            child.attrs["src"] = f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    headings = _heading_ids(tokens)
    body = md.renderer.render(tokens, md.options, {})
    title = html.escape(markdown_path.read_text().splitlines()[0].lstrip("# ") if markdown_path.stat().st_size else "")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
        f"<style>{_CSS}</style></head><body>\n{_toc(headings)}<main>\n{body}</main>"
        "</body></html>\n"
    )


def write_html(markdown_path: Path, out: Path) -> Path:
    """Write :func:`render_html` of ``markdown_path`` to ``out``."""
    out.write_text(render_html(markdown_path), encoding="utf-8")
    return out
