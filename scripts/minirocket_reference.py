"""MiniRocket on the sequences a ``train.py`` run would see: the reference row of ``make compare``.

  python scripts/minirocket_reference.py --out outputs/minirocket/osuleaf dataset.name=OSULeaf seed=1
  python scripts/minirocket_reference.py --out /tmp/mine dataset=arrays dataset.path=my_data.npz

Anything after the options is a Hydra override of ``conf/config.yaml`` selecting the dataset, as for ``train.py``.
The dataset is built by the run's own DataModule (same files, same standardisation, same test split); MiniRocket
is fitted on the whole training split (the part the LSTM trains on and its validation part: MiniRocket needs no
validation) without patching, as in the UCR/UEA benchmarks. Writes ``metrics.json`` (``test_acc``),
``reference.json`` (timings and sizes) and ``status.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout, installed or not

from har_vib.errors import ConfigError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for metrics.json and reference.json")
    parser.add_argument("--n-jobs", type=int, default=1, help="threads for MiniRocket's transform")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides selecting the dataset (and seed)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from hydra.errors import HydraException

    try:
        result = run(args.out, args.overrides, args.n_jobs)
    except (ConfigError, HydraException) as err:  # one line: a bad value, file or override
        cause: BaseException = err
        while not isinstance(cause, ConfigError) and cause.__cause__ is not None:  # instantiate() wraps it
            cause = cause.__cause__
        if not isinstance(cause, ConfigError):  # Hydra's own error: its first line names the override
            cause = err
        print(f"error: {str(cause).splitlines()[0] if str(cause) else type(cause).__name__}", file=sys.stderr)
        return 2
    print(f"MiniRocket test accuracy {result['test_acc']:.4f} ({result['n_train']} train, {result['n_test']} test)")
    return 0


def run(out: Path, overrides: list[str], n_jobs: int = 1) -> dict:
    """Build the dataset the overrides select, fit MiniRocket, write the reports into ``out``; return them."""
    import dataclasses

    import numpy as np
    from hydra.utils import instantiate

    from har_vib.baselines.minirocket import minirocket_accuracy
    from har_vib.reports.paper_tables import compose_config
    from har_vib.utils.io import write_json
    from har_vib.utils.run_status import mark

    cfg = compose_config(overrides)
    if "patch_length" not in cfg.dataset:
        raise ConfigError(
            f"MiniRocket takes sequence datasets (dataset=ts or dataset=arrays), not {cfg.dataset._target_}"
        )
    cfg.dataset.patch_length = 1  # MiniRocket reads every step
    dm = instantiate(cfg.dataset)
    dm.prepare_data()
    dm.setup("fit")
    train_x = [*dm.train_set.sequences, *dm.val_set.sequences]
    train_y = np.concatenate([dm.train_set.targets.numpy(), dm.val_set.targets.numpy()])
    result = minirocket_accuracy(
        train_x, train_y, dm.test_set.sequences, dm.test_set.targets.numpy(), int(cfg.seed), n_jobs
    )
    out.mkdir(parents=True, exist_ok=True)
    report = {"method": "minirocket", "seed": int(cfg.seed), "overrides": list(overrides), **dataclasses.asdict(result)}
    write_json({"test_acc": result.test_acc}, out / "metrics.json")
    write_json(report, out / "reference.json")
    mark(out, "finished")
    return report


if __name__ == "__main__":
    sys.exit(main())
