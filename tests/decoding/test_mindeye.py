import pytest
import torch

from brainlens.decoding.mindeye import MindEye, MindEyeConfig


def _expected_parameters(c: MindEyeConfig) -> int:
    h, p, d, out = c.hidden, c.projector, c.dim, c.n_tokens * c.dim
    first = sum(v * h + h for v in c.n_voxels.values()) + 2 * h
    blocks = c.n_blocks * (h * h + h + 2 * h)
    head = h * out + out
    projector = 2 * d + d * p + p + 2 * p + p * p + p + 2 * p + p * d + d
    return first + blocks + head + projector


def test_shapes_and_parameter_count_follow_the_config():
    config = MindEyeConfig(n_voxels=50, n_tokens=3, dim=8, hidden=32, n_blocks=2, projector=16)
    model = MindEye(config)
    tokens, projected = model(torch.randn(4, 50))
    assert tokens.shape == projected.shape == (4, 3, 8)
    assert sum(p.numel() for p in model.parameters()) == _expected_parameters(config)
    # MindEye's NSD sizes: about 940 M parameters (counted from the formula, not built)
    assert 0.9e9 < _expected_parameters(MindEyeConfig.nsd()) < 1.0e9


def test_blocks_are_residual_and_the_projector_acts_per_token():
    config = MindEyeConfig(n_voxels=10, n_tokens=2, dim=4, hidden=8, n_blocks=1, projector=6)
    model = MindEye(config).eval()
    with torch.no_grad():
        for parameter in model.blocks.parameters():
            parameter.zero_()
        hidden = model.first(model.shared(torch.ones(1, 10)))
        assert torch.allclose(model.blocks(hidden), hidden + model.blocks[0].layers(hidden))
        tokens, projected = model(torch.randn(3, 10))
        assert torch.allclose(projected[:, 1], model.projector(tokens[:, 1]), atol=1e-6)


def test_bad_config_and_input_are_refused():
    with pytest.raises(ValueError, match="MindEyeConfig.hidden must be a positive integer; 0"):
        MindEyeConfig(n_voxels=10, hidden=0)
    with pytest.raises(ValueError, match="dropout_first must be in \\[0, 1\\)"):
        MindEyeConfig(n_voxels=10, dropout_first=1.0)
    with pytest.raises(ValueError, match="voxels must be \\(batch, 10\\) for subject 'subject'; got \\(2, 11\\)"):
        MindEye(MindEyeConfig(n_voxels=10, hidden=8, projector=8))(torch.randn(2, 11))
    with pytest.raises(ValueError, match="n_voxels\\['b'\\] must be a positive integer; 0"):
        MindEyeConfig(n_voxels={"a": 5, "b": 0})


def test_several_subjects_share_everything_but_their_linear_layer():
    config = MindEyeConfig(n_voxels={"a": 6, "b": 9}, n_tokens=2, dim=4, hidden=8, n_blocks=1, projector=6)
    model = MindEye(config).eval()
    assert model.subjects == ("a", "b")
    assert model.backbone(torch.randn(3, 9), "b").shape == (3, 2, 4)
    assert sum(p.numel() for p in model.parameters()) == _expected_parameters(config)
    with torch.no_grad():
        shared = model.shared(torch.randn(3, 6), "a")
        assert torch.equal(model.backbone(torch.zeros(1, 6), "a"), model.tokens_from_shared(model.shared(torch.zeros(1, 6), "a")))
        assert shared.shape == (3, 8)
    with pytest.raises(ValueError, match="reads several subjects \\['a', 'b'\\]; name one"):
        model(torch.randn(2, 6))
    with pytest.raises(ValueError, match="unknown subject 'c'"):
        model(torch.randn(2, 6), "c")
