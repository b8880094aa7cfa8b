"""``benchmarks/gpu/run``: the paper rehearsal on one lent GPU in one call of at most 8 minutes
(issue 20, part 4). Standard library only: it runs before the project's dependencies are installed.

::

    benchmarks/gpu/run [--device cuda|cpu] [--scale paper|tiny] [--out DIR] [--budget SECONDS]

1. **Device check** (seconds): torch's version, CUDA build and device name go to ``env.json``;
   ``--device cuda`` on a machine where torch sees no CUDA device stops here, exit status 2, with
   a message naming the fix (nothing is staged).
2. **Install**, only when ``sae_lens``, ``transformer_lens`` or ``datasets`` does not import:
   ``pip install --no-index --no-deps --target WORK/site`` of ``benchmarks/gpu/wheels/*.whl``
   (built by ``benchmarks/gpu/prepare``); exit status 3 naming the missing module otherwise.
3. **Kernel calibration**: ``python -m harness.cli cost --calibrate --device DEV`` when the tree
   has the ``cost`` verb (its output: ``calibration.json``); otherwise a logged line says it was
   skipped.
4. **Measured steps** (:mod:`benchmarks.gpu.stages`, a child process): stage the hub, load, one
   full-size grid cell and one semantic table per procedure, then whatever else fits.

Everything lands in ``--out`` (default ``$OUT``, the folder the device runner returns) as it
happens: ``run.log`` (every line of every phase, flushed line by line), ``env.json``,
``calibration.json``, ``results.json`` and ``benchmark.json`` (rewritten whole after every step)
and ``summary.json`` (status, phase times, steps measured and skipped). The child gets a
deadline ``--budget`` seconds after the start (less a margin to write the summary); when it
overruns, it is stopped and the summary says ``"status": "cut"`` -- what it measured is kept.
Large files (the staged hub, 3.7 GB at paper size, and the residual cache) go to ``--work``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]
WHEELS = ROOT / "benchmarks" / "gpu" / "wheels"
NEEDED = ("sae_lens", "transformer_lens", "datasets")
"""Modules the image lacks; when all import, nothing is installed."""
SUMMARY_MARGIN_S = 15.0
"""Seconds kept after the child's deadline to stop it and write the summary."""
STOP_GRACE_S = 10.0
"""Seconds between SIGTERM and SIGKILL of an overrunning child."""
CALIBRATION_LIMIT_S = 150.0
"""Most seconds the kernel calibration may take of the budget."""


_STEP_START = re.compile(r"\[step\] (\S+) \(.*\): start")


class Log:
    """Lines to stdout and ``run.log``, each flushed as written (a run cut off keeps its log)."""

    def __init__(self, path: Path, t0: float) -> None:
        self.fh: IO[str] = open(path, "a", buffering=1)
        self.t0 = t0
        self.lock = threading.Lock()
        self.running_step: str | None = None
        """The measured step that started and has not ended (what a cut run was doing)."""

    def __call__(self, line: str) -> None:
        stamped = f"[{time.time() - self.t0:7.1f} s] {line.rstrip()}"
        started = _STEP_START.match(line)
        if started:
            self.running_step = started.group(1)
        elif self.running_step and line.startswith(f"[step] {self.running_step}: "):
            self.running_step = None
        with self.lock:
            print(stamped, flush=True)
            self.fh.write(stamped + "\n")
            self.fh.flush()


def write_json(path: Path, payload: Any) -> None:
    """JSON to a sibling temporary file, flushed and renamed over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as fh:
        json.dump(payload, fh, indent=1, default=str)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def stream(
    cmd: Sequence[str], log: Log, *, env: dict[str, str], stop_at: float, stdout: Path | None = None, name: str = ""
) -> str:
    """Run ``cmd`` in its own process group, streaming its lines into ``log`` (stdout into the
    file ``stdout`` instead, when given); stop it (SIGTERM, then SIGKILL) at ``stop_at``
    (time.time()). Returns "ok", "failed (rc N)" or "cut"."""
    out_fh = open(stdout, "w") if stdout is not None else None
    proc = subprocess.Popen(
        list(cmd),
        cwd=ROOT,
        env=env,
        stdout=out_fh if out_fh is not None else subprocess.PIPE,
        stderr=subprocess.PIPE if out_fh is not None else subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,
    )
    pipe = proc.stderr if out_fh is not None else proc.stdout
    assert pipe is not None
    reader = threading.Thread(target=lambda: [log(line) for line in pipe], daemon=True)
    reader.start()
    cut = False
    try:
        proc.wait(timeout=max(stop_at - time.time(), 0.0))
    except subprocess.TimeoutExpired:
        cut = True
        log(f"time budget reached: stopping {name or cmd[0]} (pid {proc.pid})")
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    reader.join(timeout=5)
    if out_fh is not None:
        out_fh.close()
    if cut:
        return "cut"
    return "ok" if proc.returncode == 0 else f"failed (rc {proc.returncode})"


_DEVICE_PROBE = """
import json, sys, torch
info = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda_build": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(), "cuda_devices": torch.cuda.device_count()}
if info["cuda_available"]:
    info["device_name"] = torch.cuda.get_device_name(0)
print(json.dumps(info))
"""


def probe_device(python: str, env: dict[str, str]) -> dict[str, Any]:
    """torch's view of the machine (one short child process)."""
    done = subprocess.run([python, "-c", _DEVICE_PROBE], env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"rc {done.returncode}"}
    info: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return info


def missing_module(python: str, env: dict[str, str]) -> str | None:
    """The first of :data:`NEEDED` that does not import (its error line), or None."""
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)"
    done = subprocess.run([python, "-c", code, *NEEDED], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode == 0:
        return None
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"rc {done.returncode}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/gpu/run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--scale", choices=["paper", "tiny"], default="paper")
    parser.add_argument("--out", type=Path, default=None, help="returned files (default: $OUT, else /tmp/sae-gpu-out)")
    parser.add_argument("--work", type=Path, default=None, help="hub, cache, site (default: /tmp/sae-gpu-SCALE)")
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for the whole run (default 450)")
    parser.add_argument("--wheels", type=Path, default=WHEELS)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch / BLAS threads")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--no-calibrate", action="store_true", help="skip the kernel calibration")
    args = parser.parse_args(argv)

    t0 = time.time()
    out = (args.out or Path(os.environ.get("OUT") or "/tmp/sae-gpu-out")).resolve()
    work = (args.work or Path(f"/tmp/sae-gpu-{args.scale}")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    log = Log(out / "run.log", t0)
    summary: dict[str, Any] = {
        "scale": args.scale,
        "device": args.device,
        "budget_s": args.budget,
        "status": "running",
        "phases": {},
    }

    def finish(status: str, rc: int) -> int:
        summary["status"] = status
        summary["wall_s"] = round(time.time() - t0, 1)
        results = out / "results.json"
        if results.is_file():
            res = json.loads(results.read_text())
            summary["steps"] = [{"name": s["name"], "kind": s["kind"], "seconds": s["seconds"]} for s in res["steps"]]
            summary["skipped_for_time"] = [s["name"] for s in res["skipped"]]
            summary["stages_status"] = res["status"]
        if status == "cut":
            summary["cut_during"] = log.running_step
        write_json(out / "summary.json", summary)
        log(f"summary: {status}, {summary['wall_s']} s; files in {out}: {sorted(p.name for p in out.iterdir())}")
        return rc

    env = dict(os.environ)
    env.update(
        CUBLAS_WORKSPACE_CONFIG=":4096:8",  # deterministic cuBLAS: the encoder's bits must not depend on the run
        TOKENIZERS_PARALLELISM="false",
        TQDM_DISABLE="1",
        PYTHONUNBUFFERED="1",
        OPENBLAS_NUM_THREADS=str(args.threads),
        OMP_NUM_THREADS=str(args.threads),
        MKL_NUM_THREADS=str(args.threads),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
    )
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    log(
        f"benchmarks/gpu/run --device {args.device} --scale {args.scale} --budget {args.budget:.0f}: out {out}, work {work}"
    )

    # 1. the device, in seconds
    t = time.time()
    info = probe_device(args.python, env)
    write_json(out / "env.json", info)
    summary["env"] = info
    summary["phases"]["device_check_s"] = round(time.time() - t, 1)
    log(f"device check: {json.dumps(info)}")
    if "error" in info:
        log(f"torch does not import with {args.python}: {info['error']}")
        return finish("no torch", 2)
    if args.device.startswith("cuda") and not info["cuda_available"]:
        log(
            f"--device {args.device}: torch {info['torch']} (CUDA build {info['cuda_build']}) sees no CUDA device on "
            "this machine. Fix: run this on the lent GPU machine (benchmarks/gpu/README.md), or pass --device cpu "
            "(with --scale tiny on a CPU)."
        )
        return finish("no cuda", 2)

    # 2. the wheels the image lacks, offline
    t = time.time()
    missing = missing_module(args.python, env)
    if missing is None:
        log(f"install: {', '.join(NEEDED)} import already; nothing installed")
    else:
        wheels = sorted(args.wheels.glob("*.whl"))
        log(f"install: {missing}; installing {len(wheels)} wheels from {args.wheels}")
        if not wheels:
            log(
                f"no wheels in {args.wheels}. Fix: run benchmarks/gpu/prepare where PyPI is reachable and carry "
                "benchmarks/gpu/wheels with the call (benchmarks/gpu/README.md)."
            )
            return finish("install failed", 3)
        site = work / "site"
        pip = [args.python, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile"]
        pip += ["--disable-pip-version-check", "--upgrade", "--target", str(site), *map(str, wheels)]
        if stream(pip, log, env=env, stop_at=t0 + args.budget, name="pip install") != "ok":
            return finish("install failed", 3)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
        missing = missing_module(args.python, env)
        if missing is not None:
            log(
                f"still not importable after the install: {missing}. Fix: add its wheel to benchmarks/gpu/wheel_list.py"
            )
            return finish("install failed", 3)
    summary["phases"]["install_s"] = round(time.time() - t, 1)

    # 3. kernel calibration (the cost model's throughput table), when this tree has the verb
    t = time.time()
    helped = (
        subprocess.run(
            [args.python, "-m", "harness.cli", "cost", "--help"], env=env, cwd=ROOT, capture_output=True, text=True
        )
        if not args.no_calibrate
        else None
    )
    if helped is None:
        summary["calibration"] = "skipped (--no-calibrate)"
        log("calibration: skipped (--no-calibrate)")
    elif helped.returncode != 0 or "--calibrate" not in helped.stdout:
        summary["calibration"] = "skipped: no `sae-claims cost --calibrate` in this tree"
        log("calibration: skipped, this tree has no `sae-claims cost --calibrate` verb (issue 20, part 1)")
    else:
        cmd = [args.python, "-m", "harness.cli", "cost", "--calibrate", "--device", args.device]
        cmd += ["--json"] if "--json" in helped.stdout else []
        log(f"calibration: {' '.join(cmd[2:])}")
        stop = min(t + CALIBRATION_LIMIT_S, t0 + args.budget - SUMMARY_MARGIN_S)
        summary["calibration"] = stream(
            cmd, log, env=env, stop_at=stop, stdout=out / "calibration.json", name="calibration"
        )
    summary["phases"]["calibration_s"] = round(time.time() - t, 1)

    # 4. measured steps until the deadline
    t = time.time()
    deadline = t0 + args.budget - SUMMARY_MARGIN_S
    cmd = [args.python, "-u", "-m", "benchmarks.gpu.stages", "--scale", args.scale, "--device", args.device]
    cmd += ["--work", str(work), "--out", str(out), "--deadline", f"{deadline:.3f}", "--threads", str(args.threads)]
    outcome = stream(
        cmd, log, env=env, stop_at=deadline + SUMMARY_MARGIN_S - STOP_GRACE_S - 2.0, name="the measured steps"
    )
    summary["phases"]["stages_s"] = round(time.time() - t, 1)
    if outcome == "ok":
        done = json.loads((out / "results.json").read_text())["status"] if (out / "results.json").is_file() else "?"
        return finish("complete" if done == "complete" else "budget: steps skipped for time", 0)
    if outcome == "cut":
        return finish("cut", 0)
    return finish(f"stages {outcome}", 1)


if __name__ == "__main__":
    sys.exit(main())
