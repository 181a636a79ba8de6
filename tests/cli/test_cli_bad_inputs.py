"""Every subcommand, a broad table of bad invocations: exit code 2, ONE stderr line, no
traceback, and nothing written. Runs in process (``main(argv)``) on small real files."""

from __future__ import annotations

import pytest
import torch

from napari_unet import cli
from tests.cli.bad_input_files import make_files, run_cli

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
_mps = getattr(torch.backends, "mps", None)
NO_MPS = pytest.mark.skipif(bool(_mps and _mps.is_available()), reason="this machine has MPS")


@pytest.fixture(scope="module")
def f(tmp_path_factory):
    return make_files(tmp_path_factory.mktemp("bad_inputs"))


def train(**extra):
    args = {
        "--images": "img",
        "--labels": "strokes",
        "--out": "@new.pt",
        "--steps": "2",
        "--device": "cpu",
    }
    args.update(extra)
    return ["train", *[x for k, v in args.items() if v is not None for x in (k, v)]]


def predict(**extra):
    args = {"--model": "model", "--images": "img", "--out-dir": "@out", "--device": "cpu"}
    args.update(extra)
    return ["predict", *[x for k, v in args.items() if v is not None for x in (k, v)]]


def attack(**extra):
    args = {
        "--model": "model",
        "--images": "img",
        "--attack": "pgd",
        "--eps": "0.01",
        "--steps": "1",
        "--out-dir": "@out",
        "--device": "cpu",
    }
    args.update(extra)
    return ["attack", *[x for k, v in args.items() if v is not None for x in (k, v)]]


def evaluate(pred="strokes", truth="strokes", *more):
    return ["evaluate", "--pred", pred, "--truth", truth, *more]


CUDA, MPS = {"marks": NO_CUDA}, {"marks": NO_MPS}
BAD = {  # id: (argv, words the one line must contain, pytest.param kwargs)
    # --- numbers
    "train-max-time-nan": (train(**{"--max-time": "nan"}), "--max-time"),
    "train-max-time-inf": (train(**{"--max-time": "inf"}), "--max-time"),
    "train-max-time-negative": (train(**{"--max-time": "-3"}), "--max-time"),
    "train-max-time-zero": (train(**{"--max-time": "0"}), "--max-time"),
    "train-max-time-text": (train(**{"--max-time": "soon"}), "--max-time"),
    "train-steps-zero": (train(**{"--steps": "0"}), "--steps"),
    "train-steps-negative": (train(**{"--steps": "-5"}), "--steps"),
    "train-steps-float": (train(**{"--steps": "1e3"}), "--steps"),
    "train-steps-huge": (train(**{"--steps": str(10**12)}), "--steps"),
    "train-seed-negative": (train(**{"--seed": "-1"}), "--seed"),
    "train-seed-huge": (train(**{"--seed": str(2**64)}), "--seed"),
    "train-seed-enormous": (train(**{"--seed": "9" * 40}), "--seed"),
    "train-adv-eps-negative": (train(**{"--adversarial-eps": "-0.5"}), "--adversarial-eps"),
    "train-adv-eps-nan": (train(**{"--adversarial-eps": "nan"}), "--adversarial-eps"),
    "train-adv-eps-too-big": (train(**{"--adversarial-eps": "5"}), "--adversarial-eps"),
    "train-adv-steps-zero": (train(**{"--adversarial-steps": "0"}), "--adversarial-steps"),
    "train-ndim-4": (train(**{"--ndim": "4"}), "--ndim"),
    "train-channel-axis-9": (train(**{"--channel-axis": "9"}), "--channel-axis"),
    "train-rgb-and-axis": (train(**{"--channel-axis": "0", "--rgb": ""})[:-1], "not allowed"),
    "attack-eps-negative": (attack(**{"--eps": "-0.5"}), "--eps"),
    "attack-eps-nan": (attack(**{"--eps": "nan"}), "--eps"),
    "attack-steps-zero": (attack(**{"--steps": "0"}), "--steps"),
    "attack-target-zero": (attack(**{"--target": "0"}), "--target"),
    "attack-target-missing-class": (attack(**{"--target": "7"}), "--target 7"),
    "attack-unknown": (attack(**{"--attack": "nuke"}), "--attack"),
    # --- devices
    "train-cuda": (train(**{"--device": "cuda"}), "CUDA", CUDA),
    "train-mps": (train(**{"--device": "mps"}), "MPS", MPS),
    "predict-cuda": (predict(**{"--device": "cuda"}), "CUDA", CUDA),
    "predict-mps": (predict(**{"--device": "mps"}), "MPS", MPS),
    "attack-cuda": (attack(**{"--device": "cuda"}), "CUDA", CUDA),
    "attack-gpu": (attack(**{"--device": "gpu"}), "unknown device"),
    "attack-device-empty": (attack(**{"--device": ""}), "unknown device"),
    "predict-device-typo": (predict(**{"--device": "cpuu"}), "unknown device"),
    # --- input files
    "train-image-missing": (train(**{"--images": "@nope.tif"}), "does not exist"),
    "train-image-is-dir": (train(**{"--images": "dir"}), "is a directory"),
    "train-labels-is-dir": (train(**{"--labels": "dir"}), "is a directory"),
    "train-image-empty": (train(**{"--images": "empty"}), "holds no image"),
    "train-image-not-image": (train(**{"--images": "text"}), "unsupported file type"),
    "train-labels-float": (train(**{"--labels": "fraction"}), "integers"),
    "train-rgb-without-flag": (train(**{"--images": "rgb"}), "--rgb"),
    "train-rgb-flag-on-grey": (train(**{"--rgb": None}) + ["--rgb"], "--rgb"),
    "train-count-mismatch": (
        train(**{"--labels": None}) + ["--labels", "strokes", "strokes"],
        "2 labels",
    ),
    "predict-image-empty": (predict(**{"--images": "empty"}), "holds no image"),
    "predict-rgb-on-grey-model": (predict(**{"--images": "rgb"}), "--rgb"),
    "attack-rgb-on-grey-model": (attack(**{"--images": "rgb"}), "--rgb"),
    "predict-model-is-dir": (predict(**{"--model": "dir"}), "is a directory"),
    "predict-model-missing": (predict(**{"--model": "@gone.pt"}), "does not exist"),
    "predict-model-not-model": (predict(**{"--model": "img"}), "not a napari-unet model"),
    "attack-model-not-model": (attack(**{"--model": "text"}), "not a napari-unet model"),
    # --- model files with malformed metadata or claims
    **{
        f"predict-{name}": (predict(**{"--model": name}), word)
        for name, word in [
            ("meta_not_json", "damaged"),
            ("meta_not_text", "damaged"),
            ("meta_list", "damaged"),
            ("meta_unet_text", "damaged"),
            ("meta_unknown_key", "damaged"),
            ("meta_classes_int", "damaged"),
            ("meta_bad_percentiles", "damaged"),
            ("meta_huge_claim", "do not match its metadata"),
            ("meta_channels_claim", "in_channels"),
            ("state_not_dict", "not a dictionary"),
            ("nan_weights", "NaN or infinite weights"),
        ]
    },
    "train-init-nan-weights": (train(**{"--init": "nan_weights"}), "NaN or infinite weights"),
    "attack-huge-claim": (attack(**{"--model": "meta_huge_claim"}), "do not match"),
    # --- output places
    "predict-out-dir-is-file": (predict(**{"--out-dir": "text"}), "not a folder"),
    "predict-out-dir-under-file": (predict(**{"--out-dir": "text/sub"}), "is a file"),
    # --- instance and cluster options: refused before any work, like every other option
    "predict-block-negative": (predict(**{"--block": "-5"}), "--block"),
    "predict-min-size-negative": (predict(**{"--min-size": "-1"}), "--min-size"),
    "predict-split-strength-nan": (predict(**{"--split-strength": "nan"}), "--split-strength"),
    "predict-workers-zero": (predict(**{"--workers": "0"}), "--workers"),
    "attack-out-dir-is-file": (attack(**{"--out-dir": "text"}), "not a folder"),
    "train-out-is-dir": (train(**{"--out": "dir"}), "is a directory"),
    "train-out-under-file": (train(**{"--out": "text/model.pt"}), "is a file"),
    "train-out-is-labels": (train(**{"--out": "strokes"}), "not a napari-unet model file"),
    "train-out-is-image": (train(**{"--out": "img"}), "not a napari-unet model file"),
    "predict-out-dir-has-input": (predict(**{"--out-dir": "."}), "replace the input"),
    # --- evaluate
    "evaluate-nan": (evaluate("nan_labels"), "NaN"),
    "evaluate-truth-nan": (evaluate("strokes", "nan_labels"), "NaN"),
    "evaluate-complex": (evaluate("complex"), "complex64"),
    "evaluate-fraction": (evaluate("fraction"), "fractional"),
    "evaluate-negative": (evaluate("negative"), "negative"),
    "evaluate-too-many-classes": (evaluate("many", "many"), "--instances"),
    "evaluate-shape-mismatch": (evaluate("many", "strokes"), "shape"),
    "evaluate-empty": (evaluate("empty"), "holds no image"),
    "evaluate-dir": (evaluate("dir"), "is a directory"),
    "evaluate-count-mismatch": (
        evaluate("strokes", "strokes", "--pred", "strokes", "strokes"),
        "2 predictions",
    ),
    # --- the command itself
    "no-subcommand": ([], "required"),
    "unknown-subcommand": (["segment"], "invalid choice"),
    "unknown-option": (predict(**{"--colour": "red"}), "unrecognized"),
}


def _resolve(argv: list[str], f: dict, root) -> list[str]:
    """Names of files in ``f`` become their paths; ``@name`` is a path in ``root``."""
    out = []
    for arg in argv:
        if arg in f:
            out.append(str(f[arg]))
        elif arg.startswith("@"):
            out.append(str(root / arg[1:]))
        elif arg == ".":
            out.append(str(f["img"].parent))
        elif "/" in arg and arg.split("/")[0] in f:
            out.append(str(f[arg.split("/")[0]] / arg.split("/", 1)[1]))
        else:
            out.append(arg)
    return out


@pytest.mark.parametrize(
    "argv, words",
    [
        pytest.param(*case[:2], id=name, **(case[2] if len(case) > 2 else {}))
        for name, case in BAD.items()
    ],
)
def test_bad_invocation_exits_2_with_one_line_and_writes_nothing(argv, words, f, tmp_path, capsys):
    before = sorted(p.name for p in f["img"].parent.iterdir())
    code, lines, err = run_cli(_resolve(argv, f, tmp_path), capsys)
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err and words in lines[0], err
    assert not (tmp_path / "new.pt").exists() and not (tmp_path / "out").exists()
    assert sorted(p.name for p in f["img"].parent.iterdir()) == before


def test_ctrl_c_during_start_up_is_one_line_exit_130(monkeypatch, capsys):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    code, lines, err = run_cli(["train", "--help"], capsys)
    assert code == 130 and lines == ["napari-unet train: interrupted"], err


def test_ctrl_c_while_reading_inputs_is_one_line_exit_130(f, monkeypatch, tmp_path, capsys):
    from napari_unet.cli import train as train_cli

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_cli, "open_image", interrupted)
    code, lines, err = run_cli(_resolve(train(), f, tmp_path), capsys)
    assert code == 130 and len(lines) == 1 and "interrupted" in lines[0], err
    assert not (tmp_path / "new.pt").exists()


def test_unexpected_error_is_one_line_asking_for_a_report(f, monkeypatch, tmp_path, capsys):
    from napari_unet.cli import predict as predict_cli

    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(predict_cli, "load_model", bug)
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    code, lines, err = run_cli(_resolve(predict(), f, tmp_path), capsys)
    assert code == 1 and len(lines) == 1 and "Traceback" not in err
    assert "ZeroDivisionError" in lines[0] and "please report" in lines[0]
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    with pytest.raises(ZeroDivisionError):
        cli.main(_resolve(predict(), f, tmp_path))


def test_out_of_memory_is_one_line_exit_2(f, monkeypatch, tmp_path, capsys):
    from napari_unet.cli import predict as predict_cli

    def oom(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(predict_cli, "open_image", oom)
    code, lines, err = run_cli(_resolve(predict(), f, tmp_path), capsys)
    assert code == 2 and len(lines) == 1 and "not enough memory" in lines[0], err
