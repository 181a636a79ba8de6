"""The Adversarial widget: attack the current model on an image, see what breaks.

Thin over :mod:`napari_unet.core.attacks`: it collects settings, runs the attack (or a
robustness curve) as a :class:`~._jobs.Job`, and shows the outputs as plugin-owned
layers (perturbation, adversarial image, its prediction, changed pixels), the metrics
as text and the curve as a matplotlib plot exportable as CSV and PNG.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    LineEdit,
    PushButton,
    SpinBox,
)

from napari_unet.core import TrainedModel, UserInputError
from napari_unet.core.attacks import ATTACKS, DEFAULT_STEPS, AttackResult, make_attack
from napari_unet.core.robustness import (
    NATURAL,
    UNITS,
    RobustnessCurve,
    check_levels,
    draw_curve,
    perturbation_curve,
    robustness_curve,
)

from ._base import ViewerWidget
from ._device import device_picker, with_compute
from ._jobs import Job, notify_error, notify_info, notify_warning
from ._layers import image_array, write_output
from ._plot import BLUE, ORANGE, ThemedPlot
from ._session import JobState

FLOAT_HINT = "tick 'Float output'"  # how a widget user keeps float attacked images
PERTURBATION_COLORMAP = "PiYG"  # diverging; contrast limits symmetric around 0
ATTACK_CURVE = "attack"  # the curve kind that sweeps the chosen attack's eps
DEFAULT_LEVELS = {  # in each kind's unit (core.robustness.UNITS); eps x 1/255 for attacks
    ATTACK_CURVE: "1, 2, 4, 8",
    "noise": "0, 0.05, 0.1, 0.2",
    "blur": "0, 1, 2, 3",
    "rotation": "0, 5, 15, 30",
    "scale": "0.8, 0.9, 1, 1.1, 1.25",
    "contrast": "0.5, 0.75, 1, 1.5, 2",
}


@dataclass(frozen=True)
class AttackSettings:
    """The attack chosen in the widget, captured on the GUI thread before a job starts.

    eps255: the L-inf budget in 1/255 of the normalized intensity range.
    """

    name: str
    eps255: float
    steps: int
    target: int | None
    eot_samples: int = 8  # random transforms per step of the EOT attack

    def make(self, eps255: float | None = None):
        """The attack, at ``eps255`` (x 1/255) instead of the chosen eps if given."""
        eps = self.eps255 if eps255 is None else eps255
        options = {"samples": self.eot_samples} if self.name == "eot" else {}
        return make_attack(self.name, eps / 255.0, self.steps, self.target, **options)

    def make_normalized(self, eps: float):
        """The attack at ``eps`` in normalized units (what :func:`robustness_curve` passes)."""
        return self.make(eps * 255.0)


@dataclass(frozen=True)
class NaturalCurveSettings:
    """A natural-perturbation curve, captured on the GUI thread before its job starts.

    levels: in the unit of ``kind`` (:data:`napari_unet.core.robustness.UNITS`).
    """

    kind: str
    levels: tuple[float, ...]
    device: str
    rgb: bool


class CurvePlot(ThemedPlot):
    """Dice against eps (in 1/255 of the normalized range)."""

    def __init__(self) -> None:
        super().__init__(figsize=(3.2, 2.0), min_height=160, tight_layout=True)
        self.ax = self.figure.add_subplot(111)
        self.show(None)

    def show(self, curve: RobustnessCurve | None) -> None:
        if curve is not None and curve.perturbation in NATURAL:
            draw_curve(self.ax, curve)
            self._apply_colours()
            self.canvas.draw_idle()
            return
        ax = self.ax
        ax.clear()
        ax.set_xlabel("eps (x 1/255 of normalized range)", fontsize=7)
        ax.set_ylabel("Dice", fontsize=7)
        ax.set_ylim(0, 1.02)
        ax.tick_params(labelsize=7)
        if curve is not None and curve.rows:
            ax.plot(
                [e * 255 for e in curve.levels],
                curve.dice,
                "o-",
                lw=1.2,
                label=curve.perturbation,
                color=BLUE,
            )
            below = [
                (r["level"] * 255, r["dice_vs_clean"])
                for r in curve.rows
                if r.get("below_quantization")
            ]
            if below:  # Dice there says nothing: the attacked image equals the clean one
                ax.plot(*zip(*below), "x", ms=7, mew=1.5, color=ORANGE, label="below 1 grey level")
            ax.legend(fontsize=7)
        self._apply_colours()
        self.canvas.draw_idle()


class AdversarialWidget(ViewerWidget):
    """Pick image, model, attack, eps, steps, target; Run / Curve / Stop; see the damage."""

    TAB_TITLE = "Attack"

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, labels=True)
        self._image = self._image_picker()
        self._model_info = Label(value="No model: train one or load a model file.")
        self._load = PushButton(text="Load model file...")
        self._attack = ComboBox(
            label="Attack",
            choices=list(ATTACKS),
            value="segpgd",
            tooltip="fgsm / pgd / segpgd / dag: L-inf; cw: L2 (eps caps it)",
        )
        self._eps = FloatSpinBox(
            label="eps (x 1/255)",
            value=4.0,
            min=0.0,
            max=255.0,
            step=0.5,
            tooltip="L-inf budget in 1/255 of the normalized range; "
            "the raw-intensity value is shown with the results",
        )
        self._steps = SpinBox(label="Steps", value=DEFAULT_STEPS["segpgd"], min=1, max=10000)
        self._target = ComboBox(
            label="Target",
            choices=[("untargeted", None)],
            value=None,
            tooltip="push every pixel towards this class (e.g. make "
            "objects vanish into background)",
        )
        self._eot_samples = SpinBox(
            label="EOT samples",
            value=8,
            min=1,
            max=64,
            tooltip="eot: random rotations (±30°), zooms (0.8-1.25) and noise averaged per step",
        )
        self._curve_kind = ComboBox(
            label="Curve of",
            choices=[ATTACK_CURVE, *NATURAL],
            value=ATTACK_CURVE,
            tooltip="attack: the chosen attack's eps (x 1/255); noise: sigma (normalized); "
            "blur: sigma (pixels); rotation: degrees; scale: zoom; contrast: gamma",
        )
        self._curve_eps = LineEdit(
            label="Curve levels",
            value=DEFAULT_LEVELS[ATTACK_CURVE],
            tooltip="levels of the robustness curve, in the unit of "
            "its kind (eps x 1/255 for the attack)",
        )
        self._keep_float = CheckBox(
            text="Float output",
            value=False,
            tooltip="Keep the attacked image as float32: a perturbation below one grey level "
            "of an integer image (a dim image) survives instead of rounding away.",
        )
        self._run = PushButton(text="Run attack")
        self._run_curve = PushButton(text="Robustness curve")
        self._stop = PushButton(text="Stop", enabled=False)
        self._results = Label(value="")
        self._export_csv_btn = PushButton(text="Export CSV...", enabled=False)
        self._export_png_btn = PushButton(text="Export PNG...", enabled=False)
        self._device = device_picker()
        self.extend(
            [
                self._image,
                self._model_info,
                self._load,
                self._device,
                self._attack,
                self._eps,
                self._steps,
                self._target,
                self._eot_samples,
                self._keep_float,
                Container(widgets=[self._run, self._stop], layout="horizontal", labels=False),
                self._results,
                self._curve_kind,
                self._curve_eps,
                self._run_curve,
                Container(
                    widgets=[self._export_csv_btn, self._export_png_btn],
                    layout="horizontal",
                    labels=False,
                ),
            ]
        )
        self._plot = CurvePlot()
        self._plot.follow_theme(napari_viewer)
        self.content.layout().addWidget(self._plot.canvas)
        self.result: AttackResult | None = None
        self.curve: RobustnessCurve | None = None
        self._load.changed.connect(lambda *_: self._ask_load())
        self._attack.changed.connect(
            lambda name: setattr(self._steps, "value", DEFAULT_STEPS[name])
        )
        self._run.changed.connect(self.run_attack)
        self._run_curve.changed.connect(self.run_curve)
        self._curve_kind.changed.connect(
            lambda kind: setattr(self._curve_eps, "value", DEFAULT_LEVELS[kind])
        )
        self._stop.changed.connect(self.stop)
        self._export_csv_btn.changed.connect(lambda: self._ask_export("csv"))
        self._export_png_btn.changed.connect(lambda: self._ask_export("png"))
        self._remember("adversarial", {"device": self._device})
        self._device.changed.connect(lambda *_: self._on_model_changed(self._store.model))
        self._finish_setup()
        self._on_model_changed(self._store.model)

    @property
    def status(self) -> str:
        """The results line under Run / Stop: what the last attack or curve did."""
        return str(self._results.value)

    # ------------------------------------------------------------------ model
    def _on_model_changed(self, model: TrainedModel | None) -> None:
        if self._closed:
            return
        if model is None:
            self._model_info.value = with_compute(
                "No model: train one or load a model file.", self._device.value
            )
            self._target.choices = [("untargeted", None)]
            return
        self._model_info.value = with_compute(model.describe(), self._device.value)
        self._target.choices = [("untargeted", None)] + [
            (f"{i} {name}", i) for i, name in enumerate(model.classes.names, start=1)
        ]

    # ------------------------------------------------------------------ inputs
    def _inputs(self) -> tuple[Any, TrainedModel, np.ndarray]:
        layer = self._image.value
        if layer is None:
            raise UserInputError("Add or pick an image layer to attack.")
        model = self._store.model
        if model is None:
            raise UserInputError("No model yet: train one in the Train widget or load a file.")
        return layer, model, image_array(layer)

    def settings(self) -> AttackSettings:
        """The attack settings now (read on the GUI thread, never by a worker)."""
        return AttackSettings(
            self._attack.value,
            self._eps.value,
            self._steps.value,
            self._target.value,
            self._eot_samples.value,
        )

    def _on_state(self, state: JobState) -> None:
        self._run.enabled = self._run_curve.enabled = not state.active
        self._stop.enabled = state.active
        if state is JobState.FAILED:
            self._results.value = f"Failed: {self.session.error}"

    def _start(self, work, what: str, on_done, layer) -> Job | None:
        def on_event(ev: Any) -> None:
            if not self._closed and self._job is not None:
                self._job.set_progress(100 * ev.progress)

        def done(result: Any) -> None:
            if not self._closed and layer in self._viewer.layers:
                on_done(result)

        return self._start_job(work, what=what, layers=[layer], on_event=on_event, on_done=done)

    # ------------------------------------------------------------------ attack
    def run_attack(self, *_: Any) -> Job | None:
        """Attack the picked image with the current model (in a thread)."""
        try:
            layer, model, data = self._inputs()
            attack = self.settings().make()
        except (UserInputError, ValueError) as err:
            notify_error(err, "Attack")
            return None
        model = model.copy()  # the training widget may change the shared model meanwhile
        device = self._device.value  # read here, on the GUI thread
        keep_float = self._keep_float.value

        def work(stop):
            return (
                yield from attack.run(
                    model, data, rgb=layer.rgb, stop=stop, device=device, keep_float=keep_float
                )
            )

        return self._start(work, f"Attack ({attack.name})", lambda r: self._show(layer, r), layer)

    def _show(self, layer: Any, result: AttackResult) -> None:
        self.result = result
        pert = result.perturbation
        if layer.rgb:
            pert = pert.mean(-1)
        limit = float(np.abs(pert).max()) or 1.0
        write_output(
            self._viewer,
            layer,
            "perturbation",
            pert.astype(np.float32),
            kind="image",
            colormap=PERTURBATION_COLORMAP,
            contrast_limits=(-limit, limit),
        )
        pl = _find(self._viewer, layer, "perturbation")
        if pl is not None:
            pl.contrast_limits = (-limit, limit)
        adv = write_output(
            self._viewer, layer, "adversarial", result.adversarial, kind="image", rgb=layer.rgb
        )
        if not layer.rgb:
            adv.contrast_limits = layer.contrast_limits
        write_output(
            self._viewer,
            layer,
            "adversarial prediction",
            result.adversarial_prediction,
            kind="labels",
        )
        write_output(
            self._viewer, layer, "changed pixels", result.changed.astype(np.uint8), kind="labels"
        )
        self._results.value = format_metrics(result)
        warning = result.quantization_warning(FLOAT_HINT)
        if warning:
            notify_warning(f"Attack: {warning}")
        if result.stopped:
            notify_info("Attack stopped: slices not attacked keep the clean image.")

    # ------------------------------------------------------------------ curve
    def curve_eps(self) -> list[float]:
        """The curve's levels parsed from the text field (eps x 1/255 for the attack curve,
        the kind's unit otherwise, see :data:`napari_unet.core.robustness.UNITS`)."""
        kind = self._curve_kind.value
        try:
            values = [
                float(v) for v in self._curve_eps.value.replace(";", ",").split(",") if v.strip()
            ]
        except ValueError:
            what = "Curve eps" if kind == ATTACK_CURVE else f"Curve levels ({UNITS[kind]})"
            raise UserInputError(
                f"{what}: give numbers separated by commas, e.g. {DEFAULT_LEVELS[kind]}."
            ) from None
        if kind != ATTACK_CURVE:
            return check_levels(kind, values)
        if not values or any(v < 0 for v in values):
            raise UserInputError("Curve eps: give at least one value >= 0.")
        return values

    def run_curve(self, *_: Any) -> Job | None:
        """Dice against several levels of the chosen kind in one run (in a thread): the
        chosen attack's eps, or a natural perturbation; plots the curve."""
        try:
            layer, model, data = self._inputs()
            values = self.curve_eps()
            settings = self.settings()
            kind = self._curve_kind.value
            if kind == ATTACK_CURVE:
                settings.make(values[0])  # bad settings fail here, not in the worker
        except (UserInputError, ValueError) as err:
            notify_error(err, "Robustness curve")
            return None
        model = model.copy()
        device = self._device.value  # read here, on the GUI thread
        keep_float = self._keep_float.value
        if kind != ATTACK_CURVE:
            natural = NaturalCurveSettings(kind, tuple(values), device, bool(layer.rgb))
            return self._run_natural_curve(layer, model, data, natural)

        def work(stop):
            return (
                yield from robustness_curve(
                    settings.make_normalized,
                    model,
                    data,
                    [v / 255 for v in values],
                    rgb=layer.rgb,
                    stop=stop,
                    device=device,
                    keep_float=keep_float,
                )
            )

        return self._start(work, "Robustness curve", self._show_curve, layer)

    def _run_natural_curve(
        self, layer: Any, model: TrainedModel, data: Any, settings: NaturalCurveSettings
    ) -> Job | None:
        """The curve of a natural perturbation; the perturbed image at the last level and
        its prediction become layers."""

        def work(stop):
            return (
                yield from perturbation_curve(
                    model,
                    [data],
                    settings.kind,
                    settings.levels,
                    rgb=settings.rgb,
                    device=settings.device,
                    keep_example=True,
                    stop=stop,
                )
            )

        def done(curve: RobustnessCurve) -> None:
            self._show_curve(curve)
            self._show_perturbed(layer, curve)

        return self._start(work, f"Robustness curve ({settings.kind})", done, layer)

    def _show_perturbed(self, layer: Any, curve: RobustnessCurve) -> None:
        """``<image> perturbed`` and ``<image> perturbed prediction`` (plugin-owned)."""
        if curve.example is None or curve.example_prediction is None or not curve.rows:
            return
        perturbed = write_output(
            self._viewer,
            layer,
            "perturbed",
            curve.example.astype(np.float32),
            kind="image",
            rgb=layer.rgb,
        )
        if not layer.rgb:
            perturbed.contrast_limits = layer.contrast_limits
        write_output(
            self._viewer, layer, "perturbed prediction", curve.example_prediction, kind="labels"
        )
        last = curve.rows[-1]
        self._results.value = (
            f"{curve.perturbation} {last['level']:g}: Dice vs clean "
            f"{last['dice_vs_clean']:.3f} (layers '{layer.name} perturbed')"
        )

    def _show_curve(self, curve: RobustnessCurve) -> None:
        self.curve = curve
        self._plot.show(curve)
        self._export_csv_btn.enabled = self._export_png_btn.enabled = bool(curve.rows)
        warning = curve.quantization_warning()
        if warning:
            hint = "" if curve.kept_float else f" To measure them, {FLOAT_HINT}."
            notify_warning(f"Robustness curve: {warning}{hint}")
        if curve.stopped:
            notify_info("Robustness curve stopped: the points done so far are shown.")

    def export_csv(self, path: str | Path) -> Path:
        if self.curve is None or not self.curve.rows:
            raise UserInputError("Run a robustness curve first.")
        return self.curve.to_csv(path)

    def export_png(self, path: str | Path) -> Path:
        path = Path(path)
        self._plot.figure.savefig(path, dpi=150)
        return path

    def _ask_export(self, kind: str) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _f = QFileDialog.getSaveFileName(
            self.native,
            f"Export curve as {kind.upper()}",
            f"robustness.{kind}",
            f"{kind.upper()} (*.{kind})",
        )
        if path:
            try:
                (self.export_csv if kind == "csv" else self.export_png)(path)
            except (OSError, UserInputError) as err:
                notify_error(err, "Export")


def _find(viewer: Any, layer: Any, role: str):
    from ._layers import find_output

    return find_output(viewer, layer, role)


def format_metrics(result: AttackResult) -> str:
    """The figures shown in the widget, one per line."""
    m = result.metrics
    eps = (
        "unbounded"
        if m.eps is None
        else f"{m.eps * 255:.3g}/255 normalized = {', '.join(f'{e:.3g}' for e in m.eps_raw)} raw"
    )
    if m.eps_grey_levels is not None:
        eps += f" = {m.eps_grey_levels:.3g} grey levels"
    return (
        f"eps {eps}\n"
        f"Dice clean {m.dice_clean:.3f} -> adversarial {m.dice_adversarial:.3f}\n"
        f"IoU clean {m.iou_clean:.3f} -> adversarial {m.iou_adversarial:.3f}\n"
        f"pixels changed {100 * m.fraction_changed:.2f}%\n"
        f"L-inf {m.linf:.4f} ({m.linf_raw:.3g} raw), L2 {m.l2:.3f} ({m.l2_raw:.4g} raw)\n"
        f"SNR {m.snr_db:.1f} dB"
    )
