"""Decoding (brain → image): MindEye's decoder and the ridge baseline, their targets, training, retrieval and reconstruction.

``targets`` names the image embedding spaces a decoder predicts (tokens per image); ``mindeye`` is the
network, with its diffusion ``prior`` and ``low_level`` head; ``losses`` its contrastive losses (BiMixCo,
SoftCLIP); ``ridge`` the linear baseline; ``generator`` the diffusion model reconstructions are drawn with and
what a decoder learns to give it; ``data`` the store's splits with their targets; ``fit`` trains, saves, loads
and scores decoders; ``reconstruct`` turns test brains into images and scores them
(``from brainlens.decoding.reconstruct import reconstruct``).
"""

from brainlens.decoding.fit import TrainConfig, evaluate_decoder, fit_decoder, load_decoder
from brainlens.decoding.mindeye import MindEye, MindEyeConfig

__all__ = ["MindEye", "MindEyeConfig", "TrainConfig", "evaluate_decoder", "fit_decoder", "load_decoder"]
