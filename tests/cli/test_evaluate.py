"""`brainlens evaluate`: folders matched by file name or a store's test split, the table's files, brain fidelity,
and clear errors for folders that do not match."""

import json

import numpy as np
import pytest
from PIL import Image

from brainlens.cli import main
from brainlens.store import SPLITS, open_store


def _write(folder, images, names, suffix=".png"):
    folder.mkdir(parents=True, exist_ok=True)
    for image, name in zip(images, names):
        Image.fromarray(image).save(folder / f"{name}{suffix}")


def _noisy(images, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(images.astype(np.int16) + rng.integers(-60, 61, size=images.shape), 0, 255).astype(np.uint8)


def test_evaluate_folders_by_name(simulated, tmp_path, capsys):
    store = open_store(simulated)
    images = store.images_at(np.arange(6))
    names = [f"img{i}" for i in range(6)]
    _write(tmp_path / "truth", images, names)
    # reconstructions at another size and format still pair by name
    recon = np.stack([np.asarray(Image.fromarray(x).resize((96, 96))) for x in _noisy(images)])
    _write(tmp_path / "recon", recon[::-1], names[::-1], suffix=".jpg")
    out = tmp_path / "scores"
    assert main(["--quiet", "evaluate", "--truth", str(tmp_path / "truth"), "--recon", str(tmp_path / "recon"),
                 "--out", str(out), "--networks", "offline", "--subject", "2"]) == 0
    printed = capsys.readouterr().out
    assert "PixCorr" in printed and "brain 2-way" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["names"] == sorted(names) and metrics["n_pairs"] == 6
    assert metrics["pixcorr"] > 0.7 and metrics["brain"]["brain"] == "in-silico subject 2 (ground truth)"
    assert {"insilico_convnet_early", "insilico_embedder"} <= set(metrics["rows"]) and "pairwise" in metrics
    assert (out / "table.png").stat().st_size > 0 and json.loads((out / "config.json").read_text())["subject"] == 2


def test_evaluate_against_a_store_test_split(simulated, tmp_path):
    store = open_store(simulated)
    test = np.flatnonzero(store.split == SPLITS["test"])[:4]
    _write(tmp_path / "recon", _noisy(store.images_at(test)), [f"{i:05d}" for i in test])
    out = tmp_path / "scores"
    assert main(["--quiet", "evaluate", "--truth", str(simulated), "--recon", str(tmp_path / "recon"), "--out", str(out),
                 "--networks", "insilico-embedder", "--pairwise", "no"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["names"] == [f"{i:05d}" for i in test] and "pairwise" not in metrics
    assert set(metrics["rows"]) == {"insilico_embedder", "insilico_fine_50way"}
    train = np.flatnonzero(store.split == SPLITS["train"])[:1]
    _write(tmp_path / "recon", store.images_at(train), [f"{i:05d}" for i in train])
    assert main(["evaluate", "--truth", str(simulated), "--recon", str(tmp_path / "recon"), "--out", str(out)]) == 1


@pytest.mark.parametrize("problem, message", [
    ("extra", "have no seen image of the same name"),
    ("size", "must share one size"),
    ("empty", "holds no images"),
    ("missing", "folder not found"),
    ("network", "unknown feature network 'vgg'"),
    ("weights", "--weights takes NETWORK=PATH"),
])
def test_evaluate_errors_name_the_problem(simulated, tmp_path, capsys, problem, message):
    images = open_store(simulated).images_at(np.arange(3))
    _write(tmp_path / "truth", images, ["a", "b", "c"])
    _write(tmp_path / "recon", images, ["a", "b", "c"])
    args = ["evaluate", "--truth", str(tmp_path / "truth"), "--recon", str(tmp_path / "recon"), "--out", str(tmp_path / "o"),
            "--networks", "offline"]
    if problem == "extra":
        _write(tmp_path / "recon", images[:1], ["d"])
    elif problem == "size":
        Image.fromarray(images[0]).resize((32, 32)).save(tmp_path / "recon" / "b.png")
    elif problem == "empty":
        for path in (tmp_path / "recon").iterdir():
            path.unlink()
    elif problem == "missing":
        args[4] = str(tmp_path / "nowhere")
    elif problem == "network":
        args[-1] = "vgg"
    else:
        args += ["--weights", "alexnet"]
    assert main(args) == 1
    assert message in capsys.readouterr().err
