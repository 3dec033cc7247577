"""Repository-wide pytest set-up, so that the short commands work as typed from anywhere in the checkout.

`pytest` runs the unit tests and the book build (testpaths in pyproject.toml: tests/ and book/, where only notebooks
live); `pytest --nbval` also re-executes every chapter in book/ and compares its outputs. For nbval this supplies what
the long command used to spell out: the notebooks run in this environment's Python (`--nbval-current-env`) and their
outputs are sanitized with book/nbval-sanitize.cfg, an absolute path so it is found whatever the working directory.
Either option given on the command line (or nbval's older names, `--current-env` and `--sanitize-with`, or a
`--nbval-kernel-name`) wins over these defaults.
"""

from pathlib import Path

import pytest

SANITIZE = Path(__file__).resolve().parent / "book" / "nbval-sanitize.cfg"


@pytest.hookimpl(trylast=True)  # after nbval's own pytest_configure has folded its deprecated spellings into the new
def pytest_configure(config):
    opt = config.option
    if not hasattr(opt, "nbval_sanitize_with"):  # nbval not installed: nothing to configure
        return
    if opt.nbval_sanitize_with is None:
        opt.nbval_sanitize_with = str(SANITIZE)
    if not opt.nbval_current_env and not opt.nbval_kernel_name:
        opt.nbval_current_env = True
