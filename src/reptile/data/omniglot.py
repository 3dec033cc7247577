"""Omniglot for the few-shot experiments (Section 5.1): 1200 training characters x 4 rotations, 423 test characters.

Source files, in ``<data root>/omniglot/`` (see :mod:`reptile.data.datasets` for the data root): the two official zips
``images_background.zip`` and ``images_evaluation.zip``, or their extracted folders
``images_background/<Alphabet>/characterNN/XXXX_YY.png`` (per set, the zip is used when both are there). Both the
official zips and the project's re-encoded copy are accepted; what is checked is the content (30 + 20 alphabets,
964 + 659 characters, 20 drawings each, 105x105 pixels), and the md5 is only recorded.

How images are read, as in the authors' code (openai/supervised-reptile, ``supervised_reptile/omniglot.py``,
``Character.sample``: ``Image.open(f).resize((28, 28)).rotate(rotation)`` then ``np.array(img).astype('float32')``):
the PNGs are 1-bit (PIL mode ``"1"``), for which PIL's ``resize`` always uses nearest-neighbour sampling, so the
28x28 image is a nearest-neighbour subsample of the 105x105 drawing; nothing is inverted: the background is white
(1.0) and the strokes are black (0.0), so the values are exactly 0 or 1. Here they are stored as ``uint8`` 0/255
(``FewShotSplit.to_float`` divides by 255, giving exactly the authors' 0.0/1.0). PIL's ``rotate`` by a multiple of
90 degrees is counter-clockwise and exact, which equals ``torch.rot90(x, k=degrees // 90, dims=(-2, -1))``.

Split, as in the authors' ``run_omniglot.py`` / ``split_dataset``: the 1623 characters of both sets are sorted by
(alphabet, character) (the order of ``sorted(os.listdir(...))`` over the merged folder), shuffled with
``random.Random(split_seed)`` (Python's ``random.seed(seed)`` then ``random.shuffle``), and the first 1200 are the
training characters, the remaining 423 the test characters; no validation split. Only training characters are
augmented, by rotations of 0/90/180/270 degrees, each a separate class (4800 training classes, the four rotations of
a character adjacent, as in ``augment_dataset``).

The decoded, unrotated ``(1623, 20, 28, 28)`` array is cached (see :mod:`reptile.data.datasets`), keyed by the zips' md5
(or the extracted files' sizes and modification times) and the resize method; the split and the rotations are
applied after loading it.
"""

from __future__ import annotations

import io
import os
import random
import re
import shutil
import socket
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

from .datasets import (DATA_ENV, DataCorruptError, DataNotFoundError, FewShotSplit, cache_key, cache_root,
                       data_root, file_identity, load_cached_arrays, md5sum, try_save_cache, where_data_root)
from ..validate import is_int

URL_BASE = "https://raw.githubusercontent.com/brendenlake/omniglot/master/python"
SETS = ("images_background", "images_evaluation")
EXPECTED = {"images_background": (30, 964), "images_evaluation": (20, 659)}  # alphabets, characters
KNOWN_MD5 = {
    "images_background": {"68d2efa1b9178cc56df9314c21c6e718": "official",
                          "c3cd339b434e6e0c3a497a51ff6b9a66": "rebuilt (project's shared data)"},
    "images_evaluation": {"6b91aef0f799c5bb55b94e3f2daec811": "official",
                          "9536e125622dbc3136ab62e756a7e959": "rebuilt (project's shared data)"},
}
N_DRAWINGS = 20
N_TRAIN = 1200
SOURCE_SIZE = 105
IMAGE_SIZE = 28
ROTATIONS = (0, 90, 180, 270)
RESIZE_METHOD = "PIL 1-bit Image.resize((28, 28)) = nearest neighbour; white 255, ink 0"
CACHE_FORMAT = 1
DOWNLOAD_TIMEOUT_S = 30.0
_MEMBER = re.compile(r"^(?P<set>images_background|images_evaluation)/(?P<alphabet>[^/]+)/"
                     r"(?P<character>character\d+)/(?P<file>\d{4}_\d{2}\.png)$")


@dataclass(frozen=True)
class Source:
    """Where one of the two sets was read from: ``kind`` is ``"zip"`` or ``"folder"``; ``md5`` (zips only) and
    ``md5_known`` (``"official"``, ``"rebuilt ..."`` or None for an unknown checksum whose content passed)."""

    set_name: str
    kind: str
    path: Path
    md5: str | None = None
    md5_known: str | None = None


@dataclass(frozen=True, eq=False)
class OmniglotData:
    """The loaded dataset: ``train`` (4800 classes = 1200 characters x 4 rotations) and ``test`` (423 characters),
    20 images each, ``uint8`` ``(n_classes, 20, 1, 28, 28)``."""

    train: FewShotSplit
    test: FewShotSplit
    split_seed: int
    sources: tuple[Source, ...]
    cache_file: Path | None
    from_cache: bool
    load_seconds: float


# ----------------------------------------------------------------------------------------------- finding the files

def _looked_for(omniglot_dir: Path, set_name: str) -> str:
    return (f"{omniglot_dir / (set_name + '.zip')} or the folder "
            f"{omniglot_dir / set_name}/<Alphabet>/characterNN/*.png")


def find_sources(omniglot_dir: Path) -> tuple[dict[str, Source], list[str]]:
    """For each set, its zip (preferred) or extracted folder under ``omniglot_dir``; and the sets not found."""
    found: dict[str, Source] = {}
    missing: list[str] = []
    for s in SETS:
        zip_path, folder = omniglot_dir / f"{s}.zip", omniglot_dir / s
        if zip_path.is_file():
            found[s] = Source(s, "zip", zip_path)
        elif folder.is_dir():
            found[s] = Source(s, "folder", folder)
        else:
            missing.append(s)
    return found, missing


def _not_found_message(root: Any, omniglot_dir: Path, missing: list[str], download_note: str) -> str:
    looked = "\n".join(f"  - {_looked_for(omniglot_dir, s)}" for s in missing)
    urls = " and ".join(f"{URL_BASE}/{s}.zip" for s in missing)
    return (f"Omniglot not found. Looked for:\n{looked}\n{where_data_root(root)}\n"
            f"To get it: download {urls} into {omniglot_dir}/ (keep the zips, or unzip them there); "
            f"{download_note}")


# ------------------------------------------------------------------------------------------- listing and checking

def _group_members(names: list[str], set_name: str) -> dict[str, list[str]]:
    """``"Alphabet/characterNN"`` -> the names of its PNGs (sorted), for names that follow the official layout."""
    chars: dict[str, list[str]] = {}
    for n in names:
        m = _MEMBER.match(n)
        if m and m["set"] == set_name:
            chars.setdefault(f"{m['alphabet']}/{m['character']}", []).append(n)
    return {c: sorted(v) for c, v in chars.items()}


def check_counts(set_name: str, where: Path, chars: dict[str, list[str]]) -> None:
    """Raise :class:`DataCorruptError` unless ``chars`` has the set's alphabets and characters, 20 drawings each."""
    n_alpha, n_char = EXPECTED[set_name]
    alphabets = {c.split("/")[0] for c in chars}
    bad = {c: len(v) for c, v in chars.items() if len(v) != N_DRAWINGS}
    if len(alphabets) == n_alpha and len(chars) == n_char and not bad:
        return
    examples = ", ".join(f"{c}: {k}" for c, k in sorted(bad.items())[:3])
    raise DataCorruptError(
        f"{where} does not hold the Omniglot {set_name} set: found {len(alphabets)} alphabets, {len(chars)} "
        f"characters, {sum(len(v) for v in chars.values())} drawings"
        + (f", {len(bad)} characters without {N_DRAWINGS} drawings ({examples})" if bad else "")
        + f"; expected {n_alpha} alphabets, {n_char} characters, {N_DRAWINGS} drawings each "
          f"({n_char * N_DRAWINGS} PNGs named {set_name}/<Alphabet>/characterNN/XXXX_YY.png). The file is truncated "
          f"or not the right one: delete it and download it again from {URL_BASE}/{set_name}.zip")


def _open_zip(path: Path, set_name: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataCorruptError(
            f"{path} is not a readable zip archive ({type(e).__name__}: {e}); expected the Omniglot {set_name}.zip "
            f"(md5 {' or '.join(KNOWN_MD5[set_name])}). The file is truncated or damaged: delete it and download it "
            f"again from {URL_BASE}/{set_name}.zip") from e


def list_zip(source: Source) -> dict[str, list[str]]:
    """The characters of a zip and their members, checked against the expected counts."""
    with _open_zip(source.path, source.set_name) as z:
        chars = _group_members(z.namelist(), source.set_name)
    check_counts(source.set_name, source.path, chars)
    return chars


def list_folder(source: Source) -> dict[str, list[str]]:
    """The characters of an extracted folder and their PNG paths (relative to its parent), checked."""
    base = source.path.parent
    names = [p.relative_to(base).as_posix() for p in source.path.glob("*/character*/*.png")]
    chars = _group_members(names, source.set_name)
    check_counts(source.set_name, source.path, chars)
    return chars


def inspect_source(source: Source) -> tuple[Source, dict[str, list[str]], dict[str, Any]]:
    """Check a source's content; return it (with its md5 for a zip), its characters, and its identity for the
    cache key (the zip's md5, or the sizes and modification times of the extracted PNGs)."""
    if source.kind == "zip":
        chars = list_zip(source)
        md5 = md5sum(source.path)
        source = Source(source.set_name, "zip", source.path, md5, KNOWN_MD5[source.set_name].get(md5))
        return source, chars, {"set": source.set_name, "kind": "zip", "md5": md5}
    chars = list_folder(source)
    base = source.path.parent
    stats = [(n, file_identity(base / n)) for c in sorted(chars) for n in chars[c]]
    return source, chars, {"set": source.set_name, "kind": "folder", "files": cache_key({"stats": stats})}


# ------------------------------------------------------------------------------------------------------ decoding

def decode_png(data: bytes, where: str) -> np.ndarray:
    """One drawing as the authors read it: ``(28, 28)`` ``uint8``, white 255, ink 0 (nearest-neighbour resize of
    the 105x105 1-bit image). A non-1-bit PNG is first thresholded at 128 so that the result does not depend on how
    the PNG was encoded."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.size != (SOURCE_SIZE, SOURCE_SIZE):
                raise DataCorruptError(f"{where}: image of {im.size[0]}x{im.size[1]} pixels; expected "
                                       f"{SOURCE_SIZE}x{SOURCE_SIZE}")
            if im.mode != "1":
                im = im.convert("L").point(lambda v: 255 if v >= 128 else 0).convert("1", dither=Image.Dither.NONE)
            small = im.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.NEAREST)
            return np.asarray(small, dtype=np.uint8) * np.uint8(255)
    except DataCorruptError:
        raise
    except Exception as e:
        raise DataCorruptError(f"{where}: not a readable PNG ({type(e).__name__}: {e}); expected a 105x105 "
                               f"Omniglot drawing") from e


def decode_set(source: Source, chars: dict[str, list[str]], order: list[str]) -> np.ndarray:
    """The characters ``order`` of one source: ``uint8`` ``(len(order), 20, 28, 28)``."""
    out = np.empty((len(order), N_DRAWINGS, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    if source.kind == "zip":
        with _open_zip(source.path, source.set_name) as z:
            for i, c in enumerate(order):
                for j, name in enumerate(chars[c]):
                    try:
                        data = z.read(name)
                    except (zipfile.BadZipFile, OSError, EOFError) as e:  # bad CRC, truncated member
                        raise DataCorruptError(f"{source.path}: member {name} cannot be read ({e}); the zip is "
                                               f"damaged: delete it and download it again from "
                                               f"{URL_BASE}/{source.set_name}.zip") from e
                    out[i, j] = decode_png(data, f"{source.path}:{name}")
    else:
        base = source.path.parent
        for i, c in enumerate(order):
            for j, name in enumerate(chars[c]):
                out[i, j] = decode_png((base / name).read_bytes(), str(base / name))
    return out


def sort_key(character_id: str) -> tuple[str, str]:
    """The authors' order: by alphabet, then character folder (``sorted(os.listdir(...))`` at both levels)."""
    alphabet, character = character_id.split("/")
    return alphabet, character


def decode_all(inspected: list[tuple[Source, dict[str, list[str]]]]) -> tuple[np.ndarray, list[str]]:
    """All 1623 characters, sorted by :func:`sort_key`: ``uint8`` ``(1623, 20, 28, 28)`` and their ids."""
    ids = sorted((c for _, chars in inspected for c in chars), key=sort_key)
    if len(set(ids)) != len(ids):
        raise DataCorruptError("the two Omniglot sets share alphabet/character names; expected 50 distinct alphabets")
    row = {c: i for i, c in enumerate(ids)}
    out = np.empty((len(ids), N_DRAWINGS, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for source, chars in inspected:
        order = list(chars)
        out[[row[c] for c in order]] = decode_set(source, chars, order)
    return out, ids


# ------------------------------------------------------------------------------------------------------- download

def _fetch(url: str, folder: Path, filename: str) -> None:
    """torchvision's downloader when available (as ``torchvision.datasets.Omniglot`` uses), else urllib."""
    try:
        from torchvision.datasets.utils import download_url
    except ImportError:
        import urllib.request
        urllib.request.urlretrieve(url, folder / filename)
        return
    download_url(url, str(folder), filename=filename)


def download_omniglot(omniglot_dir: Path, sets: list[str], timeout: float = DOWNLOAD_TIMEOUT_S,
                      fetch: Callable[[str, Path, str], None] | None = None) -> None:
    """Download the official zips of ``sets`` into ``omniglot_dir``. They are fetched into a temporary folder
    outside the data root and their content checked; only when every one passed is ``omniglot_dir`` created and are
    they moved there, so a failed download (no internet, a wrong file, a wrong data root) writes nothing into the
    data root. Network waits are bounded by ``timeout``."""
    fetch = fetch or _fetch
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        with tempfile.TemporaryDirectory(prefix="reptile-omniglot-download-") as staging:
            stage = Path(staging)
            for s in sets:
                part = stage / f".{s}.zip.part"
                fetch(f"{URL_BASE}/{s}.zip", stage, part.name)
                list_zip(Source(s, "zip", part))
            omniglot_dir.mkdir(parents=True, exist_ok=True)
            for s in sets:  # copy (the temporary folder may be on another file system), then rename
                part = omniglot_dir / f".{s}.zip.part"
                try:
                    shutil.copyfile(stage / f".{s}.zip.part", part)
                    os.replace(part, omniglot_dir / f"{s}.zip")
                finally:
                    part.unlink(missing_ok=True)
    finally:
        socket.setdefaulttimeout(old)


def _unrelated_entries(folder: Path) -> list[str]:
    """What makes ``folder`` look like something other than a data root: its visible entries when it has some but
    neither ``omniglot/`` nor ``miniimagenet/``. Empty for an empty or absent folder (a new data root) and for one
    that holds a dataset folder."""
    try:
        names = sorted(e.name for e in folder.iterdir() if not e.name.startswith("."))
    except OSError:
        return []
    return [] if not names or {"omniglot", "miniimagenet"} & set(names) else names


def locate(root: str | os.PathLike | None, download: bool,
           fetch: Callable[[str, Path, str], None] | None = None) -> dict[str, Source]:
    """Both sets' sources, downloading the missing ones when ``download``; else :class:`DataNotFoundError`."""
    omniglot_dir = data_root(root) / "omniglot"
    found, missing = find_sources(omniglot_dir)
    if not missing:
        return found
    if not download:
        raise DataNotFoundError(_not_found_message(root, omniglot_dir, missing,
                                                   "download=False, so no download was tried."))
    if omniglot_dir.parent.exists() and not omniglot_dir.parent.is_dir():
        raise DataNotFoundError(_not_found_message(
            root, omniglot_dir, missing,
            f"no download was tried: the data root {omniglot_dir.parent} is a file, not a folder (a wrong root= or "
            f"${DATA_ENV}?)."))
    unrelated = _unrelated_entries(omniglot_dir.parent)
    if unrelated:
        raise DataNotFoundError(_not_found_message(
            root, omniglot_dir, missing,
            f"no download was tried: the data root {omniglot_dir.parent} holds other things "
            f"({', '.join(unrelated[:3])}{', ...' if len(unrelated) > 3 else ''}) and no omniglot/ or miniimagenet/ "
            f"folder, so it does not look like a data root (a wrong root= or ${DATA_ENV}?), and nothing is written "
            f"into it. To download Omniglot there anyway, create the folder {omniglot_dir} first."))
    try:
        download_omniglot(omniglot_dir, missing, timeout=DOWNLOAD_TIMEOUT_S, fetch=fetch)
    except Exception as e:
        raise DataNotFoundError(_not_found_message(
            root, omniglot_dir, missing,
            f"download=True tried that and failed ({type(e).__name__}: {e}); no internet here? Copy the zips "
            f"there from a machine that has it.")) from e
    found, missing = find_sources(omniglot_dir)
    assert not missing, missing
    return found


# --------------------------------------------------------------------------------------------- loading with cache

def load_characters(root: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
                    download: bool = True) -> tuple[torch.Tensor, list[str], tuple[Source, ...], Path | None, bool]:
    """All 1623 characters, unrotated and unsplit: ``uint8`` ``(1623, 20, 1, 28, 28)`` (white 255, ink 0), their
    ids ``"Alphabet/characterNN"`` in the authors' order, the sources read, the cache file, and whether it was hit.
    """
    sources = locate(root, download)
    inspected = [inspect_source(sources[s]) for s in SETS]
    key = cache_key({"format": CACHE_FORMAT, "resize": RESIZE_METHOD, "size": IMAGE_SIZE,
                     "sources": [ident for _, _, ident in inspected]})
    path = cache_root(cache_dir) / "omniglot" / f"omniglot-{IMAGE_SIZE}x{IMAGE_SIZE}-{key}.npz"
    cached = load_cached_arrays(path, ("images", "ids"))
    shape = (sum(n for _, n in EXPECTED.values()), N_DRAWINGS, IMAGE_SIZE, IMAGE_SIZE)  # 1623 characters
    if cached is not None and cached["images"].shape == shape and cached["images"].dtype == np.uint8 \
            and len(cached["ids"]) == shape[0]:
        images, ids, hit = cached["images"], [str(c) for c in cached["ids"]], True
    else:
        images, ids = decode_all([(src, chars) for src, chars, _ in inspected])
        hit = False
        try_save_cache(path, {"images": images, "ids": np.array(ids)})
    return (torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(2), ids,
            tuple(src for src, _, _ in inspected), path, hit)


def split_characters(ids: list[str], split_seed: int, num_train: int = N_TRAIN) -> tuple[list[int], list[int]]:
    """Indices (into ``ids``, which must be in the authors' sorted order) of the training and test characters:
    ``random.Random(split_seed).shuffle`` of the list, first ``num_train`` train, the rest test."""
    if not is_int(split_seed) or split_seed < 0:
        raise ValueError(f"split_seed must be an integer >= 0, got {split_seed!r}")
    if not is_int(num_train) or not 1 <= num_train < len(ids):
        raise ValueError(f"num_train must be an integer in [1, {len(ids) - 1}], got {num_train!r}")
    order = list(range(len(ids)))
    random.Random(split_seed).shuffle(order)
    return order[:num_train], order[num_train:]


def rotate(images: torch.Tensor, degrees: int) -> torch.Tensor:
    """Counter-clockwise rotation of ``(..., H, W)`` images by a multiple of 90 degrees (PIL's ``rotate``)."""
    if degrees % 90:
        raise ValueError(f"rotation must be a multiple of 90 degrees, got {degrees!r}")
    return torch.rot90(images, k=(degrees // 90) % 4, dims=(-2, -1))


def make_split(name: str, images: torch.Tensor, ids: list[str], index: list[int],
               rotations: tuple[int, ...] = (0,)) -> FewShotSplit:
    """The classes ``index`` of ``images``, each once per rotation (a character's rotations adjacent)."""
    chosen = images[index]
    stacked = torch.stack([rotate(chosen, r) for r in rotations], dim=1)  # (n, n_rot, 20, 1, 28, 28)
    stacked = stacked.reshape(-1, *chosen.shape[1:]).contiguous()
    sources = tuple(ids[i] for i in index for _ in rotations)
    rots = tuple(r for _ in index for r in rotations)
    class_ids = tuple(s if rotations == (0,) else f"{s}/rot{r:03d}" for s, r in zip(sources, rots))
    return FewShotSplit(name, stacked, class_ids, sources, rots)


def load_omniglot(root: str | os.PathLike | None = None, split_seed: int = 0,
                  cache_dir: str | os.PathLike | None = None, download: bool = True) -> OmniglotData:
    """Omniglot as the paper uses it: 1200 training characters x rotations 0/90/180/270 (4800 classes) and 423 test
    characters (unrotated), 20 drawings each, ``uint8`` ``(n_classes, 20, 1, 28, 28)`` (``to_float`` gives the
    authors' 0.0 ink / 1.0 background).

    ``root``: the data root (else ``$REPTILE_DATA``, else ``~/.cache/reptile-companion/data``), holding
    ``omniglot/``. ``split_seed``: the seed of the character shuffle (seed ``s`` gives the split of the authors'
    ``run_omniglot.py --seed s``). ``cache_dir``: where the decoded array is cached (else ``$REPTILE_CACHE``, else
    ``~/.cache/reptile-companion/cache``). ``download``: fetch the official zips into ``<root>/omniglot`` when they
    are missing. Raises :class:`DataNotFoundError` (data missing) or :class:`DataCorruptError` (wrong content).
    """
    if not isinstance(download, bool):
        raise ValueError(f"download must be True or False, got {download!r}")
    if not is_int(split_seed) or split_seed < 0:
        raise ValueError(f"split_seed must be an integer >= 0, got {split_seed!r}")
    started = time.perf_counter()
    images, ids, sources, path, hit = load_characters(root, cache_dir, download)
    train_idx, test_idx = split_characters(ids, split_seed)
    train = make_split("train", images, ids, train_idx, ROTATIONS)
    test = make_split("test", images, ids, test_idx)
    return OmniglotData(train, test, split_seed, sources, path, hit, time.perf_counter() - started)
