"""Converters from public fMRI datasets, read in their released layout, to the subject store.

Each converter's module docstring lists the files it reads; the CLI shows it as the command's help.
"""

from brainlens.datasets.algonauts import convert_algonauts
from brainlens.datasets.nsd import convert_nsd

__all__ = ["convert_nsd", "convert_algonauts"]
