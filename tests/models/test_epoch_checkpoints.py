"""Per-epoch checkpoints: what they hold, and what they refuse to resume into."""

import pytest
import torch

from brainlens.models._training import resume_epoch, save_epoch


def _model(seed: int) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 2))
    model[0].requires_grad_(False)  # frozen: rebuilt identically by the run that resumes
    return model


def _trainer(model):
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1)
    return optimiser, torch.optim.lr_scheduler.StepLR(optimiser, 1)


def test_frozen_parameters_are_left_out_and_the_rest_comes_back(tmp_path):
    model = _model(0)
    optimiser, scheduler = _trainer(model)
    model(torch.randn(16, 4)).sum().backward()
    optimiser.step()
    save_epoch(tmp_path / "c.pt", {"a": 1}, 3, model, optimiser, scheduler, [{"loss": 1.0}])
    saved = torch.load(tmp_path / "c.pt", weights_only=True)["model"]
    assert set(saved) == {"1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked", "2.weight", "2.bias"}

    again = _model(0)
    again[2].weight.data.zero_()
    history, first = resume_epoch(tmp_path / "c.pt", {"a": 1}, again, *_trainer(again))
    assert (history, first) == ([{"loss": 1.0}], 4)
    for name, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[name], value), name


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
    model = _model(0)
    save_epoch(tmp_path / "c.pt", {"a": 1}, 0, model, *_trainer(model), [])
    other = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 2))
    with pytest.raises(ValueError, match="does not match the model being trained"):
        resume_epoch(tmp_path / "c.pt", {"a": 1}, other, *_trainer(other))
