"""``python -m harness.calibration``: re-judge or run the calibration tier from the command line.

- ``recompute [FILE]``: rates, 95% intervals and flags re-derived from a written
  ``calibration.json``'s stored trials (no world rebuilt), report rewritten next to it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.calibration.run import DEFAULT_CALIBRATION_FILE, recompute


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.calibration", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    rc = sub.add_parser("recompute", help="re-judge a written calibration.json from its stored trials")
    rc.add_argument("file", nargs="?", type=Path, default=DEFAULT_CALIBRATION_FILE)
    rc.add_argument("--no-figures", action="store_true", help="rewrite the JSON and Markdown only")
    args = parser.parse_args(argv)
    if args.verb == "recompute":
        if not args.file.exists():
            print(f"error: {args.file} does not exist; run the calibration tier first.", file=sys.stderr)
            return 2
        print(recompute(args.file, figures=not args.no_figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
