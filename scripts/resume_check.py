"""Kill a tiny run at several points (SIGKILL: no cleanup) and resume it; print whether each resumed run ends with
the uninterrupted run's metrics.json, compression.json (less latencies) and metrics.csv. A developer's check of
`resume=` (the kill switch comes from the test suite).

python scripts/resume_check.py --out outputs/resume_check
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = [
    "dataset.name=BasicMotions",
    "dataset.batch_size=8",
    "trainer.max_epochs=4",
    "trainer.enable_model_summary=false",
    "model.net.hidden_size=16",
    "callbacks.prune_export.finetune_epochs=2",
    "~callbacks.rich_progress_bar",
    "+trainer.enable_progress_bar=false",
    "logger=csv",
]
KILL = ["+callbacks.kill._target_=tests.kill_switch.KillAt"]
POINTS = {
    "fit: epoch 0, after batch 2": ["+callbacks.kill.epoch=0", "+callbacks.kill.batch=2"],
    "fit: end of validation, epoch 1": ["+callbacks.kill.epoch=1", "+callbacks.kill.where=validation"],
    "fit: epoch 3 (last), after batch 3": ["+callbacks.kill.epoch=3", "+callbacks.kill.batch=3"],
    "export: compact model written, no reports": ["+callbacks.kill.where=export"],
}


def _train(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, capture_output=True, text=True, env=env)


def _results(run: Path) -> dict:
    comp = json.loads((run / "compression.json").read_text())
    comp.pop("deploy", None)
    csv = (run / "csv" / "version_0" / "metrics.csv").read_text()
    return {"metrics": json.loads((run / "metrics.json").read_text()), "compression": comp, "csv": csv}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "resume_check")
    out = parser.parse_args().out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    full = out / "uninterrupted"
    proc = _train(*RUN, f"hydra.run.dir={full}")
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return 1
    reference = _results(full)
    print(f"uninterrupted: {json.dumps(reference['metrics'])}")
    print("| killed at | exit | files before resume | resumed exit | metrics.json | compression.json | metrics.csv |")
    print("|---|---|---|---|---|---|---|")
    ok = True
    for i, (where, kill) in enumerate(POINTS.items()):
        run = out / f"killed{i}"
        killed = _train(*RUN, *KILL, *kill, f"hydra.run.dir={run}")
        files = ", ".join(sorted(p.name for p in run.iterdir() if not p.name.startswith(".")))
        resumed = _train(f"resume={run}", "+callbacks.kill.where=never")
        got = _results(run) if resumed.returncode == 0 else {}
        same = [got.get(k) == reference[k] for k in ("metrics", "compression", "csv")]
        ok &= all(same) and killed.returncode == -9
        marks = " | ".join("identical" if s else "DIFFERENT" for s in same)
        print(f"| {where} | {killed.returncode} | {files} | {resumed.returncode} | {marks} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
