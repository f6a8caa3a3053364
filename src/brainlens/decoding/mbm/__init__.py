"""Masked brain modelling: MinD-Vis's SC-MBM and CAD's double-contrastive MAE, pretrained on unlabelled fMRI of
many subjects (:mod:`.data`, :mod:`.mae`, :mod:`.pretrain`), tuned with an image MAE on paired data (CAD phase 2,
:mod:`.cross_modal`), and probed by what they give a decoder (:mod:`.probe`)."""

from brainlens.decoding.mbm.cross_modal import CrossModalConfig, pretrain_cross_modal
from brainlens.decoding.mbm.data import Corpus, load_corpus
from brainlens.decoding.mbm.mae import OBJECTIVES, MaskedBrainModel, MBMConfig
from brainlens.decoding.mbm.pretrain import PretrainConfig, encode_voxels, load_mbm, masked_patch_error, pretrain_mbm
from brainlens.decoding.mbm.probe import linear_probe, score_encoder

__all__ = ["Corpus", "load_corpus", "OBJECTIVES", "MaskedBrainModel", "MBMConfig", "PretrainConfig", "pretrain_mbm", "load_mbm",
           "masked_patch_error", "encode_voxels", "linear_probe", "score_encoder",
           "CrossModalConfig", "pretrain_cross_modal"]
