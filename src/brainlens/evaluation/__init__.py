"""Evaluation: semantic scores of images (zero-shot category accuracy) and in-silico experiments
that score synthesized images against the ground-truth brain."""
