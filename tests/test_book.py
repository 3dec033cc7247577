"""The book builds with warnings as errors, and its pages render in a real browser with their figures."""

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
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


# The pages must render from the built folder alone, as a downloaded copy would: every host name fails to resolve and
# every request that would leave the machine goes to a closed port, so nothing is fetched from a CDN.
OFFLINE = ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
           "--proxy-bypass-list=<-loopback>"]


def chromium(*args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
             "--disable-component-update", "--disable-sync", "--virtual-time-budget=5000", *OFFLINE]
    return subprocess.run([browser(), *flags, *args], capture_output=True, text=True, timeout=180)


class VisibleText(HTMLParser):
    """The text a reader sees: everything outside scripts, styles and code (where a literal `\\(` is legitimate)."""

    SKIP = {"script", "style", "noscript", "template", "code", "pre", "textarea", "math"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.chunks: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        if not self.SKIP.intersection(self.stack):
            self.chunks.append(data)

    @classmethod
    def of(cls, html: str) -> str:
        parser = cls()
        parser.feed(html)
        return " ".join(parser.chunks)


@pytest.mark.parametrize("page", ["intro", "sine", "reproducing", "status"])
def test_every_page_is_built(built_book, page):
    html = (built_book / f"{page}.html").read_text()
    assert "<h1>" in html and "Traceback" not in html and "Error" not in re.sub(r"<[^>]+>", "", html)[:2000]


def test_no_table_is_cut_short(built_book):
    """pandas shows a long table as its first and last rows and "N rows × M columns": every table on every page is
    whole (a page that would cut one shows all rows, as the status page does)."""
    pages = sorted(built_book.glob("*.html"))
    assert len(pages) >= 7
    for page in pages:
        cut = re.findall(r"<p>\d+ rows × \d+ columns</p>", page.read_text())
        assert not cut, f"{page.name} shows a table cut short: {cut}"


def test_sine_chapter_renders_with_its_figures(built_book, tmp_path):
    page = built_book / "sine.html"
    html = page.read_text()
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', html)
    assert len(images) >= 4, "Figure 1, the per-task panels, the adaptation curves and the learning curves"
    for src in images:
        assert (built_book / src).stat().st_size > 10_000
    dom = chromium("--dump-dom", page.as_uri()).stdout
    assert "Figure 1" in dom and "Why joint training learns" in dom
    assert re.search(r"Reptile</th>\s*<td[^>]*>\d+\.\d{3} ± \d+\.\d{3}", dom), "the MSE table is rendered"
    shot = tmp_path / "sine.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,2200", page.as_uri())
    img = mpimg.imread(shot)
    assert img.shape[0] >= 2000 and img.shape[1] >= 1200
    assert np.std(img[..., :3]) > 0.05, "the screenshot is blank"
    keep = os.environ.get("REPTILE_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "sine.png")


def test_mathjax_is_served_from_the_book(built_book):
    """MathJax comes from _static/ in the built folder; no page loads it (or anything else MathJax) from the web."""
    pages = sorted(built_book.glob("*.html"))
    assert pages
    for page in pages:
        html = page.read_text()
        remote = re.findall(r'https?://[^"\'\s>]*mathjax[^"\'\s>]*', html, flags=re.I)
        assert not remote, f"{page.name} loads MathJax from the web: {remote}"
    sources = re.findall(r'<script[^>]+src="([^"]*mathjax[^"]*)"', (built_book / "sine.html").read_text(), re.I)
    assert sources == ["_static/mathjax/tex-chtml.js"], sources
    assert (built_book / sources[0]).stat().st_size > 100_000
    assert (built_book / "_static/mathjax/output/chtml/fonts/woff-v2").is_dir(), "MathJax's fonts are shipped too"


PAGES = ["intro", "sine", "taylor", "manifolds", "fewshot", "gradient_combinations", "maml", "protocol",
         "reproducing", "engine", "contract", "status", "bibliography"]


def test_the_page_checks_cover_every_page_of_the_table_of_contents():
    toc = (Path(__file__).resolve().parents[1] / "book" / "_toc.yml").read_text()
    listed = set(re.findall(r"^\s*(?:root|- file):\s*(\S+)", toc, re.M))
    assert listed == set(PAGES), listed ^ set(PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_equations_render_offline(built_book, page):
    """In a browser with no network, MathJax typesets every equation and no raw TeX is left on the page."""
    path = built_book / f"{page}.html"
    html = path.read_text()
    n_math = len(re.findall(r'<(?:span|div) class="math notranslate nohighlight"', html))
    if page in ("sine", "taylor", "manifolds", "fewshot", "gradient_combinations"):
        assert n_math >= 5, f"{page}.html should have equations"
    dom = chromium("--dump-dom", path.as_uri()).stdout
    assert "</html>" in dom, "chromium returned no page"
    text = VisibleText.of(dom)
    raw = [m.group(0) for m in re.finditer(r".{0,30}(?:\\\(|\\\[|\$\$).{0,30}", text)]
    assert not raw, f"raw TeX visible on {page}.html (MathJax did not run): {raw[:5]}"
    rendered = len(re.findall(r"<mjx-container\b", dom))
    assert rendered >= n_math, f"MathJax rendered {rendered} of the {n_math} equations on {page}.html"
    keep = os.environ.get("REPTILE_SCREENSHOTS")
    if keep:
        shot = Path(keep) / f"{page}-math.png"
        Path(keep).mkdir(parents=True, exist_ok=True)
        chromium(f"--screenshot={shot}", "--window-size=1280,1400", path.as_uri())


# ------------------------------------------------------------------------------- the book as a publication

# words about how this project is made, not about the results: they have no place in the published pages
INTERNAL = ("session", "seed text", "SOURCE.json", ".ci/", "device-session", "PROTOCOL.md", "../shared")
VERDICTS = {"reproduces", "differs", "holds", "does not hold", "not resolved", "under way", "not yet run", "no source"}


def _page_text(path: Path) -> str:
    """A built page's text as a reader sees it, code included, without scripts, styles and the navigation."""
    html = path.read_text()
    main = re.search(r"<main\b.*?</main>", html, re.S)
    html = main.group(0) if main else html
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", VisibleTextWithCode.of(html))


class VisibleTextWithCode(VisibleText):
    SKIP = {"script", "style", "noscript", "template", "textarea", "math"}


# the figures each chapter draws: Figure 1 and its companions, the expansion's and Figure 2's, the learning curves,
# Figure 3 and its final accuracies
FIGURES = {"sine": 5, "taylor": 3, "manifolds": 3, "fewshot": 1, "gradient_combinations": 2, "maml": 1}


@pytest.mark.parametrize("page", PAGES)
def test_every_figure_is_numbered_and_captioned_with_alt_text(built_book, page):
    """Every image of results sits in a numbered figure with a caption, and its alt text describes it (not a file
    path)."""
    html = (built_book / f"{page}.html").read_text()
    figures = re.findall(r"<figure\b.*?</figure>", html, re.S)
    inside = {src for f in figures for src in re.findall(r'<img[^>]+src="([^"]+)"', f)}
    for img in re.findall(r"<img\b[^>]*>", html):
        src = re.search(r'src="([^"]+)"', img).group(1)
        if "_images/" not in src and not src.startswith("data:"):
            continue  # the theme's own (logo, icons)
        assert src in inside, f"{page}.html: an image outside a figure (no caption): {src[:80]}"
        alt = (re.search(r'alt="([^"]*)"', img) or [None, ""])[1]
        assert len(alt) >= 15 and not re.search(r"\.(png|svg|jpg)|_images|/", alt), f"{page}.html: alt {alt!r}"
    # the chapters' figures are there at all (a page that lost them would pass the checks above)
    assert len(figures) >= FIGURES.get(page, 0), f"{page}.html: {len(figures)} figures, {FIGURES[page]} expected"
    for f in figures:
        assert '<span class="caption-number">' in f, f"{page}.html: a figure without a number"
        caption = re.search(r'<span class="caption-text">(.*?)</span><a class="headerlink"', f, re.S)
        assert caption and len(re.sub(r"<[^>]+>", "", caption.group(1))) >= 60, f"{page}.html: a short caption"


@pytest.mark.parametrize("page", PAGES)
def test_every_table_has_a_caption(built_book, page):
    """Every table of a page, generated from results or written in its Markdown, carries a caption of its own."""
    html = (built_book / f"{page}.html").read_text()
    for table in re.findall(r"<table\b.*?</table>", html, re.S):
        caption = re.search(r"<caption\b.*?</caption>", table, re.S)
        text = re.sub(r"<[^>]+>", "", caption.group(0)).strip() if caption else ""
        assert len(text) >= 30, f"{page}.html: a table without a caption: {re.sub(r'<[^>]+>', ' ', table)[:120]!r}"


@pytest.mark.parametrize("page", PAGES)
def test_no_internal_wording(built_book, page):
    text = _page_text(built_book / f"{page}.html")
    for word in INTERNAL:
        hits = [m.group(0) for m in re.finditer(rf".{{0,40}}{re.escape(word)}.{{0,40}}", text, re.I)]
        assert not hits, f"{page}.html says {word!r}: {hits[:3]}"
    # the paper's later revision is explained on the Protocol page; any other page that names it links there
    if page != "protocol" and re.search(r"later (arXiv )?revision", text, re.I):
        assert "protocol.html#later-revision" in (built_book / f"{page}.html").read_text(), \
            f"{page}.html names the later revision without linking to where it is explained"


def test_every_link_stays_inside_the_book(built_book):
    """Relative links and sources resolve to a file of the built book: none points at the repository's files (a
    notebook, a results file, a file outside the book) that a reader of the site does not have."""
    for page in sorted(built_book.glob("*.html")):
        html = page.read_text()
        for target in re.findall(r'(?:href|src)="([^"]+)"', html):
            if re.match(r"(https?:|mailto:|data:|#|javascript:)", target):
                continue
            path = target.split("#")[0].split("?")[0]
            if not path:
                continue
            resolved = (page.parent / path).resolve()
            assert resolved.is_relative_to(built_book.resolve()) and resolved.exists(), \
                f"{page.name} links to {target}, which is not part of the built book"


def test_the_front_page_has_the_verdict_table(built_book):
    html = (built_book / "intro.html").read_text()
    table = re.search(r"<table[^>]*>\s*<caption>This companion against the paper.*?</table>", html, re.S)
    assert table, "the front page has no verdict table"
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(0), re.S)[1:]
    assert len(rows) >= 20
    for row in rows:
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        assert cells[-1] in VERDICTS, cells
        href = re.search(r'href="([^"#]+)#([^"]+)"', row)
        assert href, f"a row without a link to its section: {cells[0]}"
        target = (built_book / href.group(1)).read_text()
        assert f'id="{href.group(2)}"' in target, f"{href.group(1)} has no #{href.group(2)}"
