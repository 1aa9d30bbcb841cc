"""The source files a registered model carries: the serving entry and every `pseudocolor` module it imports,
found by reading their import statements (including imports inside functions), nothing else.

So a served model holds inference, guided colouring and decoding code, not training code, callbacks or the
LightningDataModules, and does not need Lightning installed.
"""

from __future__ import annotations

import ast
import importlib.util
import shutil
from pathlib import Path

PACKAGE = "pseudocolor"


def _imported_modules(path: Path, package: str) -> set[str]:
    """Dotted names of the `pseudocolor` modules and packages that the file at `path` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith(PACKAGE + "."))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith(PACKAGE + "."):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from package import module`
    return found


def _source(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    return Path(spec.origin) if spec is not None and spec.origin not in (None, "built-in", "frozen") else None


def served_modules(entry: Path) -> dict[str, Path]:
    """Module name -> source file of every `pseudocolor` module reachable from the script `entry`, with the
    `__init__.py` of each package on the way."""
    modules: dict[str, Path] = {}
    pending = _imported_modules(entry, PACKAGE)
    while pending:
        name = pending.pop()
        if name in modules:
            continue
        try:
            source = _source(name)
        except ModuleNotFoundError:  # `from module import function` names a function, not a module
            source = None
        if source is None:
            continue
        modules[name] = source
        pending |= _imported_modules(source, PACKAGE)
        parent = name.rpartition(".")[0]
        if parent and parent != PACKAGE:
            pending.add(parent)
    return modules


def copy_served_code(entry: Path, folder: Path) -> Path:
    """Copy the modules `entry` needs into `folder/pseudocolor/...` (as an importable package) -> that folder."""
    root = folder / PACKAGE
    for name, source in served_modules(entry).items():
        parts = name.split(".")[1:]
        target = root.joinpath(*parts, "__init__.py") if source.name == "__init__.py" else root.joinpath(*parts[:-1], source.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    (root / "__init__.py").write_text('"""The code a registered pseudocolor model carries to serve (see deploy/served_code.py)."""\n')
    return root
