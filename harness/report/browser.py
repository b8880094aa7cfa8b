"""Render ``REPORT.html`` in headless Chromium: layout measurements and a first-screen screenshot.

Drives the system Chromium directly (Debian package ``chromium``; no browser download, no Python
driver): ``--dump-dom`` of a copy of the page with a small script that writes its measurements
into the DOM on ``load``, and ``--screenshot`` for the picture. Used by the report's browser test
(tests/report/test_browser.py) and to refresh ``docs/report-first-screen.png``::

    python -m harness.report.browser reports/smoke/results.json docs/report-first-screen.png
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["LAPTOP", "find_chromium", "measure", "screenshot"]

LAPTOP = (1280, 800)
"""The laptop window the report is checked at (CSS px, width x height)."""

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

_MEASURE_JS = """
window.addEventListener("load", () => {
  const out = {viewport: [window.innerWidth, window.innerHeight],
               pageScrollWidth: document.documentElement.scrollWidth};
  const imgs = Array.from(document.images);
  out.images = imgs.length;
  out.broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt || i.src.slice(0, 40));
  out.verdictTables = Array.from(document.querySelectorAll(".verdicts table")).map(t => (
    {right: t.getBoundingClientRect().right, scrollWidth: t.scrollWidth, clientWidth: t.clientWidth}));
  out.prose = Array.from(document.querySelectorAll("main > p, main > ul")).map(p => p.getBoundingClientRect().right);
  out.firstScreen = {};
  const matrix = document.querySelector(".verdicts table");
  if (matrix) {
    out.matrixProcedures = Array.from(matrix.querySelectorAll("th")).slice(1).map(th => th.textContent.trim());
    matrix.querySelectorAll('td:first-child a[href^="#claim-"]').forEach(a => {
      const row = a.closest("tr");
      out.firstScreen[a.textContent.trim()] = {
        bottom: row.getBoundingClientRect().bottom,
        cells: Array.from(row.querySelectorAll("td")).slice(1).map(td => td.textContent.trim())};
    });
  }
  const pre = document.createElement("pre");
  pre.id = "report-measurements";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
"""


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable (``$CHROMIUM`` first), or None."""
    env = os.environ.get("CHROMIUM")
    if env and Path(env).is_file():
        return env
    for name in _CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(args: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
    chrome = find_chromium()
    if chrome is None:
        raise FileNotFoundError(
            "no Chromium found (tried $CHROMIUM, " + ", ".join(_CANDIDATES) + "); install it: apt-get install chromium"
        )
    with tempfile.TemporaryDirectory() as profile:
        base = [
            chrome,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
        ]
        return subprocess.run([*base, *args], capture_output=True, text=True, timeout=timeout, check=False)


def measure(html_path: Path, *, size: tuple[int, int] = LAPTOP, timeout: float = 120.0) -> dict[str, Any]:
    """Load ``html_path`` at ``size`` and return what the page measured: ``viewport`` [w, h],
    ``pageScrollWidth``, ``images`` / ``broken`` (alt texts of images that did not load),
    ``verdictTables`` (right edge, scroll and client width of each ``.verdicts`` table), ``prose``
    (right edges of top-level paragraphs and lists), ``firstScreen`` (claim id -> bottom of its row
    in the verdict matrix and the matrix cells' texts) and ``matrixProcedures``."""
    page = Path(html_path).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(page.replace("</body>", f"<script>{_MEASURE_JS}</script></body>"), encoding="utf-8")
        res = _run(
            [f"--window-size={size[0]},{size[1]}", "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
            timeout=timeout,
        )
    m = re.search(r'<pre id="report-measurements">(.*?)</pre>', res.stdout, flags=re.S)
    if m is None:
        raise RuntimeError(f"Chromium returned no measurements (exit {res.returncode}): {res.stderr[-800:]}")
    text = m.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return dict(json.loads(text))


def screenshot(html_path: Path, out_png: Path, *, size: tuple[int, int] = LAPTOP, timeout: float = 120.0) -> Path:
    """A PNG of the first screen of ``html_path`` at ``size``."""
    out_png = Path(out_png).resolve()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    res = _run(
        [f"--window-size={size[0]},{size[1]}", f"--screenshot={out_png}", Path(html_path).resolve().as_uri()],
        timeout=timeout,
    )
    if not out_png.is_file():
        raise RuntimeError(f"Chromium wrote no screenshot (exit {res.returncode}): {res.stderr[-800:]}")
    return out_png


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.report.browser RESULTS_JSON OUT_PNG``: write the report of a results
    file into a temporary folder and screenshot its first screen."""
    import argparse

    from harness.calibration.report import DEFAULT_CALIBRATION_FILE, calibration_notes
    from harness.report.markdown import write_report_from_results
    from harness.verdicts.stability import DEFAULT_STABILITY_FILE, stability_notes

    ap = argparse.ArgumentParser(prog="python -m harness.report.browser", description=main.__doc__)
    ap.add_argument("results", type=Path, help="a results.json (e.g. reports/smoke/results.json)")
    ap.add_argument("out", type=Path, help="the PNG to write (e.g. docs/report-first-screen.png)")
    ap.add_argument(
        "--size", default=f"{LAPTOP[0]}x{LAPTOP[1]}", help="window WIDTHxHEIGHT in CSS px (default: %(default)s)"
    )
    args = ap.parse_args(argv)
    w, h = (int(x) for x in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        data = json.loads(args.results.read_text())
        md = write_report_from_results(
            args.results,
            Path(tmp),
            calibration=calibration_notes(DEFAULT_CALIBRATION_FILE),
            stability=stability_notes(DEFAULT_STABILITY_FILE, profile=str(data.get("profile"))),
        )
        screenshot(md.with_suffix(".html"), args.out, size=(w, h))
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
