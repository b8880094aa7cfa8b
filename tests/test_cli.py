"""harness.cli: --version, --verbose, and bad input as clear errors (issue 14, findings 7, 8)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from harness import __version__
from harness.cli import main, run_demo
from harness.errors import ConfigError


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith(f"sae-claims {__version__} (commit ")


def test_zero_permutations_is_an_error_not_the_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--permutations", "0", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "0 is not a positive number" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="n_permutations=0"):
        run_demo(tmp_path, n_permutations=0)
    assert not list(tmp_path.iterdir())  # nothing computed, nothing written


def test_verbose_sets_logging_and_errors_have_no_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    old = root.level
    try:
        assert main(["-v", "plan", "--profile", "fixtures/smoke.toml"]) == 0
        assert root.level == logging.INFO
        assert main(["-vv", "plan", "--profile", "no-such-profile"]) == 2
        assert root.level == logging.DEBUG
        err = capsys.readouterr().err
        assert "error: Unknown profile 'no-such-profile'" in err and "Traceback" not in err
    finally:
        root.setLevel(old)
