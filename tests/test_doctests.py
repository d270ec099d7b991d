"""The docstring examples of the library's faces run as written: the SPP layer and its
functional form, the output width, ``get_model`` and ``SPPClassifier``."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["spp_lab.layers.spp", "spp_lab.layers.pools", "spp_lab.layers.settings",
           "spp_lab.models", "spp_lab.models.build", "spp_lab.module"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
