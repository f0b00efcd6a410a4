"""A one-machine stand-in for SLURM's ``sbatch``, ``srun``, ``sacct`` and ``scancel``, for launcher tests.

:func:`install` writes the four commands into a folder to put first on ``PATH``. ``sbatch`` keeps a copy of each
script it gets (``<state>/sbatch_<job id>.sh``), answers ``Submitted batch job <id>`` like the real one and runs
the array tasks one after another in a detached process, with the ``SLURM_*`` variables a task sees on a cluster;
``srun`` runs its command with ``--output`` / ``--error`` filled in; ``sacct`` reports each task's state
(``RUNNING``, ``COMPLETED``, ``FAILED``) in ``--parsable2`` form. Resources (partition, GPUs, time) are recorded,
not enforced.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

TOOLS = ("sbatch", "srun", "sacct", "scancel")
STATE_ENV = "FAKE_SLURM_DIR"
FIRST_JOB_ID = 4242
# a job (or srun step) of the fake cluster is killed after this many seconds: no test waits on it forever
JOB_TIMEOUT = 900


def install(bin_dir: Path, state_dir: Path) -> dict[str, str]:
    """Write the fake commands into ``bin_dir``; return the environment that uses them (``PATH`` first)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parents[1]
    for tool in TOOLS:
        path = bin_dir / tool
        path.write_text(
            f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(root)!r})\n"
            f"from tests.fake_slurm import main\nsys.exit(main({tool!r}, sys.argv[1:]))\n"
        )
        path.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", STATE_ENV: str(state_dir)}


def _state_dir() -> Path:
    return Path(os.environ[STATE_ENV])


def _sbatch_option(script: str, name: str) -> str | None:
    match = re.search(rf"^#SBATCH --{name}=(\S+)$", script, flags=re.MULTILINE)
    return None if match is None else match.group(1)


def _fill(pattern: str, array_id: int, task: int, job_id: int) -> str:
    """SLURM's filename patterns: %A array id, %a task index, %j job id, %t task rank (always 0 here)."""
    return pattern.replace("%A", str(array_id)).replace("%a", str(task)).replace("%j", str(job_id)).replace("%t", "0")


def _sbatch(args: list[str]) -> int:
    script_path = Path(args[-1])
    script = script_path.read_text()
    state = _state_dir()
    counter = state / "next_job_id"
    array_id = int(counter.read_text()) if counter.exists() else FIRST_JOB_ID
    counter.write_text(str(array_id + 100))
    copy = state / f"sbatch_{array_id}.sh"  # submitit moves its file away once sbatch answers: run the copy
    copy.write_text(script)
    array = _sbatch_option(script, "array")
    n_tasks = int(array.split("%")[0].split("-")[1]) + 1 if array else 1
    for task in range(n_tasks):
        (state / f"{array_id}_{task}.state").write_text("PENDING")
    with open(state / f"runner_{array_id}.log", "w") as log:  # the detached runner keeps its own copy
        subprocess.Popen(
            [sys.executable, __file__, "_run", str(copy), str(array_id), str(n_tasks)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    print(f"Submitted batch job {array_id}")
    return 0


def _run_array(script_path: str, array_id: int, n_tasks: int) -> int:
    """Run the tasks of one submission in order, each as ``bash <script>`` in a SLURM-like environment."""
    script = Path(script_path).read_text()
    state = _state_dir()
    for task in range(n_tasks):
        job_id = array_id + 1 + task
        env = {
            **os.environ,
            "SLURM_JOB_ID": str(job_id),
            "SLURM_ARRAY_JOB_ID": str(array_id),
            "SLURM_ARRAY_TASK_ID": str(task),
            "SLURM_JOB_NAME": _sbatch_option(script, "job-name") or "fake",
            "SLURM_NTASKS": "1",
            "SLURM_JOB_NUM_NODES": "1",
            "SLURM_JOB_NODELIST": "fakenode",
            "SLURMD_NODENAME": "fakenode",
            "SLURM_NODEID": "0",
            "SLURM_PROCID": "0",
            "SLURM_LOCALID": "0",
        }
        (state / f"{array_id}_{task}.state").write_text("RUNNING")
        out = _fill(_sbatch_option(script, "output") or os.devnull, array_id, task, job_id)
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        with open(out, "a") as fh:
            code = subprocess.call(
                ["bash", script_path], env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=JOB_TIMEOUT
            )
        (state / f"{array_id}_{task}.state").write_text("COMPLETED" if code == 0 else "FAILED")
    return 0


def _srun(args: list[str]) -> int:
    files: dict[str, str] = {}
    while args and args[0].startswith("-"):
        flag = args.pop(0)
        if flag in ("--output", "--error"):
            files[flag] = args.pop(0)
        elif "=" not in flag and flag not in ("--unbuffered",):
            args.pop(0)  # any other "--name value" option
    array_id, task = int(os.environ["SLURM_ARRAY_JOB_ID"]), int(os.environ["SLURM_ARRAY_TASK_ID"])
    job_id = int(os.environ["SLURM_JOB_ID"])
    paths = {k: _fill(v, array_id, task, job_id) for k, v in files.items()}
    for path in paths.values():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(paths.get("--output", os.devnull), "a") as out, open(paths.get("--error", os.devnull), "a") as err:
        return subprocess.call(args, stdout=out, stderr=err, timeout=JOB_TIMEOUT)


def _sacct(args: list[str]) -> int:
    wanted = {args[i + 1] for i, a in enumerate(args[:-1]) if a == "-j"}
    print("JobID|State|NodeList")
    for path in sorted(_state_dir().glob("*_*.state")):
        if path.stem.split("_")[0] in wanted:
            print(f"{path.stem}|{path.read_text()}|fakenode")
    return 0


def main(tool: str, args: list[str]) -> int:
    """Entry point of the fake commands: ``tool`` is the command's name, ``args`` its arguments."""
    if tool == "sbatch":
        return _sbatch(args)
    if tool == "srun":
        return _srun(args)
    if tool == "sacct":
        return _sacct(args)
    if tool == "_run":
        return _run_array(args[0], int(args[1]), int(args[2]))
    return 0  # scancel: nothing to cancel here


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
