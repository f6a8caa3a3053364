"""Encoding models (image → brain) and their scores."""
