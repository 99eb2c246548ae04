"""The README's layout table names every package and root module of ``portraittalker/``, and only ones that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _layout_rows() -> list[str]:
    """The ``| `portraittalker/...` | ... |`` rows of the README's layout table."""
    return [line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("| `portraittalker/")]


def _named_paths(row: str) -> set[str]:
    """Paths in a row's first cell: ``portraittalker/a.py``, then ``b.py`` beside it (``portraittalker/b.py``)."""
    first_cell = row.split("|")[1]
    names = re.findall(r"`([^`]+)`", first_cell)
    anchor = names[0].rsplit("/", 1)[0] if names[0].endswith(".py") else "portraittalker"
    return {name if name.startswith("portraittalker/") else f"{anchor}/{name}" for name in names}


def test_layout_table_names_every_package_and_root_module() -> None:
    rows = _layout_rows()
    assert len(rows) >= 10  # the table was found
    named = set().union(*map(_named_paths, rows))
    params_row = next(line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
                      if line.startswith("| `params.yaml` |"))
    package = ROOT / "portraittalker"
    wanted = {f"portraittalker/{p.name}/" for p in package.iterdir() if (p / "__init__.py").is_file()}
    wanted |= {f"portraittalker/{p.name}" for p in package.glob("*.py") if p.name != "__init__.py"}
    missing = sorted(w for w in wanted if w.rstrip("/") not in {n.rstrip("/") for n in named}
                     and f"`{w.removeprefix('portraittalker/')}`" not in params_row
                     and f"`{w}`" not in params_row)
    assert not missing, f"README layout table does not mention {missing}"


def test_layout_table_names_only_paths_that_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    mentioned = set(re.findall(r"portraittalker/[\w/]+(?:\.py|/)", readme)).union(*map(_named_paths, _layout_rows()))
    gone = sorted(path for path in mentioned if not (ROOT / path).exists())
    assert not gone, f"README names paths that do not exist: {gone}"
