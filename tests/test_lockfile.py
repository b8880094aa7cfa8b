"""The pinned environment (issue 23): harness.lockfile and constraints.txt."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.lockfile import CONSTRAINTS_FILE, dependency_closure, freeze_lines, lock_differences, read_constraints

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_the_lock_pins_every_package_of_the_dependency_closure() -> None:
    """Every distribution the installed project needs (with the dev extra) has a pin; versions
    are compared by lock_differences (a warning), names here (a missing pin is an error)."""
    pins = read_constraints(CONSTRAINTS_FILE)
    closure = dependency_closure()
    assert {"torch", "transformers", "sae-lens", "numpy", "scipy", "pytest", "ruff"} <= set(closure)
    missing = sorted(set(closure) - set(pins))
    assert not missing, f"constraints.txt lacks {missing}: run `python -m harness.lockfile --write constraints.txt`"
    assert pins["torch"] == md.version("torch").split("+")[0] or lock_differences(names=["torch"])


def test_freeze_lines_drop_local_labels() -> None:
    assert freeze_lines({"torch": "2.13.0+cpu", "numpy": "2.4.6"}) == ["numpy==2.4.6", "torch==2.13.0"]


def test_lock_differences_name_each_drifted_package(tmp_path: Path) -> None:
    lock = tmp_path / "constraints.txt"
    numpy_version = md.version("numpy")
    lock.write_text(f"# a comment\n\nnumpy=={numpy_version}\nscipy==0.0.1  # too old\nno-such-package-i23==1.0\n")
    assert read_constraints(lock)["scipy"] == "0.0.1"
    assert lock_differences(lock) == [
        "no-such-package-i23 not installed (lock: 1.0)",
        f"scipy {md.version('scipy')} (lock: 0.0.1)",
    ]
    assert lock_differences(lock, names=["NumPy"]) == []
    assert lock_differences(tmp_path / "absent.txt") == []
    lock.write_text("numpy>=1\n")
    with pytest.raises(ConfigError, match="not a 'name==version' pin"):
        read_constraints(lock)


def test_setup_and_ci_install_from_the_lock() -> None:
    for script in (".ci/run", ".ci/reproduce-smoke"):
        text = (REPO_ROOT / script).read_text()
        installs = [line for line in text.splitlines() if "pip install" in line and "--upgrade pip" not in line]
        assert installs and all("-c constraints.txt" in line for line in installs), (script, installs)
