"""List the functions longer than a limit (house rule: 60 lines, 80 at most with a written reason).

    python scripts/long_functions.py [FOLDER …] [--over 60]

Prints « lines path:line name », longest first; exit code 1 when one passes 80 lines.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path


def long_functions(folders: list[Path], over: int) -> list[tuple[int, str]]:
    found = []
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = node.end_lineno - node.lineno + 1
                    if length > over:
                        found.append((length, f"{path}:{node.lineno} {node.name}"))
    return sorted(found, reverse=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, default=[Path("billing")])
    parser.add_argument("--over", type=int, default=60)
    args = parser.parse_args()
    found = long_functions(args.folders, args.over)
    for length, where in found:
        print(length, where)
    return 1 if any(length > 80 for length, _ in found) else 0


if __name__ == "__main__":
    sys.exit(main())
