"""The chapters' setup cell, for a reader who opens a chapter without the repository (the book's Colab button).

Every notebook of the book runs, right after its ``parameters`` cell, a setup cell written from :data:`TEMPLATE`:
where the package is installed it does nothing; elsewhere it clones the repository it names, installs the package
with the pinned requirements, and moves into the clone's ``book/`` folder. No repository is invented: a notebook
names one only after a maintainer runs

    python -m reptile.launch set-repository https://github.com/OWNER/NAME   # then commit book/*.ipynb
    python -m reptile.launch check [--repository URL]   # exit 1 unless every setup cell is the template (naming URL)
    python -m reptile.launch update                     # rewrite the cells from the template, keeping their URL

The publishing workflow leaves the Colab button out when the committed cells do not name the repository it builds.
As a Sphinx extension (``_config.yml``), this module also removes the launch buttons from the book's text pages:
Colab and Binder open notebooks, and a MyST page is not one there.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

BOOK = Path(__file__).resolve().parents[2] / "book"
CELL_ID = "reptile-setup"
URL = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
CALL = re.compile(r'^_setup\("([^"]*)"\)$', re.M)
TEMPLATE = '''\
# Setup: where the reptile package is missing (as in Colab), clone the repository named below, install the package
# with its pinned requirements and move into the clone's book/ folder; where it is installed, do nothing.
# Written by `python -m reptile.launch set-repository URL`; the book hides this cell.
def _setup(repository):
    import importlib, importlib.util, os, subprocess, sys
    if importlib.util.find_spec("reptile"):
        return
    if not repository:
        raise ModuleNotFoundError(
            "The reptile package is not installed, and this notebook names no repository to install it from. "
            "Clone the companion's repository and run `make` in it (or `pip install -c constraints.txt -r "
            "requirements.txt && pip install --no-deps -e .`), then open this chapter from its book/ folder.")
    folder = os.path.abspath("reptile-companion")
    if not os.path.isdir(folder):
        subprocess.run(["git", "clone", "-q", "--depth", "1", repository, folder], check=True)
    loaded = sorted({"numpy", "torch", "pandas", "matplotlib"} & set(sys.modules))
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    subprocess.run(pip + ["-c", "constraints.txt", "-r", "requirements.txt"], cwd=folder, check=True)
    subprocess.run(pip + ["--no-deps", "--no-build-isolation", "-e", "."], cwd=folder, check=True)
    sys.path.insert(0, os.path.join(folder, "src"))
    importlib.invalidate_caches()
    os.chdir(os.path.join(folder, "book"))
    print(f"Installed the reptile package from {repository} in {folder}.")
    if loaded:
        raise RuntimeError(f"This session had already loaded {', '.join(loaded)}, which the install may have "
                           "replaced: restart the session (Colab: Runtime > Restart session) and run all cells again.")
'''


def cell_source(repository: str) -> str:
    """The setup cell's code, naming ``repository`` ("" for none)."""
    return f'{TEMPLATE}\n\n_setup("{repository}")\ndel _setup'


def check_url(url: str) -> str:
    if not URL.fullmatch(url):
        raise ValueError(f"repository {url!r}: allowed: the repository's https address, of the form "
                         f"https://HOST/OWNER/NAME (what the publishing workflow calls $REPOSITORY_URL)")
    return url


def _setup_index(nb, path: Path) -> tuple[int, bool]:
    """Where the setup cell is (or goes): right after the first code cell, which must be tagged ``parameters``."""
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    if not code or "parameters" not in nb.cells[code[0]].metadata.get("tags", []):
        raise SystemExit(f"{path}: its first code cell is not tagged 'parameters'")
    i = code[0] + 1
    present = (i < len(nb.cells) and nb.cells[i].cell_type == "code"
               and nb.cells[i].source.startswith(TEMPLATE.split("\n", 1)[0]))
    return i, present


def _read(path: Path):
    """``path`` read: (notebook, index of its setup cell, whether it has one, the repository the cell names)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    i, present = _setup_index(nb, path)
    m = CALL.search(nb.cells[i].source) if present else None
    return nb, i, present, m.group(1) if m else None


def stored_repository(path: Path) -> str | None:
    """The repository ``path``'s setup cell names ("" for none), or None when it has no setup cell."""
    return _read(path)[3]


def problems(book: Path = BOOK, repository: str | None = None) -> list[str]:
    """How each notebook's setup cell differs from the template (naming ``repository`` where given): one line each."""
    out = []
    for path in sorted(book.glob("*.ipynb")):
        nb, i, present, stored = _read(path)
        if not present:
            out.append(f"{path}: no setup cell after its parameters cell")
        elif repository is not None and stored != repository:
            out.append(f"{path}: its setup cell names {stored or 'no repository'}, not {repository}")
        elif nb.cells[i].source != cell_source(stored or "") or nb.cells[i].metadata.get("tags") != ["remove-cell"]:
            out.append(f"{path}: its setup cell differs from the template (or is not tagged remove-cell)")
    return out


def write(book: Path = BOOK, repository: str | None = None) -> list[Path]:
    """Every notebook's setup cell written from the template (inserted where missing), naming ``repository``, or
    the repository it names already when None."""
    import nbformat

    written = []
    for path in sorted(book.glob("*.ipynb")):
        nb, i, present, stored = _read(path)
        url = repository if repository is not None else (stored or "")
        cell = nbformat.v4.new_code_cell(cell_source(url), id=CELL_ID, metadata={"tags": ["remove-cell"]})
        nb.cells[i:i + present] = [cell]
        nbformat.write(nb, path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reptile.launch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--book", type=Path, default=BOOK, help="the folder of the notebooks (default: book/)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("set-repository", help="name URL in every setup cell").add_argument("url")
    sub.add_parser("check", help="exit 1 unless every setup cell is the template").add_argument("--repository")
    sub.add_parser("update", help="rewrite every setup cell from the template, keeping the repository it names")
    a = parser.parse_args(argv)
    from .cli import fail

    if not a.book.is_dir() or not any(a.book.glob("*.ipynb")):
        fail(parser, f"--book {a.book}: allowed: a folder of notebooks, e.g. book/")
    if a.command in ("set-repository", "update"):
        try:
            url = check_url(a.url) if a.command == "set-repository" else None
        except ValueError as e:
            fail(parser, e)
        for path in write(a.book, url):
            print(f"wrote the setup cell of {path}")
        return
    found = problems(a.book, getattr(a, "repository", None))
    if found:
        sys.exit("\n".join(found) + "\nrun `python -m reptile.launch set-repository URL` (or `update`) and commit")
    names = sorted({stored_repository(p) or "none" for p in a.book.glob("*.ipynb")})
    print(f"every notebook's setup cell is the template; the repository it names: {', '.join(names)}")


# ------------------------------------------------------------------------------------------ Sphinx extension

def drop_text_page_launch_buttons(app, pagename, templatename, context, doctree) -> None:
    """Colab opens only .ipynb files and Binder shows a MyST page as text: a text page offers no launch button."""
    if Path(str(app.env.doc2path(pagename))).suffix != ".ipynb" and "header_buttons" in context:
        context["header_buttons"][:] = [b for b in context["header_buttons"] if b.get("label") != "launch-buttons"]


def setup(app):
    app.connect("html-page-context", drop_text_page_launch_buttons, priority=900)  # after the theme's (500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    main()
