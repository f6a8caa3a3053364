"""Tests of the shipped models skip, naming the command that trains them, while those weights are absent."""

import pytest


def require_shipped(name: str) -> None:
    from brainlens.models import zoo

    if not zoo.SHIPPED[name].is_present():
        pytest.skip(f"shipped model {name!r} is not trained yet: brainlens zoo train {name}")
