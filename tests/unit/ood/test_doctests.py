from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import trusteq.ood as package

MODULES = sorted(
    f"{package.__name__}.{info.name}" for info in pkgutil.iter_modules(package.__path__)
)


@pytest.mark.parametrize("module_name", MODULES)
def test_doctests(module_name):
    result = doctest.testmod(importlib.import_module(module_name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
