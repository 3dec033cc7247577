"""The chapters' setup cell (reptile.launch): one template in every notebook, written by set-repository, which
refuses a bad address; the cell does nothing where the package is installed, stops with the install instructions
where it is missing and no repository is named, and clones and installs it where one is; text pages lose their
launch buttons."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from reptile import launch

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
URL = "https://github.com/owner/reptile-companion"


def _code(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_the_book_has_its_chapters():
    assert {p.stem for p in NOTEBOOKS} >= {"sine", "taylor", "manifolds", "fewshot", "gradient_combinations",
                                           "status"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebooks_second_code_cell_is_the_setup_cell(path):
    code = _code(path)
    assert "parameters" in code[0].metadata.get("tags", []), "the parameters cell stays first"
    stored = launch.stored_repository(path)
    assert stored is not None, f"{path.name}: no setup cell after its parameters cell"
    assert code[1].source == launch.cell_source(stored)
    assert code[1].metadata.get("tags") == ["remove-cell"] and code[1].outputs == []
    assert stored == "" or launch.check_url(stored) == stored


def test_the_check_command_passes_on_the_committed_notebooks():
    proc = subprocess.run([sys.executable, "-m", "reptile.launch", "check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "every notebook's setup cell is the template" in proc.stdout


@pytest.fixture
def book(tmp_path):
    folder = tmp_path / "book"
    folder.mkdir()
    for p in NOTEBOOKS:
        shutil.copy(p, folder)
    return folder


def _launch(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "reptile.launch", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("bad", ["http://github.com/owner/name", "github.com/owner/name", "https://github.com/owner",
                                 "https://github.com/owner/name/", "https://github.com/o/n\"; import os", ""])
def test_set_repository_refuses_a_bad_address_before_writing(book, bad):
    before = {p.name: p.read_bytes() for p in book.iterdir()}
    proc = _launch("--book", book, "set-repository", bad)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr == (f"python -m reptile.launch: error: repository {bad!r}: allowed: the repository's https "
                           f"address, of the form https://HOST/OWNER/NAME (what the publishing workflow calls "
                           f"$REPOSITORY_URL)\n")
    assert {p.name: p.read_bytes() for p in book.iterdir()} == before


def test_set_repository_writes_the_address_into_every_setup_cell_and_nothing_else(book):
    before = {p.name: _code(p) for p in book.glob("*.ipynb")}
    assert _launch("--book", book, "check", "--repository", URL).returncode == 1
    proc = _launch("--book", book, "set-repository", URL)
    assert proc.returncode == 0, proc.stderr
    for p in book.glob("*.ipynb"):
        code = _code(p)
        assert code[1].source == launch.cell_source(URL) and f'_setup("{URL}")' in code[1].source
        assert [c.source for c in code[2:]] == [c.source for c in before[p.name][2:]]
        assert [c.outputs for c in code] == [c.outputs for c in before[p.name]]
    proc = _launch("--book", book, "check", "--repository", URL)
    assert proc.returncode == 0 and URL in proc.stdout, proc.stderr
    other = _launch("--book", book, "check", "--repository", "https://github.com/someone/else")
    assert other.returncode == 1 and f"names {URL}, not https://github.com/someone/else" in other.stderr
    assert launch.problems(book) == []


def test_check_names_a_setup_cell_that_differs_from_the_template(book):
    path = book / "sine.ipynb"
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    code[1].source = code[1].source.replace("--depth", "--depth=2 --shallow")
    nbformat.write(nb, path)
    proc = _launch("--book", book, "check")
    assert proc.returncode == 1 and f"{path}: its setup cell differs from the template" in proc.stderr
    assert _launch("--book", book, "update").returncode == 0
    assert launch.problems(book) == []


def _without_reptile(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """``code`` in this Python with neither site-packages (-S) nor the environment's or the working folder's paths
    (-I): the package is not importable there."""
    return subprocess.run([sys.executable, "-I", "-S", "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def test_without_the_package_and_without_a_repository_the_cell_says_how_to_install(tmp_path):
    probe = _without_reptile("import importlib.util; print(importlib.util.find_spec('reptile'))", tmp_path)
    assert probe.stdout == "None\n", "the package must not be importable for this test to mean anything"
    proc = _without_reptile(launch.cell_source(""), tmp_path)
    assert proc.returncode == 1
    assert ("ModuleNotFoundError: The reptile package is not installed, and this notebook names no repository to "
            "install it from. Clone the companion's repository and run `make` in it") in proc.stderr
    assert proc.stdout == "" and list(tmp_path.iterdir()) == []


def test_with_the_package_installed_the_cell_does_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(launch.cell_source(URL), namespace)
    assert capsys.readouterr() == ("", "")
    assert os.getcwd() == str(tmp_path) and list(tmp_path.iterdir()) == []
    assert set(namespace) == {"__builtins__"}, "the cell leaves no name for check_parameters to refuse"


def _git(*args, cwd):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], cwd=cwd, check=True,
                   capture_output=True, timeout=60)


# A build backend of a few lines, so that the stand-in repository installs offline in a bare virtual environment (whose
# setuptools may lack what an editable build needs): its editable wheel holds a .pth naming src/.
BACKEND = """\
import os, zipfile

def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    info = "stand_in-0.dist-info/"
    files = {"stand_in.pth": os.path.abspath("src") + "\\n",
             info + "METADATA": "Metadata-Version: 2.1\\nName: stand-in\\nVersion: 0\\n",
             info + "WHEEL": "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}
    with zipfile.ZipFile(os.path.join(wheel_directory, "stand_in-0-py3-none-any.whl"), "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
        z.writestr(info + "RECORD", "".join(f"{n},,\\n" for n in [*files, info + "RECORD"]))
    return "stand_in-0-py3-none-any.whl"

build_wheel = build_editable
"""


@pytest.mark.slow
def test_without_the_package_the_cell_clones_the_repository_installs_it_and_enters_its_book(tmp_path):
    """A stand-in repository with the layout the cell relies on (requirements, constraints, src/reptile, book/) is
    cloned over file:// into the working folder of a fresh virtual environment, and installed there offline."""
    repo = tmp_path / "repo"
    for folder in ("src/reptile", "book", "backend"):
        (repo / folder).mkdir(parents=True)
    (repo / "src" / "reptile" / "__init__.py").write_text("STAND_IN = True\n")
    (repo / "book" / "sine.ipynb").write_text("{}\n")
    (repo / "requirements.txt").write_text("pip\n")
    (repo / "constraints.txt").write_text("# nothing pinned\n")
    (repo / "backend" / "stand_in_backend.py").write_text(BACKEND)
    (repo / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "stand_in_backend"\nbackend-path = ["backend"]\n')
    _git("init", "-q", cwd=repo)
    _git("add", ".", cwd=repo)
    _git("commit", "-q", "-m", "stand-in", cwd=repo)
    venv, work = tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV"))}
    env["PIP_NO_INDEX"] = "1"  # nothing is downloaded
    code = launch.cell_source(f"file://{repo}") + "\nimport os, reptile\nprint(reptile.__file__, os.getcwd())\n"
    proc = subprocess.run([str(python), "-c", code], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    clone = work / "reptile-companion"
    assert proc.stdout.splitlines() == [
        f"Installed the reptile package from file://{repo} in {clone}.",
        f"{clone / 'src' / 'reptile' / '__init__.py'} {clone / 'book'}"]
    again = subprocess.run([str(python), "-c", "import reptile; print(reptile.STAND_IN)"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.stdout == "True\n", "the editable install outlives the session (a restarted kernel finds it)"


class _App:
    class env:
        @staticmethod
        def doc2path(pagename):
            return Path(f"/book/{pagename}{'.md' if pagename == 'intro' else '.ipynb'}")


def test_text_pages_lose_their_launch_buttons_and_notebooks_keep_them():
    buttons = [{"label": "download-buttons"}, {"label": "launch-buttons"}]
    for page, kept in (("intro", ["download-buttons"]), ("sine", ["download-buttons", "launch-buttons"])):
        context = {"header_buttons": [dict(b) for b in buttons]}
        launch.drop_text_page_launch_buttons(_App, page, "page.html", context, None)
        assert [b["label"] for b in context["header_buttons"]] == kept


@pytest.mark.slow
def test_a_built_book_offers_launch_buttons_on_its_notebooks_only(tmp_path):
    """A two-page book built with the theme and a repository address, as the publishing workflow builds the real
    one: the notebook gets Binder and Colab, the MyST text notebook (which Colab cannot open) none."""
    (tmp_path / "book").mkdir()
    (tmp_path / "_config.yml").write_text(textwrap.dedent(f"""\
        title: t
        only_build_toc_files: true
        execute:
          execute_notebooks: force
        repository:
          url: {URL}
          path_to_book: book
          branch: main
        launch_buttons:
          binderhub_url: https://mybinder.org
          colab_url: https://colab.research.google.com
        sphinx:
          extra_extensions:
            - reptile.launch
        """))
    (tmp_path / "book" / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: nb\n")
    (tmp_path / "book" / "intro.md").write_text(
        "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\nkernelspec:\n"
        "  display_name: Python 3\n  language: python\n  name: python3\n---\n# Intro\n\n```{code-cell} ipython3\n"
        "1 + 1\n```\n")
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_markdown_cell("# A notebook"), nbformat.v4.new_code_cell("1 + 1")]
    nbformat.write(nb, tmp_path / "book" / "nb.ipynb")
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(jb), "build", "book/", "-W", "-n", "--path-output", str(tmp_path / "out")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    html = tmp_path / "out" / "_build" / "html"
    page = (html / "nb.html").read_text()
    assert "https://mybinder.org/v2/gh/owner/reptile-companion/main?urlpath=tree/book/nb.ipynb" in page
    assert "https://colab.research.google.com/github/owner/reptile-companion/blob/main/book/nb.ipynb" in page
    intro = (html / "intro.html").read_text()
    assert "mybinder.org" not in intro and "colab.research.google.com" not in intro
