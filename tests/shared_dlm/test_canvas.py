import pytest
import torch

from shared_dlm import Canvas, CanvasError, SamplerConfig, generate


def test_canvas_longer_than_the_model_is_refused(model):
    with pytest.raises(CanvasError, match="length 40 exceeds the model's maximum of 32"):
        generate(model, Canvas.blank(1, 40, model.spec))


def test_fixed_token_outside_vocabulary_is_refused(model):
    with pytest.raises(CanvasError, match="token id 99 at row 0, position 1 is outside the vocabulary"):
        Canvas.from_template([3, 99, None], model.spec)


def test_empty_allowed_set_is_refused(model):
    allowed = torch.ones(4, 12, dtype=torch.bool)
    allowed[2] = False
    allowed[3, 2:] = False  # only mask and pad left: nothing a sampler may place
    with pytest.raises(CanvasError, match="position 2 of row 0 has an empty allowed set"):
        Canvas.from_template([3, None, None, None], model.spec, allowed=allowed)
    allowed[2] = True
    with pytest.raises(CanvasError, match="position 3 of row 0 has an empty allowed set"):
        Canvas.from_template([3, None, None, None], model.spec, allowed=allowed)


def test_fixed_mask_and_bad_allowed_shape_are_refused(model):
    canvas = Canvas.blank(1, 4, model.spec)
    canvas.fixed[0, 1] = True
    with pytest.raises(CanvasError, match="fixed but holds the mask token"):
        canvas.validate(model.spec)
    with pytest.raises(CanvasError, match="allowed must be"):
        Canvas.from_template([None] * 4, model.spec, allowed=torch.ones(4, 5, dtype=torch.bool))


def test_zero_steps_is_refused(model):
    with pytest.raises(ValueError, match="steps must be at least 1, got 0"):
        generate(model, Canvas.blank(1, 4, model.spec), SamplerConfig(steps=0))


@pytest.mark.parametrize(
    "config, message",
    [
        (SamplerConfig(temperature=-1), "temperature"),
        (SamplerConfig(top_k=0), "top_k"),
        (SamplerConfig(top_p=1.5), "top_p"),
    ],
)
def test_bad_sampler_settings_are_refused(model, config, message):
    with pytest.raises(ValueError, match=message):
        generate(model, Canvas.blank(1, 4, model.spec), config)
