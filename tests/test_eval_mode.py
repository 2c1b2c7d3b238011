"""hjepa.nn.modes.eval_mode: eval inside the block, each submodule's own flag back afterwards."""

from __future__ import annotations

import pytest
from torch import nn

from hjepa.nn.modes import eval_mode


def test_eval_inside_and_mixed_flags_restored_even_on_error():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Sequential(nn.BatchNorm1d(2)))
    model.train()
    model[2].eval()  # a part kept in eval on purpose (e.g. a frozen backbone)
    before = [m.training for m in model.modules()]
    with eval_mode(model) as inside:
        assert inside is model and not any(m.training for m in model.modules())
    assert [m.training for m in model.modules()] == before
    with pytest.raises(RuntimeError, match="boom"):
        with eval_mode(model):
            raise RuntimeError("boom")
    assert [m.training for m in model.modules()] == before


def test_plain_function_passes_through():
    def double(x):
        return 2 * x

    with eval_mode(double) as f:
        assert f is double and f(3) == 6
