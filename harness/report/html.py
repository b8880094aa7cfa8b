"""``REPORT.html``: the Markdown report rendered with markdown-it-py (CommonMark + GitHub
tables), every local image embedded as a ``data:`` URI, so the one file can be mailed,
attached to CI runs or opened anywhere without the figures folder."""

from __future__ import annotations

import base64
import html
import mimetypes
from typing import Any
from pathlib import Path

__all__ = ["markdown_renderer", "render_html", "write_html"]

_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;line-height:1.45}
table{border-collapse:collapse;font-size:0.85em;margin:1em 0;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top}th{background:#f3f3f3}
img{max-width:100%;height:auto;display:block;margin:0.5em 0}code{background:#f5f5f5;padding:0 3px}
pre{background:#f5f5f5;padding:0.6em;overflow-x:auto}"""


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
    body = md.renderer.render(tokens, md.options, {})
    title = html.escape(markdown_path.read_text().splitlines()[0].lstrip("# ") if markdown_path.stat().st_size else "")
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_CSS}</style></head><body>\n{body}</body></html>\n"
    )


def write_html(markdown_path: Path, out: Path) -> Path:
    """Write :func:`render_html` of ``markdown_path`` to ``out``."""
    out.write_text(render_html(markdown_path), encoding="utf-8")
    return out
