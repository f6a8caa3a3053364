import json

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from brainlens import store
from brainlens.backbones import Backbone, LayerTokens
from brainlens.backbones.cache import FeatureCache
from brainlens.backbones.convnet import load_convnet_backbone
from brainlens.encoding.factortopy import (
    FactorTopyConfig,
    FactorTopyEncoder,
    _FactorTopyHead,
    cortical_coordinates,
    fit_factortopy,
)
from brainlens.models.convnet import SHIPPED_DIR
from brainlens.store import StoreError
from brainlens.surface import load_fsaverage5
from tests.backbones.test_backbones import tiny_convnet

SMALL = FactorTopyConfig(bottleneck=4, hidden=16, frequencies=4, grid=4)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny problems gain nothing from threads, and on a busy machine waiting for them dominates."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --------------------------------------------------------------------------------------------
# a toy world with known selections: each voxel reads one colour channel at one place


class ChannelMaps(Backbone):
    """Three layers, one per colour channel: local tokens are the channel averaged onto 8 × 8 cells."""

    name = "toy-channel-maps"
    layers = ("red", "green", "blue")

    def tokens(self, images, layers=None):
        self.check_images(images)
        wanted = self.check_layers(layers)
        pooled = F.adaptive_avg_pool2d(images, 8)  # (B, 3, 8, 8)
        return {
            layer: LayerTokens(local=pooled[:, i : i + 1], global_=images[:, i : i + 1].mean((2, 3)))
            for i, layer in enumerate(self.layers)
            if layer in wanted
        }


def _smooth_images(n, size=32, sigma=3.0, seed=0):
    """Random images whose channels are independent, spatially smooth noise, as uint8 (n, size, size, 3)."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(n * 3, 1, size, size, generator=generator)
    radius = int(3 * sigma)
    kernel = torch.exp(-0.5 * (torch.arange(-radius, radius + 1.0) / sigma) ** 2)
    kernel = kernel / kernel.sum()
    smooth = F.conv2d(F.pad(noise, (radius,) * 4, mode="circular"), kernel.view(1, 1, 1, -1))
    smooth = F.conv2d(smooth, kernel.view(1, 1, -1, 1))
    smooth = smooth / smooth.std()
    images = (0.5 + 0.18 * smooth).clamp(0, 1).view(n, 3, size, size)
    return (images.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()


def _occipital_vertices(radius_mm=22.0):
    """fsaverage5 vertices (both hemispheres, left first) near the back of each registration sphere."""
    sphere = load_fsaverage5().concatenated("sphere")
    pole = np.array([0.0, -100.0, 0.0])
    return np.flatnonzero(np.linalg.norm(sphere - pole, axis=1) < radius_mm)


def toy_world(path, n_images=200, noise=0.5, seed=0, vertex=True):
    """A store whose voxels read the red (left hemisphere) or blue (right) channel at a location that
    varies smoothly over the cortex. Returns (path, true xy (V, 2), true layer (V,))."""
    rng = np.random.default_rng(seed)
    images = _smooth_images(n_images, seed=seed)
    voxels = _occipital_vertices()
    sphere = load_fsaverage5().concatenated("sphere")[voxels]
    xy = np.column_stack([sphere[:, 0] / 30.0, -sphere[:, 2] / 30.0]).clip(-0.75, 0.75)
    layer = np.where(voxels >= 10242, 2, 0)
    maps = F.adaptive_avg_pool2d(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255, 8)  # (n, 3, 8, 8)
    grid = torch.from_numpy(xy).float().view(1, -1, 1, 2).expand(n_images, -1, -1, -1)
    sampled = F.grid_sample(maps, grid, align_corners=False)[..., 0]  # (n, 3, V)
    signal = sampled[:, torch.from_numpy(layer), torch.arange(len(voxels))].numpy()  # (n, V)
    signal = (signal - signal.mean(0)) / signal.std(0)
    trial_image = np.tile(np.arange(n_images), 2)
    betas = signal[trial_image] + noise * rng.standard_normal((trial_image.size, len(voxels)))
    split = np.zeros(n_images, dtype=np.int8)
    split[: n_images // 10] = 2
    split[n_images // 10 : n_images // 5] = 1
    location = dict(vertex=voxels, space="fsaverage5") if vertex else {}
    store.write(
        path,
        images=images,
        betas=betas.astype(np.float32),
        trial_image=trial_image,
        trial_session=np.zeros(trial_image.size, dtype=np.int32),
        split=split,
        roi=np.where(layer == 0, 1, 2).astype(np.int16),
        roi_names=["", "left", "right"],
        dataset="toy",
        subject="1",
        beta_dtype="float32",
        **location,
    )
    return path, xy, layer


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return toy_world(tmp_path_factory.mktemp("toy") / "toy.h5")


@pytest.fixture(scope="module")
def saved_convnet(tmp_path_factory):
    """A tiny random convnet saved to a folder, so that encoders can reload it by name."""
    folder = tmp_path_factory.mktemp("convnet") / "tiny"
    tiny_convnet().net.save(folder)
    return str(folder)


def fit(world_path, backbone, out, **kwargs):
    settings = dict(config=SMALL, epochs=2, batch_size=32, lr=3e-3, cache_dir=out.parent / "cache")
    return fit_factortopy(world_path, backbone, out, **{**settings, **kwargs})


@pytest.fixture(scope="module")
def fitted(world, saved_convnet, tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "encoder"
    events = []
    encoder = fit(world[0], saved_convnet, out, progress=lambda event, values: events.append((event, values)))
    return out, encoder, events


# --------------------------------------------------------------------------------------------
# the model


def _random_head(n_voxels=50, channels=(5, 7, 3), grid=8, seed=0):
    torch.manual_seed(seed)
    coords = torch.cat([torch.randn(n_voxels, 3) * 50, torch.sign(torch.randn(n_voxels, 1))], 1)
    head = _FactorTopyHead(channels, coords, FactorTopyConfig(bottleneck=6, grid=grid), learned_position=False)
    with torch.no_grad():  # selectors away from their undecided start
        for selector in (head.layer_selector, head.space_selector, head.scale_selector):
            selector[-1].weight.normal_(0, 0.5)
            selector[-1].bias.normal_(0, 0.5)
        for layer_input in head.inputs:
            layer_input.local_mean.normal_()
            layer_input.local_std.uniform_(0.5, 2)
    return head


def _published_forward(head, local, global_):
    """The published formulation, written the plain way: per layer, bottleneck, grid_sample at each
    voxel's location, mix layers and scales in feature space, then the read-out."""
    layers, xy, scale = head.selections()
    batch, n_voxels = local[0].shape[0], xy.shape[0]
    feature = 0
    for layer, (layer_input, loc, glo) in enumerate(zip(head.inputs, local, global_)):
        loc = (loc - layer_input.local_mean[:, None, None]) / layer_input.local_std[:, None, None]
        tokens = torch.einsum("bchw,dc->bdhw", loc, layer_input.local.weight)
        summary = layer_input.global_((glo - layer_input.global_mean) / layer_input.global_std)
        grid = xy.view(1, n_voxels, 1, 2).expand(batch, -1, -1, -1)
        sampled = F.grid_sample(tokens, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[..., 0].transpose(1, 2)
        mixed = scale[None, :, None] * sampled + (1 - scale[None, :, None]) * summary[:, None, :]  # (B, V, D)
        feature = feature + layers[None, :, layer, None] * mixed
    return (feature * head.readout).sum(-1) + head.bias


@pytest.mark.parametrize("grid", [8, 3])
def test_head_computes_the_published_model_and_its_gradients(grid):
    head = _random_head(grid=grid)
    local = [torch.randn(4, c, grid, grid) for c in (5, 7, 3)]
    global_ = [torch.randn(4, c) for c in (5, 7, 3)]
    ours = head(local, global_)[0]
    reference = _published_forward(head, local, global_)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)
    weights = torch.randn_like(ours)
    params = [p for p in head.parameters() if p.requires_grad]
    ours_grad = torch.autograd.grad((ours * weights).sum(), params)
    reference_grad = torch.autograd.grad((reference * weights).sum(), params)
    for a, b in zip(ours_grad, reference_grad):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_head_in_voxel_chunks_matches_one_piece(monkeypatch):
    from brainlens.encoding import factortopy

    head = _random_head(n_voxels=37)
    local = [torch.randn(3, c, 8, 8) for c in (5, 7, 3)]
    global_ = [torch.randn(3, c) for c in (5, 7, 3)]
    whole = head(local, global_)[0]
    grads = torch.autograd.grad(whole.sum(), [head.readout, head.space_selector[-1].weight])
    monkeypatch.setattr(factortopy, "_CHUNK_ELEMENTS", 3 * 6 * 5)  # five voxels per chunk
    chunked = head(local, global_)[0]
    torch.testing.assert_close(chunked, whole)
    for a, b in zip(torch.autograd.grad(chunked.sum(), [head.readout, head.space_selector[-1].weight]), grads):
        torch.testing.assert_close(a, b)


def test_encoder_shapes_and_undecided_start(world):
    with store.open_store(world[0]) as s:
        voxels = np.arange(s.n_voxels)
        mode, coords, _ = cortical_coordinates(s, voxels)
    assert mode == "surface" and coords.shape == (voxels.size, 4)
    np.testing.assert_allclose(np.linalg.norm(coords[:, :3], axis=1), 100, rtol=1e-3)  # the registration sphere
    encoder = FactorTopyEncoder(tiny_convnet(), ("stage1", "stage3"), coords, voxels, SMALL)
    images = torch.rand(3, 3, 48, 48)
    assert encoder(images).shape == (3, voxels.size)
    assert encoder.layer_weights().shape == (voxels.size, 2)
    torch.testing.assert_close(encoder.layer_weights(), torch.full((voxels.size, 2), 0.5))
    torch.testing.assert_close(encoder.space_xy(), torch.zeros(voxels.size, 2))
    torch.testing.assert_close(encoder.scale_weights(), torch.full((voxels.size,), 0.5))
    assert not any(name.startswith("backbone") for name in encoder.head.state_dict())
    encoder.train()
    assert not encoder.backbone.training  # the frozen backbone's batch norm stays in eval mode


def test_gradients_reach_the_input_images(fitted):
    _, encoder, _ = fitted
    images = torch.rand(2, 3, 64, 64, requires_grad=True)
    encoder(images)[:, :5].sum().backward()
    assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    assert all(p.grad is None for p in encoder.backbone.parameters())


# --------------------------------------------------------------------------------------------
# training, files, resume


def test_fit_writes_checkpoints_encoder_and_history(fitted, world):
    out, encoder, events = fitted
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch_0001", "epoch_0002", "run.json"]
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "factortopy" and config["backbone"] == encoder.backbone.name
    assert config["layers"] == ["stage1", "stage2", "stage3", "stage4"]
    assert config["voxel_index"] == list(range(encoder.n_voxels)) and config["store"] == str(world[0].resolve())
    assert config["coordinates"] == "surface" and config["factortopy"]["grid"] == SMALL.grid
    assert [h["epoch"] for h in config["history"]] == [1, 2]
    history = json.loads((out / "training.json").read_text())["history"]
    assert all(np.isfinite(h["val_r2_median"]) and h["train_loss"] > 0 for h in history)
    epochs = [values for event, values in events if event == "epoch"]
    steps = [values for event, values in events if event == "step"]
    assert [e["epoch"] for e in epochs] == [1, 2] and epochs[-1]["val_r2_median"] == history[-1]["val_r2_median"]
    assert len(steps) == 2 * steps[0]["steps"] and all(np.isfinite(s["loss"]) for s in steps)
    from safetensors.torch import load_file

    saved = load_file(str(out / "model.safetensors"))
    assert "readout" in saved and "coords" in saved and not any(k.startswith(("backbone", "stage", "stem")) for k in saved)


def test_save_load_round_trip_gives_identical_predictions(fitted, tmp_path):
    out, encoder, _ = fitted
    loaded = FactorTopyEncoder.load(out)
    images = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), encoder(images), rtol=0, atol=0)
    torch.testing.assert_close(loaded.space_xy(), encoder.space_xy(), rtol=0, atol=0)
    assert loaded.layers == encoder.layers and torch.equal(loaded.voxel_index, encoder.voxel_index)
    # another backbone under the same name is caught, not silently used
    with pytest.raises(ValueError, match="does not have the weights this encoder was trained on"):
        FactorTopyEncoder.load(out, backbone=tiny_convnet(seed=5))
    with pytest.raises(FileNotFoundError, match="encoder file missing"):
        FactorTopyEncoder.load(tmp_path)


def test_resume_after_an_interruption_ends_like_an_uninterrupted_run(fitted, world, saved_convnet, tmp_path):
    out, encoder, _ = fitted
    interrupted = tmp_path / "encoder"

    def stop_after_first_epoch(event, values):
        if event == "epoch" and values["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(world[0], saved_convnet, interrupted, progress=stop_after_first_epoch, cache_dir=out.parent / "cache")
    assert (interrupted / "checkpoints" / "epoch_0001" / "epoch.json").is_file()
    assert not (interrupted / "model.safetensors").exists()
    events = []
    resumed = fit(
        world[0], saved_convnet, interrupted, resume=True, cache_dir=out.parent / "cache", progress=lambda e, v: events.append((e, v))
    )
    assert ("resume", {"epoch": 1}) in events
    assert [v["epoch"] for e, v in events if e == "epoch"] == [2]
    for (name, a), (_, b) in zip(resumed.head.state_dict().items(), encoder.head.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    def scores(folder):
        return [(h["epoch"], h["train_loss"], h["val_r2_median"]) for h in json.loads((folder / "training.json").read_text())["history"]]

    assert scores(interrupted) == scores(out)
    # resuming into checkpoints of other settings is refused
    with pytest.raises(ValueError, match="cannot resume.*lr"):
        fit(world[0], saved_convnet, interrupted, resume=True, lr=1e-2, cache_dir=out.parent / "cache")


def test_mixed_precision_is_passed_to_accelerate_and_may_change_between_fits(world, tmp_path):
    encoder = fit(world[0], ChannelMaps(), tmp_path / "bf16", epochs=1, mixed_precision="bf16")
    assert np.isfinite(encoder.info["val_r2_median"]) and next(encoder.head.parameters()).dtype == torch.float32
    encoder = fit(world[0], ChannelMaps(), tmp_path / "fp32", epochs=1)
    assert np.isfinite(encoder.info["val_r2_median"])
    with pytest.raises(ValueError, match="mixed_precision must be one of"):
        fit(world[0], ChannelMaps(), tmp_path / "x", mixed_precision="fp8")


# --------------------------------------------------------------------------------------------
# what the selectors find, where the truth is known


def test_selectors_find_the_true_layer_and_place_in_a_toy_world(world, tmp_path):
    path, true_xy, true_layer = world
    config = FactorTopyConfig(bottleneck=4, hidden=32, frequencies=8, grid=8, loss="mse")
    encoder = fit_factortopy(path, ChannelMaps(), tmp_path / "toy", config=config, epochs=25, batch_size=32, lr=1e-2)
    layer = encoder.layer_weights().numpy()
    assert (layer.argmax(1) == true_layer).mean() > 0.95
    error = np.linalg.norm(encoder.space_xy().numpy() - true_xy, axis=1)
    start = np.linalg.norm(true_xy, axis=1)  # every voxel started at the centre
    assert np.median(error) < 0.1 * np.median(start) + 0.05, (np.median(error), np.median(start))
    assert encoder.scale_weights().mean() > 0.8  # the truth is purely local
    assert encoder.info["history"][-1]["val_r2_median"] > 0.5


# --------------------------------------------------------------------------------------------
# bad input


def test_bad_images_are_named(fitted):
    _, encoder, _ = fitted
    with pytest.raises(ValueError, match="NaN or infinite"):
        encoder(torch.full((1, 3, 64, 64), float("nan")))
    with pytest.raises(ValueError, match=r"images must have shape \(batch, 3, H, W\)"):
        encoder(torch.rand(3, 64, 64))
    with pytest.raises(TypeError, match="float tensor"):
        encoder(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))


def test_bad_training_input_is_named(world, saved_convnet, tmp_path, monkeypatch):
    path = world[0]
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="index 99999 is outside"):
        fit(path, saved_convnet, tmp_path / "a", voxels=np.array([0, 99999]), cache_dir=cache)
    with pytest.raises(ValueError, match="has no layer 'stage9'"):
        fit(path, saved_convnet, tmp_path / "a", layers=["stage9"], cache_dir=cache)
    with pytest.raises(ValueError, match="epochs must be a positive integer; 0"):
        fit(path, saved_convnet, tmp_path / "a", epochs=0, cache_dir=cache)
    with pytest.raises(ValueError, match="FactorTopyConfig.coordinates must be one of"):
        FactorTopyConfig(coordinates="flat")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="no-such-org/no-such-backbone"):
        fit(path, "no-such-org/no-such-backbone", tmp_path / "a", cache_dir=cache)


def _copy_store(source, target, edit):
    target.write_bytes(source.read_bytes())
    with h5py.File(target, "r+") as file:
        edit(file)
    return target


def test_bad_stores_are_named(world, tmp_path):
    backbone = ChannelMaps()
    no_train = _copy_store(world[0], tmp_path / "no_train.h5", lambda f: f["split"].__setitem__(slice(None), 2))
    with pytest.raises(StoreError, match="has no 'train' images"):
        fit(no_train, backbone, tmp_path / "a")

    def poison(file):
        file["betas"][100, 3] = np.nan  # a trial of training image 100

    nan_betas = _copy_store(world[0], tmp_path / "nan.h5", poison)
    with pytest.raises(StoreError, match=r"voxel 3 are nan"):
        fit(nan_betas, backbone, tmp_path / "b")


def test_a_store_without_val_images_holds_out_whole_training_images(world, tmp_path):
    no_val = _copy_store(world[0], tmp_path / "no_val.h5", lambda f: f["split"].__setitem__(f["split"][()] == 1, 0))
    encoder = fit(no_val, ChannelMaps(), tmp_path / "a", epochs=1)
    assert "held out" in encoder.info["val_source"]
    assert encoder.info["n_train_images"] + encoder.info["n_val_images"] == int((store.open_store(no_val).split == 0).sum())


def test_features_must_match_the_images(world, tmp_path):
    path = world[0]
    backbone = ChannelMaps()
    other, _, _ = toy_world(tmp_path / "other.h5", n_images=120, seed=1)
    features = FeatureCache(tmp_path / "cache").get(backbone, store.open_store(other), grid=SMALL.grid)
    with pytest.raises(ValueError, match="features hold 120 images but .* has 200"):
        fit(path, backbone, tmp_path / "a", features=features)
    wrong_grid = FeatureCache(tmp_path / "cache").get(backbone, store.open_store(path), grid=2)
    with pytest.raises(ValueError, match="pooled to a 2×2 grid; FactorTopyConfig.grid is 4"):
        fit(path, backbone, tmp_path / "a", features=wrong_grid)
    same_count, _, _ = toy_world(tmp_path / "same_count.h5", n_images=200, seed=2)
    impostor = FeatureCache(tmp_path / "cache").get(backbone, store.open_store(same_count), grid=SMALL.grid)
    with pytest.raises(ValueError, match="extracted from other images"):
        fit(path, backbone, tmp_path / "a", features=impostor)
    features = FeatureCache(tmp_path / "cache").get(backbone, store.open_store(path), grid=SMALL.grid)
    poisoned = np.load(features.folder / "green.local.npy", mmap_mode="r+")
    poisoned[50, 0, 1, 1] = np.nan
    poisoned.flush()
    features = FeatureCache(tmp_path / "cache").get(backbone, store.open_store(path), grid=SMALL.grid)
    with pytest.raises(ValueError, match="layer 'green' .* not finite for image 50"):
        fit(path, backbone, tmp_path / "a", features=features)


def test_voxels_without_locations_get_a_learned_position(tmp_path):
    path, _, _ = toy_world(tmp_path / "nowhere.h5", n_images=60, vertex=False)
    with store.open_store(path) as s:
        mode, coords, note = cortical_coordinates(s, np.arange(s.n_voxels))
        assert mode == "embedding" and not coords.any() and "no voxel locations" in note
        with pytest.raises(ValueError, match="needs voxel locations"):
            cortical_coordinates(s, np.arange(3), "surface")
    encoder = fit(path, ChannelMaps(), tmp_path / "a", epochs=1)
    assert encoder.coordinates == "embedding" and encoder.head.embedding is not None
    loaded = FactorTopyEncoder.load(tmp_path / "a", backbone=ChannelMaps())
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), encoder(images), rtol=0, atol=0)


# --------------------------------------------------------------------------------------------
# the in-silico subject, with the shipped backbone

needs_shipped_backbone = pytest.mark.skipif(
    not (SHIPPED_DIR / "model.safetensors").is_file(), reason="the shipped insilico-convnet weights are not built yet"
)


def insilico_selections(tmp_path, n_images, epochs, regions=None):
    """Fit FactorTopy on a simulated subject; return what early and category voxels selected, beside
    the truth, and the store's path."""
    from brainlens.insilico.brain import InSilicoSubject
    from brainlens.insilico.layout import CATEGORY_REGIONS, EARLY_REGIONS, STIMULUS_DEGREES

    subject = InSilicoSubject(1)
    simulation = subject.simulate(n_images, n_test=max(10, n_images // 10), n_val=n_images // 10, trials_per_session=750)
    path = subject.write_store(simulation, tmp_path / "sub1.h5")
    with store.open_store(path) as s:
        names = np.array(s.roi_names)[s.roi]
        voxels = np.flatnonzero(np.isin(names, regions)) if regions else None
        truth = np.column_stack([s.file["truth/prf_x"][()], s.file["truth/prf_y"][()]])
        ceiling = s.file["truth/noise_ceiling"][()]
    encoder = fit_factortopy(path, load_convnet_backbone(), tmp_path / "ft", voxels=voxels, epochs=epochs)
    index = encoder.voxel_index.numpy()
    names, truth, ceiling = names[index], truth[index], ceiling[index]
    half = STIMULUS_DEGREES / 2
    selected = encoder.space_xy().numpy() * np.array([half, -half])  # degrees, x right and y up, as the truth
    early = np.isin(names, EARLY_REGIONS)
    # pRF centres well inside the stimulus, of voxels with signal to learn from
    mapped = early & (np.abs(truth).max(1) < half - 0.7) & (ceiling > 20)
    error = np.linalg.norm(selected[mapped] - truth[mapped], axis=1)
    shuffled = np.linalg.norm(selected[mapped][np.random.default_rng(0).permutation(mapped.sum())] - truth[mapped], axis=1)
    mean_layer = encoder.mean_layer().numpy()
    found = {
        "n_mapped": int(mapped.sum()),
        "error": float(np.median(error)),  # degrees
        "from_centre": float(np.median(np.linalg.norm(truth[mapped], axis=1))),  # the error at the start
        "shuffled": float(np.median(shuffled)),  # the error of locations given to the wrong voxels
        "corr_x": float(np.corrcoef(selected[mapped, 0], truth[mapped, 0])[0, 1]),
        "corr_y": float(np.corrcoef(selected[mapped, 1], truth[mapped, 1])[0, 1]),
        "early_layer": float(mean_layer[early].mean()),  # 0 = stage1 … 3 = stage4
        "category_layer": float(mean_layer[np.isin(names, CATEGORY_REGIONS)].mean()),
        "val_r2": encoder.info["val_r2_median"],
    }
    return found, encoder, path


@needs_shipped_backbone
def test_insilico_early_voxels_select_their_prf_and_earlier_layers(tmp_path):
    found, _, _ = insilico_selections(tmp_path, 600, epochs=8, regions=["V1", "V2", "V3", "FFA-1", "PPA", "EBA", "VWFA-1"])
    assert found["n_mapped"] > 200, found
    assert found["error"] < 0.5 * found["from_centre"] and found["error"] < 0.3 * found["shuffled"], found
    assert found["corr_x"] > 0.7 and found["corr_y"] > 0.6, found
    assert found["early_layer"] < found["category_layer"] - 0.15, found
    assert found["val_r2"] > 0.08, found


@pytest.mark.slow
@needs_shipped_backbone
def test_insilico_selectors_and_accuracy_at_a_larger_size(tmp_path):
    from brainlens.encoding.encoder import evaluate_encoder, fit_ridge_encoder

    found, encoder, path = insilico_selections(tmp_path, 2000, epochs=15)
    assert found["n_mapped"] > 300, found
    assert found["error"] < 0.4 and found["error"] < 0.25 * found["shuffled"], found
    assert found["corr_x"] > 0.9 and found["corr_y"] > 0.9, found
    assert found["early_layer"] < found["category_layer"] - 0.15, found
    assert found["val_r2"] > 0.15, found
    # as accurate on the held-out test images as voxelwise ridge on the same backbone
    ours = evaluate_encoder(encoder, path)["median_r2"]
    _, ridge = fit_ridge_encoder(path, load_convnet_backbone(), out=tmp_path / "ridge", cache_dir=tmp_path / "ft" / "feature_cache")
    assert ours > ridge["median_r2"] - 0.01, (ours, ridge["median_r2"])
