"""The reconstruction table: each row equals its metric computed directly, published networks are used where
their files are and skipped (with the reason) under 'auto', and bad requests are refused by name."""

import numpy as np
import pytest
import torch

from brainlens.evaluation import features, reconstruction
from brainlens.evaluation.features import extract_features, load_feature_network
from brainlens.evaluation.image import pairwise_identification, pixcorr, ssim
from brainlens.evaluation.reconstruction import reconstruction_table
from brainlens.evaluation.semantic import fine_class_n_way
from brainlens.identification import two_way_identification
from tests.evaluation import noisy_pairs


@pytest.fixture(scope="module")
def pairs():
    return noisy_pairs(8, seed=404, amplitude=70)


@pytest.fixture(autouse=True)
def no_network_files(tmp_path, monkeypatch):
    """torch.hub's and Hugging Face's caches point at empty folders: the published networks are missing."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))


def test_offline_table_rows_equal_the_metrics_computed_directly(pairs):
    truth, recon = pairs
    table = reconstruction_table(truth, recon, networks="auto")
    assert table["pixcorr"] == pytest.approx(pixcorr(truth, recon))
    assert table["ssim"] == pytest.approx(ssim(truth, recon))
    assert table["pairwise"]["ssim_rgb"] == pytest.approx(pairwise_identification(truth, recon, "ssim_rgb"))
    embedder = load_feature_network("insilico-embedder")
    a, b = extract_features(embedder, truth)["insilico_embedder"], extract_features(embedder, recon)["insilico_embedder"]
    assert table["insilico_embedder"] == pytest.approx(two_way_identification(a, b))
    convnet = load_feature_network("insilico-convnet")
    a, b = extract_features(convnet, truth), extract_features(convnet, recon)
    assert table["insilico_convnet_late"] == pytest.approx(two_way_identification(a["insilico_convnet_late"], b["insilico_convnet_late"]))
    assert a["insilico_convnet_early"].shape[1] != a["insilico_convnet_late"].shape[1]
    # the rows are the shipped convnet's stage 2 and stage 4 of 4, as the rows say
    from brainlens.models.convnet import load_convnet

    with torch.no_grad():
        maps = load_convnet().stage_maps(torch.from_numpy(truth).permute(0, 3, 1, 2).float() / 255)
    assert len(maps) == 4 and "stage 2 of 4" in features.ROWS["insilico_convnet_early"].network
    np.testing.assert_allclose(a["insilico_convnet_early"], maps[1].flatten(1).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a["insilico_convnet_late"], maps[3].flatten(1).numpy(), rtol=1e-5, atol=1e-6)
    assert table["insilico_fine_50way"] == pytest.approx(fine_class_n_way(truth, recon)["mean"])
    assert table["rows"]["insilico_fine_50way"]["kind"] == "n_way"
    # every published network is missing here: skipped with the file and where to get it, never faked
    assert set(table["unavailable"]) == {"alexnet", "inception", "clip", "effnet", "swav", "vit-h-14"}
    assert "alexnet-owt-7be5be79.pth" in table["unavailable"]["alexnet"] and "https://" in table["unavailable"]["alexnet"]
    assert not {"alexnet2", "clip", "swav"} & set(table)
    assert "offline stand-in for the CLIP row" in table["rows"]["insilico_embedder"]["network"]
    assert table["ssim_kind"].startswith("MindEye's") and "RGB" in table["pairwise"]["note"]


def test_published_rows_read_their_network_with_its_preprocessing(pairs, monkeypatch):
    from brainlens.models import alexnet

    torch.manual_seed(0)
    random_alexnet = alexnet.AlexNet().eval()
    seen = []

    def fake_load(path=None):
        seen.append(path)
        return random_alexnet

    monkeypatch.setattr(alexnet, "load_alexnet", fake_load)
    truth, recon = pairs
    network = load_feature_network("alexnet", weights="/somewhere/alexnet.pth")
    assert seen == ["/somewhere/alexnet.pth"]
    out = extract_features(network, truth[:2])
    # MindEye resizes to 256 before AlexNet: conv2's ReLU is then 192 × 31 × 31, conv5's 256 × 15 × 15
    assert out["alexnet2"].shape == (2, 192 * 31 * 31) and out["alexnet5"].shape == (2, 256 * 15 * 15)
    # the features are those of the images resized to 256 (bilinear) and normalised with ImageNet's mean and std
    pixels = torch.from_numpy(truth[:2]).permute(0, 3, 1, 2).float() / 255
    pixels = torch.nn.functional.interpolate(pixels, size=(256, 256), mode="bilinear", align_corners=False)
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        maps = random_alexnet.stage_features((pixels - mean) / std)
    np.testing.assert_allclose(out["alexnet2"], maps["features.4"].flatten(1).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["alexnet5"], maps["features.11"].flatten(1).numpy(), rtol=1e-4, atol=1e-5)
    table = reconstruction_table(truth, recon, networks=["alexnet"], pairwise=False)
    assert set(table["rows"]) == {"alexnet2", "alexnet5"} and "IMAGENET1K_V1" in table["rows"]["alexnet2"]["network"]


def test_explicit_missing_network_and_bad_requests_are_errors(pairs):
    truth, recon = pairs
    with pytest.raises(FileNotFoundError, match="swav_800ep_pretrain.pth.tar"):
        reconstruction_table(truth, recon, networks=["swav"])
    with pytest.raises(ValueError, match="unknown feature network 'vgg16'"):
        reconstruction_table(truth, recon, networks=["vgg16"])
    with pytest.raises(ValueError, match="weights given for unknown network 'alex'"):
        reconstruction_table(truth, recon, networks="offline", weights={"alex": "x.pth"})
    with pytest.raises(ValueError, match="same number of images; got 8 and 7"):
        reconstruction_table(truth, recon[:7])
    with pytest.raises(ValueError, match="pairwise must be True, False or 'auto'"):
        reconstruction_table(truth, recon, pairwise="always")


def test_pairwise_rows_are_skipped_by_default_past_their_size(pairs, monkeypatch):
    truth, recon = pairs
    monkeypatch.setattr(reconstruction, "PAIRWISE_AUTO_MAX", 5)
    table = reconstruction_table(truth, recon, networks="offline")
    assert "pairwise" not in table and "8² pairs" in table["unavailable"]["pairwise"]
    assert "pairwise" in reconstruction_table(truth, recon, networks=[], pairwise=True)


def test_rows_cover_every_network():
    assert set(features.ROWS) == {row for rows in features.NETWORKS.values() for row in rows}
    assert all(row.kind in ("identification", "distance", "n_way") for row in features.ROWS.values())
