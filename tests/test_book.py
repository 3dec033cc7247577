"""The book builds with warnings as errors, and its pages render in a real browser with their figures."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).with_name("jupyter-book")
    env = {k: v for k, v in os.environ.items() if k not in ("REPTILE_RESULTS", "REPTILE_CHECKPOINTS")}
    proc = subprocess.run([str(jb), "build", "book/", "-W", "-n", "--keep-going", "--path-output", str(out)],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return out / "_build" / "html"


def browser() -> str:
    for name in BROWSERS:
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("CI"):
        pytest.fail(f"no headless browser found (looked for {', '.join(BROWSERS)}); .ci/run installs chromium")
    pytest.skip("no chromium here: install it (apt-get install chromium) to run the rendered-page check")


def chromium(*args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
             "--disable-component-update", "--disable-sync", "--virtual-time-budget=5000"]
    return subprocess.run([browser(), *flags, *args], capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("page", ["intro", "sine", "reproducing", "status"])
def test_every_page_is_built(built_book, page):
    html = (built_book / f"{page}.html").read_text()
    assert "<h1>" in html and "Traceback" not in html and "Error" not in re.sub(r"<[^>]+>", "", html)[:2000]


def test_sine_chapter_renders_with_its_figures(built_book, tmp_path):
    page = built_book / "sine.html"
    html = page.read_text()
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', html)
    assert len(images) >= 4, "Figure 1, the per-task panels, the adaptation curves and the learning curves"
    for src in images:
        assert (built_book / src).stat().st_size > 10_000
    dom = chromium("--dump-dom", page.as_uri()).stdout
    assert "Figure 1" in dom and "Why joint training learns" in dom
    assert re.search(r"Reptile</th>\s*<td>\d+\.\d{3} ± \d+\.\d{3}", dom), "the MSE table is rendered"
    shot = tmp_path / "sine.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,2200", page.as_uri())
    img = mpimg.imread(shot)
    assert img.shape[0] >= 2000 and img.shape[1] >= 1200
    assert np.std(img[..., :3]) > 0.05, "the screenshot is blank"
    keep = os.environ.get("REPTILE_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "sine.png")
