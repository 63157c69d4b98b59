"""SamplerConfig refuses settings that would sample garbage (found by the CLI property test: a NaN temperature ran)."""

from __future__ import annotations

import pytest

from shared_dlm import SamplerConfig


@pytest.mark.parametrize("temperature", [float("nan"), float("inf"), -1.0])
def test_a_temperature_that_is_no_finite_number_at_least_0_is_refused(temperature):
    with pytest.raises(ValueError, match=f"temperature must be >= 0 and finite \\(0: greedy\\), got {temperature}"):
        SamplerConfig(temperature=temperature).validate()
