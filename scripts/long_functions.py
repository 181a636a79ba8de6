"""List functions longer than a limit (lines from ``def`` to the end, docstring included).

python scripts/long_functions.py [PATH] [LIMIT]     # default: src/napari_unet/core 60
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def long_functions(root: Path, limit: int) -> list[tuple[int, str, str]]:
    """``(lines, "file:line", name)`` of every function in ``root`` over ``limit`` lines."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found.append((lines, f"{path}:{node.lineno}", node.name))
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path("src/napari_unet/core")
    limit = int(argv[1]) if len(argv) > 1 else 60
    for lines, where, name in long_functions(root, limit):
        print(f"{lines:4d} {where} {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
