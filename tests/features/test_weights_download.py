"""Pretrained weights fetched from the Hugging Face Hub as timm does, against a local stand-in for the Hub
(tests/hub_stand_in.py): the first run downloads into the cache HF_HOME names, later runs read the cache and make no
request, the weights identifier (and so every feature store key) is the same in both; downloading off
(HF_HUB_OFFLINE=1, backbone.download=false) and failed downloads are one clear error; a backbone.weights file wins.

Each scenario is a fresh Python process with the environment a user would set (huggingface_hub reads HF_ENDPOINT,
HF_HOME and HF_HUB_OFFLINE when it is imported), running :data:`DRIVER` on a list of backbone specs. Nothing leaves
127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import load_file, save

from tests.conftest import ROOT
from tests.hub_stand_in import HubStandIn

MODEL = "mobilenetv3_small_050.lamb_in1k"  # a small timm model whose pretrained config names timm/<MODEL> on the Hub
REPO = f"timm/{MODEL}"

# Builds each backbone spec of argv[1] (a JSON list of {"spec": ..., "out": file or null}) with create_backbone and
# prints a JSON list of {"weights_id"} or {"error"} (a ConfigError's message); any other error is a traceback and a
# non-zero exit. argv[2] == "instant-retries" makes huggingface_hub's backoff between its retries instant (the
# retries still happen): 1 + 2 + 4 + 8 + 8 s of waiting say nothing about the message.
DRIVER = r"""
import json, sys, time, types
if sys.argv[2:] == ["instant-retries"]:
    import huggingface_hub.utils._http as hub_http
    instant = types.ModuleType("time")
    instant.__dict__.update(vars(time))
    instant.sleep = lambda seconds: None
    hub_http.time = instant
from safetensors.torch import save_file
from har_vib.errors import ConfigError
from har_vib.features.backbones import BackboneSpec, create_backbone
results = []
for case in json.loads(sys.argv[1]):
    try:
        model, weights_id = create_backbone(BackboneSpec(**case["spec"]))
    except ConfigError as err:
        results.append({"error": str(err)})
        continue
    if case.get("out"):
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, case["out"])
    results.append({"weights_id": weights_id})
print(json.dumps(results))
"""


def _state(seed: int) -> dict[str, torch.Tensor]:
    """A seeded random initialisation of MODEL, with its ImageNet classifier."""
    torch.manual_seed(seed)
    return {k: v.contiguous() for k, v in timm.create_model(MODEL, pretrained=False).state_dict().items()}


def _spec(model_name: str = MODEL, **kw) -> dict:
    return {"name": "mobilenetv3_small", "model_name": model_name, **kw}


def _run(cases: list[dict], endpoint: str, hf_home: Path, offline: bool = False, instant: bool = False) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))}
    env.update({"HF_ENDPOINT": endpoint, "HF_HOME": str(hf_home), "HF_HUB_DISABLE_PROGRESS_BARS": "1"})
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    args = [sys.executable, "-c", DRIVER, json.dumps(cases), *(["instant-retries"] if instant else [])]
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _weight_requests(hub: HubStandIn, repo: str) -> list[tuple[str, str]]:
    """The requests for files of ``repo`` (huggingface_hub's best-effort GET /api/agent-harnesses aside)."""
    return [(method, path) for method, path in hub.requests if path.startswith(f"/{repo}/")]


def _assert_failed_download(message: str, model_name: str, url: str) -> None:
    assert "\n" not in message, message  # one line
    assert message.startswith(f"backbone '{model_name}': downloading its pretrained weights"), message
    assert url in message and "HF_ENDPOINT=" in message and "backbone.weights=" in message, message
    assert "HF_HUB_OFFLINE=1" in message and "backbone.download=false" in message, message


@pytest.fixture(scope="module")
def downloaded(tmp_path_factory) -> dict:
    """Two runs against a stand-in that serves MODEL's weights: the first downloads, the second reads the cache."""
    tmp = tmp_path_factory.mktemp("hub")
    served = _state(seed=1234)
    data = save(served)
    with HubStandIn({f"{REPO}/model.safetensors": data}) as hub:
        first = _run([{"spec": _spec(), "out": str(tmp / "first.safetensors")}], hub.endpoint, tmp / "hf_home")
        after_first = list(hub.requests)
        second = _run([{"spec": _spec(), "out": str(tmp / "second.safetensors")}], hub.endpoint, tmp / "hf_home")
        after_second = list(hub.requests)
    return {
        "tmp": tmp,
        "served": served,
        "digest": hashlib.sha256(data).hexdigest(),
        "results": first + second,
        "requests": (after_first, after_second[len(after_first) :]),
    }


def test_first_use_downloads_into_the_hf_cache_and_loads_the_served_tensors(downloaded):
    first_requests, _ = downloaded["requests"]
    resolve = f"/{REPO}/resolve/main/model.safetensors"
    assert ("HEAD", resolve) in first_requests and ("GET", resolve) in first_requests
    blob = downloaded["tmp"] / "hf_home" / "hub" / f"models--timm--{MODEL}" / "blobs" / downloaded["digest"]
    assert blob.is_file() and hashlib.sha256(blob.read_bytes()).hexdigest() == downloaded["digest"]
    loaded = load_file(str(downloaded["tmp"] / "first.safetensors"))
    served = downloaded["served"]
    assert set(loaded) == {k for k in served if not k.startswith("classifier.")}  # headless
    for key, value in loaded.items():
        assert torch.equal(value, served[key]), key


def test_second_use_reads_the_cache_and_keeps_the_weights_identifier(downloaded):
    """No request at all on the second run; the identifier (part of every feature store key) is the digest of the
    cached file in both runs, so features extracted by the first run are found by the second."""
    _, second_requests = downloaded["requests"]
    assert second_requests == []
    first, second = downloaded["results"]
    assert first == second == {"weights_id": f"hf-{downloaded['digest'][:16]}"}
    a = load_file(str(downloaded["tmp"] / "first.safetensors"))
    b = load_file(str(downloaded["tmp"] / "second.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_offline_uses_the_cache_and_refuses_what_is_not_there_without_a_request(downloaded):
    """HF_HUB_OFFLINE=1: the cached weights load as before; weights not in the cache are the clear error (downloading
    is off, how to turn it on, the other ways), and the Hub is never asked."""
    other = "mobilenetv3_small_075.lamb_in1k"
    with HubStandIn({f"{REPO}/model.safetensors": save(_state(seed=7))}) as hub:
        cached, missing = _run(
            [{"spec": _spec()}, {"spec": _spec(other)}], hub.endpoint, downloaded["tmp"] / "hf_home", offline=True
        )
    assert hub.requests == []
    assert cached == downloaded["results"][0]
    message = missing["error"]
    assert f"pretrained weights for backbone '{other}' are not on disk" in message
    assert "downloading is off (HF_HUB_OFFLINE=1 is set)" in message and "unset HF_HUB_OFFLINE" in message
    assert "backbone.weights=" in message and "backbone.pretrained=false" in message
    assert "Hugging Face cache" in message and "efficientnet_lite0" in message


def test_refusals_failures_and_a_weights_file_against_a_reachable_hub(tmp_path: Path):
    """One process, one stand-in that holds MODEL's weights, a repository without weights and nothing else:
    backbone.download=false refuses without a request; a repository without the file and an unknown repository are
    one line each naming the URL and the fixes (timm's two files tried in the first); a backbone.weights file is
    loaded and the Hub is not asked."""
    own = _state(seed=99)
    save_path = tmp_path / "own.safetensors"
    save_path.write_bytes(save(own))
    files = {f"{REPO}/model.safetensors": save(_state(seed=1234)), "timm/resnet18.a1_in1k/config.json": b"{}"}
    cases = [
        {"spec": _spec(download=False)},
        {"spec": _spec("resnet18.a1_in1k", name="resnet18")},
        {"spec": _spec("mobilenetv3_small_075.lamb_in1k")},
        {"spec": _spec(weights=str(save_path)), "out": str(tmp_path / "loaded.safetensors")},
    ]
    with HubStandIn(files) as hub:
        off, no_file, no_repo, own_file = _run(cases, hub.endpoint, tmp_path / "hf_home")
    assert _weight_requests(hub, REPO) == []

    assert "downloading is off (backbone.download=false)" in off["error"]
    assert "backbone.download=true" in off["error"] and "backbone.weights=" in off["error"]

    _assert_failed_download(
        no_file["error"], "resnet18.a1_in1k", f"{hub.endpoint}/timm/resnet18.a1_in1k/resolve/main/pytorch_model.bin"
    )
    assert "(tried model.safetensors, pytorch_model.bin): HTTP 404 EntryNotFound" in no_file["error"]
    # the reachability probe of the first file, then huggingface_hub's HEAD of each file: no GET of a missing file
    assert [m for m, _ in _weight_requests(hub, "timm/resnet18.a1_in1k")] == ["HEAD", "HEAD", "HEAD"]

    url = f"{hub.endpoint}/timm/mobilenetv3_small_075.lamb_in1k/resolve/main/model.safetensors"
    _assert_failed_download(no_repo["error"], "mobilenetv3_small_075.lamb_in1k", url)
    assert f"{url}: HTTP 404 RepoNotFound" in no_repo["error"]  # no second file tried: the repository is not there

    assert own_file["weights_id"].startswith("file-")
    loaded = load_file(str(tmp_path / "loaded.safetensors"))
    assert all(torch.equal(value, own[key]) for key, value in loaded.items())


def test_an_unreachable_hub_is_one_clear_error(tmp_path: Path):
    """Nothing listens on the endpoint: one line naming the URL and the fixes, from the reachability probe (no
    rounds of huggingface_hub's retries)."""
    with socket.socket() as sock:  # a port that was free a moment ago: connections to it are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    (result,) = _run([{"spec": _spec()}], endpoint, tmp_path / "hf_home", instant=True)
    url = f"{endpoint}/{REPO}/resolve/main/model.safetensors"
    _assert_failed_download(result["error"], MODEL, url)
    assert f"{url}: no answer (ConnectionRefusedError: " in result["error"] and "Connection refused" in result["error"]
    assert not (tmp_path / "hf_home" / "hub" / f"models--timm--{MODEL}" / "snapshots").exists()
