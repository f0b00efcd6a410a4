"""Which videos one extraction process owns when flow and feature extraction are split across processes, GPUs and
nodes (a SLURM array, torchrun, or ``--shard k --num-shards n`` by hand).

A video belongs to shard ``sha256(video id) mod n``: the assignment depends only on the id and ``n``, never on the
process, the order or the contents of the video list, so every shard agrees on it (a video added to the dataset
while an array runs is still owned by exactly one shard). Each shard writes only its own videos' results and its
own ``skipped.shard-<k>-of-<n>.json``; readers merge every ``skipped*.json`` (see ``har_vib.data.flow`` and
``har_vib.features.store``), so no file is written by two shards and no lock is needed (file locks are not reliable
on the network file systems clusters share: Lustre without ``-o flock``, some NFS setups).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from har_vib.errors import ConfigError
from har_vib.utils.io import TMP_PREFIX

T = TypeVar("T")

log = logging.getLogger(__name__)

SKIPPED_FILE = "skipped.json"
SKIPPED_GLOB = "skipped*.json"


def shard_of(video_id: str, num_shards: int) -> int:
    """The shard (0-based) that owns ``video_id`` among ``num_shards``: a hash of the id, stable across processes
    (unlike Python's salted ``hash``)."""
    digest = hashlib.sha256(video_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % num_shards


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (``Shard()``: one process does everything)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ConfigError(
                f"extract.shard={self.index} extract.num_shards={self.count}: need num_shards >= 1 and "
                f"0 <= shard < num_shards (e.g. --shard 0 --num-shards 4)"
            )

    @property
    def sharded(self) -> bool:
        """True when other processes own part of the videos."""
        return self.count > 1

    def owns(self, video_id: str) -> bool:
        """True when this shard extracts ``video_id``."""
        return self.count == 1 or shard_of(video_id, self.count) == self.index

    def select(self, items: Iterable[T], video_id: Callable[[T], str] = lambda item: item[0]) -> list[T]:
        """The items (by default ``(video_id, ...)`` tuples) this shard owns, in their order."""
        return [item for item in items if self.owns(video_id(item))]

    @property
    def skipped_file(self) -> str:
        """The skipped-videos file this shard writes: ``skipped.json`` unsharded, else
        ``skipped.shard-<k>-of-<n>.json`` (zero-padded, so the files sort by shard)."""
        if not self.sharded:
            return SKIPPED_FILE
        width = len(str(self.count - 1))
        return f"skipped.shard-{self.index:0{width}d}-of-{self.count}.json"

    def __str__(self) -> str:
        return f"shard {self.index} of {self.count}" if self.sharded else "all videos"


ALL = Shard()  # one process does everything (the default of the extraction functions)


def _env_int(environ: Mapping[str, str], name: str) -> int | None:
    value = environ.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"${name}={value!r} is not an integer; set extract.shard and extract.num_shards") from None


def resolve_shard(
    shard: int | None = None, num_shards: int | None = None, environ: Mapping[str, str] | None = None
) -> Shard:
    """The shard of this process: ``shard`` / ``num_shards`` where given, else a SLURM array's
    ``SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN`` / ``SLURM_ARRAY_TASK_COUNT``, else torchrun's ``RANK`` /
    ``WORLD_SIZE``, else ``Shard()`` (everything). Raises :class:`ConfigError` for an impossible pair (an array
    with a step, ``--array=0-30:2``, gives ids past the count: set the keys by hand there)."""
    env = os.environ if environ is None else environ
    index, count, origin = shard, num_shards, None
    task = _env_int(env, "SLURM_ARRAY_TASK_ID")
    if task is not None and (index is None or count is None):
        task_min = _env_int(env, "SLURM_ARRAY_TASK_MIN") or 0
        index = task - task_min if index is None else index
        count = _env_int(env, "SLURM_ARRAY_TASK_COUNT") if count is None else count
        origin = "$SLURM_ARRAY_TASK_ID - $SLURM_ARRAY_TASK_MIN / $SLURM_ARRAY_TASK_COUNT"
    elif (index is None or count is None) and _env_int(env, "WORLD_SIZE") is not None:
        index = _env_int(env, "RANK") if index is None else index
        count = _env_int(env, "WORLD_SIZE") if count is None else count
        origin = "torchrun's $RANK / $WORLD_SIZE"
    if index is None and count is None:
        return Shard()
    if index is None or count is None:
        missing = "extract.shard (--shard)" if index is None else "extract.num_shards (--num-shards)"
        raise ConfigError(f"{missing} is not set and not in the environment; give both shard keys")
    try:
        return Shard(int(index), int(count))
    except (TypeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise ConfigError(f"{err}; taken from {origin}" if origin else str(err)) from None
        raise ConfigError(f"extract.shard={index!r} extract.num_shards={count!r}: need two integers") from None


def shard_tag(shard: int | None = None, num_shards: int | None = None) -> str:
    """``shard-03-of-16`` (or ``all``) for the shard these keys and the environment give; ``shard-invalid`` for an
    impossible pair (the script then says why). Registered as the OmegaConf resolver ``shard_tag``, so each shard
    of an array gets its own Hydra run folder (array tasks start in the same second)."""
    try:
        chosen = resolve_shard(shard, num_shards)
    except ConfigError:
        return "shard-invalid"
    return chosen.skipped_file.removeprefix("skipped.").removesuffix(".json") if chosen.sharded else "all"


def register_resolver() -> None:
    """Register :func:`shard_tag` with OmegaConf (``conf/extract.yaml`` names the run folder with it)."""
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver("shard_tag", shard_tag, replace=True)


def shard_args_to_overrides(argv: Sequence[str]) -> list[str]:
    """Rewrite ``--shard K`` / ``--shard=K`` / ``--num-shards N`` into the Hydra overrides ``extract.shard=K`` /
    ``extract.num_shards=N`` (the extraction scripts accept both spellings); other arguments are kept."""
    names = {"--shard": "extract.shard", "--num-shards": "extract.num_shards"}
    out: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        flag, eq, value = arg.partition("=")
        if flag in names:
            if not eq:
                if i + 1 >= len(args):
                    raise ConfigError(f"{flag} needs a value, e.g. {flag} 0")
                value = args[i + 1]
                i += 1
            if not value.strip().isdigit():
                raise ConfigError(f"{flag} {value}: must be a whole number >= 0, e.g. {flag} 0")
            out.append(f"{names[flag]}={value.strip()}")
        else:
            out.append(arg)
        i += 1
    return out


def temp_owner(temp: Path, root: Path, suffixes: Sequence[str] = ()) -> str | None:
    """The entry a leftover temp file or folder of :func:`~har_vib.utils.io.atomic_dir` /
    :func:`~har_vib.utils.io.atomic_save` was being written for, as a path relative to ``root`` without
    ``suffixes`` (``Class/.tmp-v_1.npy.k3j2`` -> ``Class/v_1``), or None for a name those helpers do not make."""
    name = temp.name
    if not name.startswith(TMP_PREFIX) or "." not in name[len(TMP_PREFIX) :]:
        return None
    target = name[len(TMP_PREFIX) :].rsplit(".", 1)[0]  # the random part has no dots
    for suffix in suffixes:
        if target.endswith(suffix):
            target = target[: -len(suffix)]
            break
    try:
        rel = (temp.parent / target).relative_to(root)
    except ValueError:
        return None
    return rel.as_posix()


def remove_own_temps(root: Path, mine: Callable[[Path], bool] | None = None) -> int:
    """Delete leftovers of interrupted atomic writes (``.tmp-*``) under ``root`` for which ``mine`` is true (None:
    all of them, for a process that owns every entry). Another shard's temp may be a write in progress, so a
    sharded extraction passes a ``mine`` that keeps them. Returns how many were removed."""
    import shutil

    if not root.is_dir():
        return 0
    removed: set[Path] = set()  # a set: looked up for every parent of every temp (a list made this quadratic)
    for p in sorted(root.rglob(f"{TMP_PREFIX}*"), key=lambda q: len(q.parts)):
        if any(parent in removed for parent in p.parents):
            continue  # inside a temp folder already removed
        if mine is not None and not mine(p):
            continue
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.add(p)
    return len(removed)


def is_shared_file(name: str) -> bool:
    """True for the files every shard of a cache folder shares (``params.json``, ``manifest.json``,
    ``skipped*.json``), as opposed to a video's entry."""
    return name in ("params.json", "manifest.json") or (name.startswith("skipped") and name.endswith(".json"))


def temp_filter(
    root: Path, shard: Shard, suffixes: Sequence[str] = (), entries: str = ""
) -> Callable[[Path], bool] | None:
    """The ``mine`` of :func:`remove_own_temps` for shard ``shard`` of a cache folder ``root`` (None unsharded):
    temps of its own videos (under ``root/entries`` when given, named ``<video id><suffix>``) and of its own
    skipped file; never those of another shard or of a file all shards share."""
    if not shard.sharded:
        return None
    prefix = f"{entries.strip('/')}/" if entries else ""

    def mine(temp: Path) -> bool:
        owner = temp_owner(temp, root, suffixes)
        if owner is None:
            return False
        if is_shared_file(owner):
            return owner == shard.skipped_file
        if not owner.startswith(prefix):
            return False
        return shard.owns(owner[len(prefix) :])

    return mine


def read_skipped(folder: Path) -> tuple[dict[str, str], dict[str, dict[str, int] | None]]:
    """Every shard's skipped videos under ``folder``, merged: ``({video id: reason}, {video id: identity of its
    file when tried})`` from ``skipped.json`` and each ``skipped.shard-<k>-of-<n>.json`` (a video listed in several,
    from runs with other shard counts, takes the newest file's record). Callers drop videos that have a complete
    entry since (a later success). An unparsable file is ignored with a warning: its videos are tried again."""
    reasons: dict[str, str] = {}
    sources: dict[str, dict[str, int] | None] = {}
    files = []
    for path in folder.glob(SKIPPED_GLOB):
        try:
            files.append((path.stat().st_mtime_ns, path.name, path))
        except FileNotFoundError:  # replaced by its shard in between
            continue
    for _, _, path in sorted(files):
        try:
            data = json.loads(path.read_text())
            skipped, tried = dict(data.get("skipped") or {}), dict(data.get("sources") or {})
        except FileNotFoundError:
            continue
        except (ValueError, TypeError, AttributeError) as err:
            log.warning("%s is not a skipped-videos record (%s); its videos will be tried again", path, err)
            continue
        reasons.update({str(v): str(r) for v, r in skipped.items()})
        sources.update({str(v): tried.get(v) for v in skipped})
    return reasons, sources
