"""A copy of a store whose test split's betas are NaN: code that reads the test split while training fails on it."""

import shutil
from pathlib import Path

import h5py
import numpy as np

from brainlens.store import SPLITS, open_store


def poisoned_copy(store: Path, folder: Path) -> Path:
    """Copy ``store`` into ``folder`` under the same file name (the same subject name), test trials' betas NaN."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / store.name
    shutil.copy(store, copy)
    with open_store(copy) as opened:
        test_trials = np.flatnonzero(opened.split[opened.trial_image] == SPLITS["test"])
    with h5py.File(copy, "r+") as file:
        betas = file["betas"][()]
        betas[test_trials] = np.nan
        file["betas"][...] = betas
    return copy
