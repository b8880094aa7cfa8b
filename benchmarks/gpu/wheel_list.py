"""Print the pinned closure of the packages the rehearsal needs beyond torch, as installed
here (``name==version`` per line), for ``pip download --no-deps -r``. Packages torch brings
(and torch itself) are left out; pass names the GPU machine already has to leave them out too::

    python benchmarks/gpu/wheel_list.py [--have numpy scipy ...] > /tmp/gpu-requirements.txt
"""

from __future__ import annotations

import argparse
import re
from importlib.metadata import PackageNotFoundError, requires, version

ROOTS = ("sae-lens", "transformer-lens", "datasets", "transformers", "tabulate", "matplotlib", "pandas", "scipy")
TORCH_BRINGS = {
    "torch",
    "numpy",
    "triton",
    "sympy",
    "mpmath",
    "networkx",
    "jinja2",
    "markupsafe",
    "filelock",
    "typing-extensions",
    "fsspec",
    "setuptools",
}


def closure(roots: tuple[str, ...], skip: set[str]) -> list[str]:
    seen: set[str] = set()
    todo, out = list(roots), []
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen or name in skip or name.startswith("nvidia-"):
            continue
        seen.add(name)
        try:
            out.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
        todo += [re.split(r"[ ;<>=!~\[(]", r)[0] for r in requires(name) or [] if "extra ==" not in r]
    return sorted(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--have", nargs="*", default=[], help="packages the GPU machine already has")
    args = parser.parse_args()
    print("\n".join(closure(ROOTS, TORCH_BRINGS | {h.lower().replace("_", "-") for h in args.have})))
