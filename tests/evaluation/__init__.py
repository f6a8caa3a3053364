
import numpy as np


def noisy_pairs(n: int, seed: int, amplitude: int):
    """n in-silico images (uint8, 64 px) and copies with uniform pixel noise of ±amplitude: stand-in reconstructions."""
    from brainlens.insilico import stimuli

    seen = stimuli.generate(n, seed=seed, size=64).images
    rng = np.random.default_rng(0)
    noisy = np.clip(seen.astype(np.int16) + rng.integers(-amplitude, amplitude + 1, size=seen.shape), 0, 255)
    return seen, noisy.astype(np.uint8)
