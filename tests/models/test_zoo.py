"""The model loader: tiny random models saved to a folder load back through the same code as hub models."""

import json

import pytest
import torch

from brainlens.models import zoo
from brainlens.models.zoo import ModelNotFoundError, ShippedModel, load_model
from tests.models.shipped import require_shipped  # noqa: E402

transformers = pytest.importorskip("transformers")
diffusers = pytest.importorskip("diffusers")


def _tiny_clip(folder):
    from brainlens.models.embedder import build_tokenizer

    config = transformers.CLIPConfig(
        text_config=dict(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=16, pad_token_id=0, bos_token_id=2,
                         eos_token_id=3, projection_dim=8),
        vision_config=dict(image_size=32, patch_size=8, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                           num_attention_heads=2, projection_dim=8),
        projection_dim=8,
    )
    torch.manual_seed(0)
    model = transformers.CLIPModel(config).eval()
    model.save_pretrained(folder)
    build_tokenizer(["a red car", "a blue chair"], max_length=16).save_pretrained(folder)
    return model


def _tiny_vae():
    torch.manual_seed(0)
    return diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(4, 8), layers_per_block=1,
        latent_channels=4, norm_num_groups=4, sample_size=16,
    ).eval()


def _tiny_unet():
    torch.manual_seed(0)
    return diffusers.UNet2DModel(
        sample_size=8, in_channels=3, out_channels=3, block_out_channels=(4, 8), layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
        norm_num_groups=4, attention_head_dim=2,
    ).eval()


def test_clip_loads_as_embedder_and_as_towers(tmp_path):
    model = _tiny_clip(tmp_path / "clip")
    embedder = load_model(tmp_path / "clip", kind="clip")
    assert embedder.image_size == 32 and embedder.dim == 8  # no preprocessor config: the model's size
    images = torch.rand(2, 3, 32, 32)
    pixels = embedder.preprocess(images)
    expected = model.visual_projection(model.vision_model(pixel_values=pixels).pooler_output)
    torch.testing.assert_close(embedder.embed_images(images, normalize=False), expected)
    assert embedder.embed_texts(["a red car", "a chair"]).shape == (2, 8)

    vision = load_model(str(tmp_path / "clip"), kind="vision")
    assert isinstance(vision, transformers.CLIPVisionModelWithProjection)
    torch.testing.assert_close(vision(pixel_values=pixels).image_embeds, expected)
    text = load_model(tmp_path / "clip", kind="text")
    assert isinstance(text, transformers.CLIPTextModelWithProjection)
    tokenizer = load_model(tmp_path / "clip", kind="tokenizer")
    assert tokenizer(["a red car"])["input_ids"][0][0] == 2
    assert load_model(tmp_path / "clip") .__class__.__name__ == "Embedder"  # kind read from config.json


def test_dinov2_loads_as_vision_encoder(tmp_path):
    config = transformers.Dinov2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                       intermediate_size=32, patch_size=8, image_size=32)
    torch.manual_seed(0)
    model = transformers.Dinov2Model(config).eval()
    model.save_pretrained(tmp_path / "dino")
    loaded = load_model(tmp_path / "dino")  # kind guessed: vision
    assert isinstance(loaded, transformers.Dinov2Model) and not loaded.training
    pixels = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(loaded(pixel_values=pixels).pooler_output, model(pixel_values=pixels).pooler_output)


def test_diffusers_models_and_scheduler_round_trip(tmp_path):
    vae, unet = _tiny_vae(), _tiny_unet()
    vae.save_pretrained(tmp_path / "vae")
    unet.save_pretrained(tmp_path / "unet")
    loaded_vae = load_model(tmp_path / "vae", kind="vae")
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(loaded_vae.encode(x).latent_dist.mean, vae.encode(x).latent_dist.mean)
    loaded_unet = load_model(tmp_path / "unet")  # kind guessed from _class_name
    assert isinstance(loaded_unet, diffusers.UNet2DModel)
    sample = torch.randn(1, 3, 8, 8)
    torch.testing.assert_close(loaded_unet(sample, 10).sample, unet(sample, 10).sample)
    with pytest.raises(ModelNotFoundError, match="AutoencoderKL, not a unet"):
        load_model(tmp_path / "vae", kind="unet")

    diffusers.DDIMScheduler(num_train_timesteps=50, beta_schedule="scaled_linear").save_pretrained(tmp_path / "sched")
    scheduler = load_model(tmp_path / "sched", kind="scheduler")
    assert isinstance(scheduler, diffusers.DDIMScheduler) and scheduler.config.num_train_timesteps == 50
    swapped = zoo.load_scheduler(tmp_path / "sched", scheduler_class="DDPMScheduler")
    assert isinstance(swapped, diffusers.DDPMScheduler) and swapped.config.beta_schedule == "scaled_linear"


def test_unet2d_condition_model(tmp_path):
    torch.manual_seed(0)
    unet = diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(4, 8), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=8, attention_head_dim=2, norm_num_groups=4,
    ).eval()
    unet.save_pretrained(tmp_path / "unet")
    loaded = zoo.load_unet(tmp_path / "unet", dtype="float32")
    sample, context = torch.randn(1, 4, 8, 8), torch.randn(1, 3, 8)
    torch.testing.assert_close(loaded(sample, 5, context).sample, unet(sample, 5, context).sample)


def test_pipeline_folder_and_its_parts(tmp_path):
    pipe = diffusers.DDPMPipeline(unet=_tiny_unet(), scheduler=diffusers.DDIMScheduler(num_train_timesteps=20))
    pipe.save_pretrained(tmp_path / "pipe")
    loaded = load_model(tmp_path / "pipe")  # model_index.json: a pipeline
    assert isinstance(loaded, diffusers.DDPMPipeline)
    assert isinstance(loaded.unet, diffusers.UNet2DModel)
    # a component kind reads its own subfolder of a pipeline folder
    assert isinstance(load_model(tmp_path / "pipe", kind="unet"), diffusers.UNet2DModel)
    assert isinstance(load_model(tmp_path / "pipe", kind="scheduler"), diffusers.DDIMScheduler)


@pytest.mark.filterwarnings("ignore:The `local_dir_use_symlinks` argument is deprecated")  # inside diffusers
def test_hub_id_offline_and_not_cached_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for kind in ("clip", "vae", "vision", "scheduler", "pipeline"):
        with pytest.raises(ModelNotFoundError) as info:
            load_model("brainlens-tests/no-such-model", kind=kind)
        message = str(info.value)
        assert "brainlens-tests/no-such-model" in message and "HF_HUB_OFFLINE" in message
        assert "huggingface-cli download brainlens-tests/no-such-model" in message and "HF_HOME" in message
        assert "Traceback" not in message and "\n" not in message


@pytest.fixture
def unreachable_network(monkeypatch, tmp_path):
    """No network: every outgoing connection is refused (as on a machine without one), and downloads are on."""
    import socket

    def refuse(*args, **kwargs):
        raise OSError(101, "Network is unreachable")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(zoo, "_offline", lambda: False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    zoo._connection_error.cache_clear()
    yield
    zoo._connection_error.cache_clear()


@pytest.mark.filterwarnings("ignore:The `local_dir_use_symlinks` argument is deprecated")  # inside diffusers
def test_hub_id_without_network_fails_fast_with_the_fix(unreachable_network, capsys):
    import time

    for kind in ("vision", "clip", "vae"):
        started = time.perf_counter()
        with pytest.raises(ModelNotFoundError) as info:
            load_model("brainlens-tests/no-such-model", kind=kind)
        assert time.perf_counter() - started < 5  # no minute of retries
        message = str(info.value)
        assert "the hub is out of reach: huggingface.co:443 cannot be reached" in message
        assert "huggingface-cli download brainlens-tests/no-such-model" in message and "\n" not in message
    # the path `brainlens encode fit --backbone nosuch/model` takes
    from brainlens.backbones import load_backbone

    started = time.perf_counter()
    with pytest.raises(ModelNotFoundError, match="the hub is out of reach"):
        load_backbone("brainlens-tests/no-such-model")
    assert time.perf_counter() - started < 5
    assert "Retrying" not in capsys.readouterr().err


def test_hub_reachability_probe_follows_the_endpoint_and_the_proxy(monkeypatch):
    import socket

    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    open_port = listening.getsockname()[1]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: connections are refused at once
    try:
        zoo._connection_error.cache_clear()
        monkeypatch.setattr(zoo, "_hub_endpoint", lambda: f"http://127.0.0.1:{open_port}")
        monkeypatch.delenv("HTTP_PROXY", raising=False)
        monkeypatch.delenv("http_proxy", raising=False)
        assert zoo._hub_unreachable() is None
        monkeypatch.setattr(zoo, "_hub_endpoint", lambda: f"http://127.0.0.1:{closed_port}")
        assert f"127.0.0.1:{closed_port} cannot be reached" in zoo._hub_unreachable()
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{open_port}")  # the proxy carries the download
        assert zoo._hub_unreachable() is None
    finally:
        listening.close()
        zoo._connection_error.cache_clear()


def test_bad_sources_and_kinds(tmp_path, monkeypatch):
    with pytest.raises(ModelNotFoundError, match="no model folder at './missing'"):
        load_model("./missing", kind="vae")
    with pytest.raises(ModelNotFoundError, match="not a Hugging Face hub id"):
        load_model("not a model id", kind="vae")
    with pytest.raises(ValueError, match="'kind' must be one of"):
        load_model("embedder", kind="painting")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="pass kind="):
        load_model(tmp_path / "empty")
    with pytest.raises(ModelNotFoundError, match="local folder"):
        load_model(tmp_path / "empty", kind="vae")
    # a shipped model whose weights are missing says how to make them
    monkeypatch.setitem(zoo.SHIPPED, "ghost", ShippedModel("ghost", "vae", "no-such-folder", "m:f", "m:g"))
    with pytest.raises(ModelNotFoundError, match="brainlens zoo train ghost"):
        load_model("ghost")


def test_registry_entries_are_complete():
    for name, model in zoo.SHIPPED.items():
        assert model.name == name and model.kind in zoo.KINDS
        assert callable(model.train_fn) and callable(model.evaluate_fn)


def test_shipped_weights_stay_small():
    total = sum(model.size_bytes() for model in zoo.SHIPPED.values())
    assert total < 30 * 2**20
    require_shipped("embedder")
    assert zoo.SHIPPED["embedder"].size_bytes() < 5 * 2**20
    config = json.loads((zoo.SHIPPED["embedder"].path / "config.json").read_text())
    assert config["model_type"] == "vision-text-dual-encoder"
