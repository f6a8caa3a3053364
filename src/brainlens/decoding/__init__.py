"""Decoding (brain → image): MindEye's decoder and the ridge baseline, their targets, training and retrieval.

``targets`` names the image embedding spaces a decoder predicts (tokens per image); ``mindeye`` is the
network, ``losses`` its contrastive losses (BiMixCo, SoftCLIP), ``ridge`` the linear baseline, ``data`` the
store's splits with their targets, and ``fit`` trains, saves, loads and scores decoders.
"""

from brainlens.decoding.fit import TrainConfig, evaluate_decoder, fit_decoder, load_decoder
from brainlens.decoding.mindeye import MindEye, MindEyeConfig

__all__ = ["MindEye", "MindEyeConfig", "TrainConfig", "evaluate_decoder", "fit_decoder", "load_decoder"]
