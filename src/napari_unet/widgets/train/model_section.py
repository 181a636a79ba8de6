"""The Train widget's model section: new model or continue the current one, size and
dimensionality of a new model, the current model and its file buttons."""

from __future__ import annotations

from magicgui.widgets import ComboBox, Container, Label, PushButton

from napari_unet.core import PRESETS, TrainedModel, UNetConfig

from .._device import with_compute


class ModelSection:
    """``settings`` (model source, preset, dims) and ``file_widgets`` (info, save, load)."""

    def __init__(self) -> None:
        self.model_source = ComboBox(
            label="Model",
            choices=[("new model", "new"), ("continue current model", "continue")],
            value="new",
            tooltip="Start from scratch, or keep training the current model "
            "(trained here or loaded from a file).",
        )
        self.preset = ComboBox(
            label="New model size",
            choices=[
                ("tiny (fastest)", "tiny"),
                ("fast (recommended)", "fast"),
                ("large (GPU)", "large"),
                ("classic U-Net (GPU)", "classic"),
            ],
            value="fast",
            tooltip="Bigger models can learn more but train slower on a CPU.",
        )
        self.dims = ComboBox(
            label="New model sees",
            choices=[("2D slices", 2), ("3D volumes", 3)],
            value=2,
            tooltip="2D: learns from and segments each 2D slice of a stack. "
            "3D: uses neighbouring slices too (needs a 3D stack and strokes on several slices).",
        )
        self.model_info = Label(label="Current model", value="none yet")
        self.save = PushButton(text="Save model…")
        self.load = PushButton(text="Load model…")
        self.settings = [self.model_source, self.preset, self.dims]
        self.file_widgets = [
            self.model_info,
            Container(widgets=[self.save, self.load], layout="horizontal", labels=False),
        ]

    @property
    def continues(self) -> bool:
        return self.model_source.value == "continue"

    def new_model_config(self) -> UNetConfig:
        return UNetConfig(spatial_dims=self.dims.value, **PRESETS[self.preset.value])

    def show_model(self, model: TrainedModel | None, note: str = "", device: str = "auto") -> None:
        """The model line: the model (or "none yet") and where training computes."""
        text = (model.describe() + note) if model is not None else "none yet"
        self.model_info.value = with_compute(text, device)
