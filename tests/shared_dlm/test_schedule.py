import pytest
import torch

from shared_dlm import SCHEDULES, get_schedule


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_alpha_goes_from_one_to_zero_and_derivative_matches(name):
    schedule = get_schedule(name)
    assert float(schedule.alpha(torch.tensor(0.0))) == pytest.approx(1.0)
    assert float(schedule.alpha(torch.tensor(1.0))) == pytest.approx(0.0, abs=1e-3)
    t = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
    h = 1e-6
    numeric = (schedule.alpha(t + h) - schedule.alpha(t - h)) / (2 * h)
    assert torch.allclose(schedule.alpha_prime(t), numeric, atol=1e-5)
    assert (schedule.weight(t) > 0).all()
    assert (schedule.alpha(t[1:]) < schedule.alpha(t[:-1])).all()


def test_linear_weight_is_inverse_t():
    t = torch.tensor([0.1, 0.5, 0.9])
    assert torch.allclose(get_schedule("linear").weight(t), 1 / t)


def test_unknown_schedule_is_named():
    with pytest.raises(ValueError, match="'nope'"):
        get_schedule("nope")
