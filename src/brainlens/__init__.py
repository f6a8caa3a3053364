"""brainlens: images <-> human visual cortex, with an in-silico subject that has known ground truth."""

__version__ = "0.1.0"
