"""The floor of masked brain modelling on one subject: the best linear prediction of hidden voxel patches.

For a paired store, fits the mean and covariance of the subject's training-split single trials (normalised by one
mean and std, as pretraining does) and predicts each test sample's hidden patches (patches of 16, 75 % hidden, as
MinD-Vis) by the conditional mean given its visible voxels. Prints the masked-patch MSE against predicting zero,
the figure ``brainlens pretrain mbm --held-out`` reports for a pretrained model, on single trials and on each test
image's repeats averaged (normalised again, as the averages have less variance). No model that has not seen the
subject can beat its own covariance on Gaussian data; this is the floor for any bar on that figure.

    python benchmarks/mbm_floor.py sub1.h5 [--draws 10]
"""

from __future__ import annotations

import argparse

import numpy as np

from brainlens.store import SPLITS, open_store


def _floor(train: np.ndarray, test: np.ndarray, patch: int, ratio: float, draws: int, seed: int) -> float:
    n_voxels = train.shape[1]
    mean = train.mean(0)
    covariance = np.cov(train, rowvar=False) + 1e-6 * np.eye(n_voxels)
    n_patches = int(np.ceil(n_voxels / patch))
    rng = np.random.default_rng(seed)
    error = baseline = 0.0
    for _ in range(draws):
        hidden = np.zeros(n_voxels, bool)
        for p in rng.permutation(n_patches)[: int(n_patches * ratio)]:
            hidden[p * patch : (p + 1) * patch] = True
        visible = ~hidden
        weights = np.linalg.solve(covariance[np.ix_(visible, visible)], covariance[np.ix_(visible, hidden)])
        prediction = mean[hidden] + (test[:, visible] - mean[visible]) @ weights
        error += ((prediction - test[:, hidden]) ** 2).sum()
        baseline += (test[:, hidden] ** 2).sum()
    return error / baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("store", help="paired store of one subject")
    parser.add_argument("--patch-size", type=int, default=16)
    parser.add_argument("--mask-ratio", type=float, default=0.75)
    parser.add_argument("--draws", type=int, default=10, help="mask draws (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with open_store(args.store) as store:
        split = store.split[store.trial_image]
        train = store.betas_at(np.flatnonzero(split == SPLITS["train"])).astype(np.float64)
        rows = np.flatnonzero(split == SPLITS["test"])
        single = store.betas_at(rows).astype(np.float64)
        _, which = np.unique(store.trial_image[rows], return_inverse=True)
    averaged = np.stack([single[which == k].mean(0) for k in range(which.max() + 1)])
    mean, std = train.mean(), train.std()
    train, single = (train - mean) / std, (single - mean) / std
    averaged = (averaged - averaged.mean()) / averaged.std()
    for name, test in (("single trials", single), ("repeats averaged", averaged)):
        ratio = _floor(train, test, args.patch_size, args.mask_ratio, args.draws, args.seed)
        print(f"mbm_floor: {args.store} {name}: best linear masked-patch MSE / predicting zero = {ratio:.3f} "
              f"({len(test)} samples, {train.shape[1]} voxels)")


if __name__ == "__main__":
    main()
