"""The command line's model messages give the held-out pixels a validation rests on and
the too-few caveat, as the widgets' model lines do."""

from __future__ import annotations

from napari_unet.cli.train import save_learned
from tests.cli.bad_input_files import tiny_model


def test_saved_model_message_gives_held_out_pixels_and_caveat(tmp_path, capsys):
    model = tiny_model()
    model.summary["rounds"][-1].update(steps=5, validation_dice=1.0, validation_pixels=[40, 12])
    assert save_learned(model, str(tmp_path / "m.pt"), "stopped after 5 steps", 0) == 0
    out = capsys.readouterr().out
    assert "validation Dice 1.000 on 52 held-out pixels (too few to trust" in out
