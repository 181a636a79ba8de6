"""Output files of a command: planned before any work, never over an input or each other."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from napari_unet.core.errors import UserInputError


def _key(path: Path) -> str:
    return os.path.normcase(os.path.realpath(path))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def plan_outputs(
    inputs: Sequence[str],
    out_dir: str | os.PathLike,
    suffixes: Sequence[str],
    protected: Sequence[str] = (),
) -> list[dict[str, Path]]:
    """Output paths ``DIR/<stem><suffix>.tif`` for each input, one dict per input.

    Refuses (before anything is written) when an output would replace one of ``inputs``
    or ``protected`` (e.g. the model file), or when two outputs of this run get the same
    name: inputs with the same stem from different folders (``a/img.tif`` and
    ``b/img.png``), or an input named like another's output (``x.tif`` and
    ``x_instances.tif`` with ``--instances``). Renaming silently would make outputs
    hard to match with inputs, so the user chooses: another ``--out-dir`` or a rename.
    """
    out_dir = Path(out_dir)
    read = {_key(Path(p)): p for p in [*inputs, *protected]}
    written: dict[str, str] = {}
    plans = []
    for name in inputs:
        plan = {}
        for suffix in suffixes:
            target = out_dir / f"{Path(name).stem}{suffix}.tif"
            key = _key(target)
            clash = read.get(key)
            if clash is None and target.exists():  # hard links, bind mounts
                clash = next((p for p in read.values() if _same_file(target, Path(p))), None)
            if clash is not None:
                raise UserInputError(
                    f"Writing {target} would replace the input file {clash}; "
                    "choose another --out-dir."
                )
            if key in written:
                raise UserInputError(
                    f"{written[key]} and {name} would both be written to {target}; give them "
                    "different names, or run them with different --out-dir folders."
                )
            written[key] = name
            plan[suffix] = target
        plans.append(plan)
    return plans
