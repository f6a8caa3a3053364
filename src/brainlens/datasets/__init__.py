"""Converters from public fMRI datasets, read in their released layout, to the subject store.

Each converter's module docstring lists the files it reads; the CLI shows it as the command's help.
"""

from brainlens.datasets.algonauts import convert_algonauts
from brainlens.datasets.bold5000 import convert_bold5000
from brainlens.datasets.god import convert_god
from brainlens.datasets.hcp import convert_hcp, convert_hcp_subjects, hcp_subjects
from brainlens.datasets.nsd import convert_nsd

__all__ = [
    "convert_nsd",
    "convert_algonauts",
    "convert_god",
    "convert_bold5000",
    "convert_hcp",
    "convert_hcp_subjects",
    "hcp_subjects",
]
