"""Time to the forest: how soon after pressing Train the U-Net scores as the random forest.

Run from the repository root (needs ``<repo>/../shared/data/{isbi2012,nuclei2d,dsb2018-dev}``)::

    python benchmarks/bench_time_to_forest.py                        # both protocols, seed 0
    python benchmarks/bench_time_to_forest.py --seeds 0 1 2 --json out.json
    python benchmarks/bench_time_to_forest.py --protocols dsb --budgets 15 60 --batch 8

Two protocols, the same strokes for both methods, in the same run:

* ``isbi``: simulated strokes on ISBI 2012 slices 0-4 (``bench_strokes.py``), membrane Dice
  on the held-out slices 5-9;
* ``dsb``: simulated strokes on ``nuclei2d`` (``bench_generalization.py``), mean instance
  F1@0.5 on the 15 ``dsb2018-dev`` images, both methods split into objects by napari-unet's
  watershed (the forest with the issue's distance watershed is printed too).

For every ``--budgets`` B (seconds) a U-Net run of time budget B is made as the Train
widget makes it (default settings, CPU); its wall time counts from pressing Train
(building the training data included) to the model handed back, and ``in steps`` is the
share of that time spent in training steps (the rest: data, validation, snapshots, the
end of the run). The longest budget's run also reports the model a user would have had
by stopping it at each shorter budget (``stopped at``). The forest: 100 trees on
``multiscale_basic_features`` of the painted pixels; its time is features + fit.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import napari_unet  # noqa: F401 - first, as in napari and the CLI: sets PyTorch's thread waiting

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_generalization as bg  # noqa: E402
import bench_strokes as bs  # noqa: E402
from _common import format_table, machine_summary, print_machine, write_json  # noqa: E402

from napari_unet.core import (  # noqa: E402
    PredictionConfig,
    Trainer,
    TrainingConfig,
    predict,
    run_to_completion,
)
from napari_unet.core.data.simulated_strokes import simulate_strokes  # noqa: E402


@dataclass
class Protocol:
    """Training images and strokes, and a scorer of models and of forest classes."""

    name: str
    metric: str
    images: list[np.ndarray]
    strokes: list[np.ndarray]
    score_model: Callable[[Any], float]
    forest: Callable[[int], tuple[float, float, str]]  # seed -> (score, seconds, detail)


def isbi_protocol(seed: int) -> Protocol:
    images, truths = zip(*(bs.read_isbi(i) for i in bs.TRAIN_SLICES))
    test_images, test_truths = zip(*(bs.read_isbi(i) for i in bs.TEST_SLICES))
    strokes = [
        simulate_strokes(bs.to_classes(t), seed=1000 * seed + i) for i, t in enumerate(truths)
    ]
    test_classes = [bs.to_classes(t) for t in test_truths]

    def score_model(model: Any) -> float:
        preds = [
            run_to_completion(predict(model, im, config=PredictionConfig(device="cpu"))).labels
            for im in test_images
        ]
        return bs.scores(preds, test_classes)[0]

    def forest(seed: int) -> tuple[float, float, str]:
        out = bs.run_forest(list(images), strokes, list(test_images), seed)
        return bs.scores(out["preds"], test_classes)[0], out["train_s"], ""

    return Protocol(
        "isbi", "membrane Dice (slices 5-9)", list(images), strokes, score_model, forest
    )


def dsb_protocol(seed: int) -> Protocol:
    dev = bg.read_dev()
    image, strokes, _ = bg.read_train(seed)

    def score_model(model: Any) -> float:
        result = type("Result", (), {"model": model, "steps": 1, "elapsed": 1.0})
        return float(np.mean([s[0] for s in bg.run_unet(result, dev, {})["scores"]]))

    def forest(seed: int) -> tuple[float, float, str]:
        seconds = forest_fit_seconds(image, strokes, seed)
        out = bg.run_forest(image, strokes, dev, seed)  # the same forest, refitted, applied
        mean = {k: float(np.mean([s[0] for s in v["scores"]])) for k, v in out.items()}
        detail = f"with the distance watershed: {mean['random forest + distance watershed']:.3f}"
        return mean["random forest + napari-unet watershed"], seconds, detail

    return Protocol(
        "dsb", "instance F1@0.5 (15 dev images)", [image], [strokes], score_model, forest
    )


def forest_fit_seconds(image: np.ndarray, strokes: np.ndarray, seed: int) -> float:
    """Seconds from strokes to a fitted forest: features of the image, then the fit."""
    from sklearn.ensemble import RandomForestClassifier

    from napari_unet.core.device import available_cpu_cores

    start = time.perf_counter()
    painted = strokes > 0
    forest = RandomForestClassifier(
        n_estimators=100, n_jobs=available_cpu_cores(), random_state=seed
    )
    forest.fit(bg.forest_features(image)[painted], strokes[painted])
    return time.perf_counter() - start


PROTOCOLS = {"isbi": isbi_protocol, "dsb": dsb_protocol}


def timed_run(
    protocol: Protocol, budget: float, seed: int, overrides: dict[str, Any], stop_marks: list[float]
) -> dict[str, Any]:
    """One U-Net run of ``budget`` seconds from pressing Train; the best model at each of
    ``stop_marks`` (seconds since pressing Train) is kept as a user stopping then gets it."""
    in_steps = [0.0]
    original = Trainer._train_step

    def counted(self: Trainer, *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(self, *args)
        finally:
            in_steps[0] += time.perf_counter() - start

    Trainer._train_step = counted  # type: ignore[method-assign]
    try:
        pressed = time.perf_counter()
        trainer = Trainer(
            protocol.images,
            protocol.strokes,
            config=TrainingConfig(max_time=budget, seed=seed, device="cpu", **overrides),
        )
        events = trainer.run()
        stopped: dict[float, tuple[Any, int]] = {}
        steps = 0
        while True:
            try:
                event = next(events)
            except StopIteration as end:
                result = end.value
                break
            steps = getattr(event, "step", steps)
            for mark in stop_marks:
                if mark not in stopped and time.perf_counter() - pressed >= mark:
                    stopped[mark] = (trainer.best, steps)
        wall = time.perf_counter() - pressed
    finally:
        Trainer._train_step = original  # type: ignore[method-assign]
    return {"result": result, "wall": wall, "in_steps": in_steps[0], "stopped": stopped}


def run_protocol(
    name: str,
    seed: int,
    budgets: list[float],
    overrides: dict[str, Any],
    also_batch: int | None = None,
) -> list[dict[str, Any]]:
    """Rows of one protocol and seed: the forest, each budget's run, the stops (and, with
    ``also_batch``, the longest budget again with that many patches every step)."""
    protocol = PROTOCOLS[name](seed)
    forest_score, forest_s, detail = protocol.forest(seed)
    rows = [
        {
            "protocol": name,
            "seed": seed,
            "method": "random forest",
            "budget": None,
            "wall_s": forest_s,
            "steps": None,
            "in_steps": None,
            "score": forest_score,
            "detail": detail,
        }
    ]
    print(
        f"  {name} seed {seed} forest {forest_score:.3f} in {forest_s:.1f} s {detail}", flush=True
    )
    longest = max(budgets)
    plan = [(b, overrides, "") for b in sorted(budgets)]
    if also_batch is not None:
        label = f", {also_batch} patches a step throughout"
        plan.append((longest, {**overrides, "batch_size": also_batch}, label))
    for budget, settings, label in plan:
        marks = [b for b in budgets if b < budget] if budget == longest and not label else []
        run = timed_run(protocol, budget, seed, settings, marks)
        result = run["result"]
        rows.append(
            {
                "protocol": name,
                "seed": seed,
                "method": f"U-Net, {budget:g} s budget{label}",
                "budget": budget,
                "wall_s": run["wall"],
                "steps": result.steps,
                "in_steps": run["in_steps"] / run["wall"],
                "score": protocol.score_model(result.model),
                "detail": result.undertrained or "",
            }
        )
        print(
            f"  {name} seed {seed} {rows[-1]['method']}: {rows[-1]['score']:.3f}, "
            f"{result.steps} steps, {run['wall']:.1f} s",
            flush=True,
        )
        for mark, (model, steps) in sorted(run["stopped"].items()):
            rows.append(
                {
                    "protocol": name,
                    "seed": seed,
                    "method": f"U-Net, {budget:g} s run stopped at {mark:g} s",
                    "budget": mark,
                    "wall_s": mark,
                    "steps": steps,
                    "in_steps": None,
                    "score": protocol.score_model(model),
                    "detail": "",
                }
            )
    for row in rows:
        row["vs_forest"] = row["score"] - forest_score
    return rows


def print_rows(rows: list[dict[str, Any]]) -> None:
    table = [
        [
            r["protocol"],
            r["seed"],
            r["method"],
            r["wall_s"],
            "" if r["steps"] is None else r["steps"],
            "" if r["in_steps"] is None else f"{100 * r['in_steps']:.0f}%",
            r["score"],
            f"{r['vs_forest']:+.3f}",
        ]
        for r in rows
    ]
    print(
        format_table(
            ["protocol", "seed", "method", "wall s", "steps", "in steps", "score", "vs forest"],
            table,
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocols", nargs="+", choices=list(PROTOCOLS), default=list(PROTOCOLS))
    parser.add_argument(
        "--budgets",
        type=float,
        nargs="+",
        default=[10.0, 15.0, 60.0],
        help="time budgets in seconds, each a run of its own",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--batch", type=int, default=None, help="patches per step (default: the package's)"
    )
    parser.add_argument(
        "--also-batch",
        type=int,
        default=None,
        metavar="N",
        help="also run the longest budget with N patches every step (a reference)",
    )
    parser.add_argument("--json", metavar="PATH", help="write results as JSON ('-' = stdout)")
    args = parser.parse_args(argv)
    machine = machine_summary()
    print_machine(machine)
    overrides = {} if args.batch is None else {"batch_size": args.batch}
    also = args.also_batch
    rows = [
        row
        for name in args.protocols
        for seed in args.seeds
        for row in run_protocol(name, seed, args.budgets, overrides, also)
    ]
    machine["load_average_after"] = machine_summary()["load_average"]
    print_rows(rows)
    print(
        "\nScores: isbi = membrane Dice on ISBI slices 5-9, dsb = mean instance F1@0.5 on "
        "15 dsb2018-dev images (both methods with napari-unet's watershed). "
        f"Load average after: {machine['load_average_after']}."
    )
    write_json(args.json, {"machine": machine, "budgets": args.budgets, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
