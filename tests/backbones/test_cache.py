import numpy as np
import pytest
import torch

from brainlens.backbones import FeatureCache
from brainlens.backbones.cache import pool_local
from tests.backbones.test_backbones import tiny_convnet


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 64, 64, 3), dtype=np.uint8)


def test_cached_features_match_the_backbone(tmp_path):
    net, pixels = tiny_convnet(), images(10)
    features = FeatureCache(tmp_path).get(net, pixels, layers=("stage1", "stage3"), grid=2, batch_size=4)
    assert features.layers == ("stage1", "stage3")
    assert features.local["stage1"].dtype == np.float16 and features.local["stage1"].shape == (10, 8, 2, 2)
    with torch.no_grad():
        tokens = net.tokens(torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255)
    expected = torch.cat(
        [torch.cat([pool_local(tokens[layer].local, 2).flatten(1), tokens[layer].global_], 1) for layer in ("stage1", "stage3")], 1
    ).numpy()
    matrix = features.matrix()
    assert matrix.shape == (10, 8 * 4 + 8 + 16 * 4 + 16) == (10, features.n_features)
    np.testing.assert_allclose(matrix, expected, rtol=2e-3, atol=2e-3)
    np.testing.assert_array_equal(features.matrix(np.array([3, 1])), matrix[[3, 1]])


def test_cache_never_recomputes_and_resumes_after_an_interruption(tmp_path):
    net, pixels = tiny_convnet(), images(12)
    calls = []

    class Interrupt(Exception):
        pass

    def stop_after_two(k):
        calls.append(k)
        if len(calls) == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        FeatureCache(tmp_path).get(net, pixels, grid=1, batch_size=4, progress=stop_after_two)
    resumed = []
    features = FeatureCache(tmp_path).get(net, pixels, grid=1, batch_size=4, progress=resumed.append)
    assert resumed == [4]  # only the batch that never finished
    again = []
    FeatureCache(tmp_path).get(net, pixels, grid=1, batch_size=4, progress=again.append)
    assert again == []
    fresh = FeatureCache(tmp_path / "fresh").get(net, pixels, grid=1, batch_size=4)
    np.testing.assert_array_equal(features.matrix(), fresh.matrix())


def test_cache_keys_on_images_weights_and_grid(tmp_path):
    net = tiny_convnet()
    a = FeatureCache(tmp_path).get(net, images(6, seed=1), grid=1)
    b = FeatureCache(tmp_path).get(net, images(6, seed=2), grid=1)
    c = FeatureCache(tmp_path).get(tiny_convnet(seed=5), images(6, seed=1), grid=1)
    d = FeatureCache(tmp_path).get(net, images(6, seed=1), grid=2)
    assert len({a.folder, b.folder, c.folder, d.folder}) == 4


def test_non_finite_features_are_refused(tmp_path):
    net = tiny_convnet()
    with torch.no_grad():
        net.net.stages[2][0].conv1.weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite features at layer 'stage3' for image 0"):
        FeatureCache(tmp_path).get(net, images(3), grid=1)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="grid must be"):
        FeatureCache(tmp_path).get(tiny_convnet(), images(2), grid=-1)
    with pytest.raises(ValueError, match="empty"):
        FeatureCache(tmp_path).get(tiny_convnet(), images(0))
