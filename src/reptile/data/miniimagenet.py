"""Mini-ImageNet for the few-shot experiments (Section 5.1), from a copy the user brings.

Mini-ImageNet is derived from ImageNet (ILSVRC-2012), whose terms of access apply, so nothing here downloads it.
The split is Ravi & Larochelle's (64 train / 16 val / 20 test classes x 600 images), given by ``train.csv``,
``val.csv`` and ``test.csv`` (header ``filename,label``): those in the data folder when all three are there, else
the copies committed in ``reptile/data/splits/miniimagenet/``.

Accepted layouts in ``<data root>/miniimagenet/`` (see :mod:`reptile.data.datasets` for the data root), tried in this
order with ``layout="auto"``:

- ``"images"``: an ``images/`` folder of JPEGs named as in the csv files (the Ravi / Vinyals layout);
- ``"pickle"``: ``mini-imagenet-cache-{train,validation,test}.pkl``, each a dict ``{"image_data": uint8 array
  (N, 84, 84, 3), "class_dict": {wnid: [row indices]}}`` (only load pickles you trust: unpickling runs code);
- ``"folders"``: ``{train,val,test}/<wnid>/*.JPEG`` (the layout the authors' code reads; the images of a class
  are taken in sorted file-name order, and each class must hold as many as the csv lists for it).

Reading, as in the authors' code (openai/supervised-reptile, ``supervised_reptile/miniimagenet.py``:
``Image.open(f).resize((84, 84)).convert('RGB')``, then ``/ 0xff``): images that are not 84x84 are resized with
``resample`` (default ``"nearest"``: the default of ``Image.resize`` in the Pillow of 2018, before Pillow 7 made it
bicubic; pass e.g. ``"lanczos"`` for an anti-aliased resize), then converted to RGB; no augmentation. Images are
stored as ``uint8`` ``(n_classes, 600, 3, 84, 84)`` and ``FewShotSplit.to_float`` gives ``uint8 / 255`` in [0, 1].

The decoded arrays are cached per split (see :mod:`reptile.data.datasets`), keyed by the layout, the csv lists, the
source files' sizes and modification times, and the resize filter.
"""

from __future__ import annotations

import csv
import io
import os
import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .datasets import (DataCorruptError, DataNotFoundError, FewShotSplit, cache_key, cache_root, data_root,
                       file_identity, load_cached_arrays, try_save_cache, where_data_root)

SPLITS = ("train", "val", "test")
PICKLES = {"train": "mini-imagenet-cache-train.pkl", "val": "mini-imagenet-cache-validation.pkl",
           "test": "mini-imagenet-cache-test.pkl"}
STANDARD_SPLIT = {"train": (64, 600), "val": (16, 600), "test": (20, 600)}  # classes, images per class
LAYOUTS = ("auto", "images", "pickle", "folders")
IMAGE_SIZE = 84
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
RESAMPLE = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
            "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS,
            "box": Image.Resampling.BOX, "hamming": Image.Resampling.HAMMING}
CACHE_FORMAT = 1
COMMITTED_SPLITS = Path(__file__).resolve().parent / "splits" / "miniimagenet"


@dataclass(frozen=True)
class SplitList:
    """One split's classes (in csv order) and, per class, its image file names (in csv order)."""

    name: str
    classes: dict[str, list[str]]

    @property
    def n_per_class(self) -> int:
        return len(next(iter(self.classes.values())))


@dataclass(frozen=True, eq=False)
class MiniImageNetData:
    """The three splits, ``uint8`` ``(n_classes, n_per_class, 3, 84, 84)``; ``layout`` and ``folder`` say what was
    read, ``split_lists`` which csv files gave the split and ``standard_split`` whether they are Ravi &
    Larochelle's."""

    train: FewShotSplit
    val: FewShotSplit
    test: FewShotSplit
    layout: str
    folder: Path
    split_lists: Path
    standard_split: bool
    cache_files: tuple[Path, ...]
    from_cache: bool
    load_seconds: float


# ----------------------------------------------------------------------------------------------------- csv lists

def read_split_csv(path: Path) -> SplitList:
    """Parse a ``filename,label`` csv into a :class:`SplitList`, checking its header, rows and class sizes."""
    name = path.stem
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or [c.strip() for c in rows[0]] != ["filename", "label"]:
        raise DataCorruptError(f"{path}: header {rows[0] if rows else 'missing'}; expected 'filename,label'")
    classes: dict[str, list[str]] = {}
    for k, row in enumerate(rows[1:], start=2):
        if len(row) != 2 or not row[0] or not row[1]:
            raise DataCorruptError(f"{path} line {k}: {row!r}; expected '<image file name>,<wnid>'")
        classes.setdefault(row[1], []).append(row[0])
    if not classes:
        raise DataCorruptError(f"{path}: no rows; expected one row per image")
    sizes = {len(v) for v in classes.values()}
    if len(sizes) != 1:
        raise DataCorruptError(f"{path}: classes have different numbers of images ({sorted(sizes)}); expected the "
                               f"same number for every class")
    return SplitList(name, classes)


def split_lists(folder: Path) -> tuple[dict[str, SplitList], Path]:
    """The three split lists: the csv files in ``folder`` when all three are there, else the committed ones."""
    present = [s for s in SPLITS if (folder / f"{s}.csv").is_file()]
    if present and len(present) != len(SPLITS):
        missing = [f"{s}.csv" for s in SPLITS if s not in present]
        raise DataCorruptError(f"{folder} holds {', '.join(s + '.csv' for s in present)} but not "
                               f"{', '.join(missing)}; expected all three split lists or none (then the committed "
                               f"Ravi & Larochelle lists are used)")
    where = folder if present else COMMITTED_SPLITS
    lists = {s: read_split_csv(where / f"{s}.csv") for s in SPLITS}
    _check_disjoint(lists, where)
    return lists, where


def _check_disjoint(lists: dict[str, SplitList], where: Path) -> None:
    seen: dict[str, str] = {}
    for s, sl in lists.items():
        for wnid in sl.classes:
            if wnid in seen:
                raise DataCorruptError(f"{where}: class {wnid} is in both {seen[wnid]}.csv and {s}.csv; expected "
                                       f"disjoint splits")
            seen[wnid] = s


def is_standard(lists: dict[str, SplitList]) -> bool:
    """Whether the lists are Ravi & Larochelle's (the same rows, in the same order, as the committed csv files)."""
    return all(lists[s].classes == sl.classes for s, sl in committed_split_lists().items())


def committed_split_lists() -> dict[str, SplitList]:
    """The committed Ravi & Larochelle lists (64/16/20 classes x 600 images)."""
    return {s: read_split_csv(COMMITTED_SPLITS / f"{s}.csv") for s in SPLITS}


# -------------------------------------------------------------------------------------------------- layouts

def _layout_paths(folder: Path) -> dict[str, str]:
    return {
        "images": f"{folder / 'images'}/<file name from the csv> (+ {folder}/{{train,val,test}}.csv, optional)",
        "pickle": ", ".join(str(folder / PICKLES[s]) for s in SPLITS),
        "folders": f"{folder}/{{train,val,test}}/<wnid>/*.JPEG",
    }


def layout_present(folder: Path, layout: str) -> bool:
    """Whether ``folder`` holds ``layout`` ("images", "pickle" or "folders"; its content is checked later)."""
    if layout == "images":
        return (folder / "images").is_dir()
    if layout == "pickle":
        return all((folder / PICKLES[s]).is_file() for s in SPLITS)
    return all((folder / s).is_dir() for s in SPLITS)


def detect_layout(folder: Path) -> str | None:
    """The first layout present in ``folder`` (images, pickle, folders), or None."""
    return next((lay for lay in LAYOUTS[1:] if layout_present(folder, lay)), None)


def _not_found(root: Any, folder: Path, layout: str) -> DataNotFoundError:
    paths = _layout_paths(folder)
    tried = paths if layout == "auto" else {layout: paths[layout]}
    lines = "\n".join(f"  - {k}: {v}" for k, v in tried.items())
    return DataNotFoundError(
        f"Mini-ImageNet not found (layout={layout!r}). Looked for:\n{lines}\n{where_data_root(root)}\n"
        f"Mini-ImageNet is derived from ImageNet (ILSVRC-2012); ImageNet's terms of access apply, so it is not "
        f"downloaded: bring your own copy (request access at https://image-net.org/) in one of the layouts above, "
        f"with the 64/16/20 classes x 600 images of the Ravi & Larochelle split (the lists are committed in "
        f"{COMMITTED_SPLITS}).")


# ------------------------------------------------------------------------------------------------------ decoding

def decode_image(data: bytes | Path, where: str, resample: str) -> np.ndarray:
    """One image as ``(84, 84, 3)`` ``uint8``: resized (when not 84x84) with ``resample``, then made RGB."""
    try:
        src = io.BytesIO(data) if isinstance(data, bytes) else data
        with Image.open(src) as im:
            im.load()
            if im.size != (IMAGE_SIZE, IMAGE_SIZE):
                im = im.resize((IMAGE_SIZE, IMAGE_SIZE), RESAMPLE[resample])
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except Exception as e:
        raise DataCorruptError(f"{where}: not a readable image ({type(e).__name__}: {e})") from e


def _decode_files(paths: list[list[Path]], resample: str) -> np.ndarray:
    n, k = len(paths), len(paths[0])
    out = np.empty((n, k, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    for i, row in enumerate(paths):
        for j, p in enumerate(row):
            out[i, j] = decode_image(p, str(p), resample)
    return out


def _images_files(folder: Path, sl: SplitList, where: Path) -> list[list[Path]]:
    """The ``images/`` files of a split, all checked to exist before any decoding."""
    images = folder / "images"
    present = set(os.listdir(images))
    missing = [f for names in sl.classes.values() for f in names if f not in present]
    if missing:
        raise DataCorruptError(
            f"{images}: {len(missing)} of the {sum(len(v) for v in sl.classes.values())} images that "
            f"{where / (sl.name + '.csv')} lists are missing (e.g. {', '.join(missing[:3])}); expected every file "
            f"named in the csv (a complete Mini-ImageNet images/ folder)")
    return [[images / f for f in names] for names in sl.classes.values()]


def _folder_files(folder: Path, sl: SplitList) -> list[list[Path]]:
    """The ``<split>/<wnid>/`` files of a split, checked against the csv's classes and class size."""
    split_dir = folder / sl.name
    found = sorted(d.name for d in split_dir.iterdir() if d.is_dir())
    if set(found) != set(sl.classes):
        extra, lacking = sorted(set(found) - set(sl.classes)), sorted(set(sl.classes) - set(found))
        raise DataCorruptError(f"{split_dir}: class folders {len(found)} (missing {lacking[:3]}, unexpected "
                               f"{extra[:3]}); expected the {len(sl.classes)} wnids of {sl.name}.csv")
    out = []
    for wnid in sl.classes:
        files = sorted(p for p in (split_dir / wnid).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if len(files) != sl.n_per_class:
            raise DataCorruptError(f"{split_dir / wnid}: {len(files)} images; expected {sl.n_per_class} "
                                   f"(as many as {sl.name}.csv lists for the class)")
        out.append(files)
    return out


def _load_pickle(path: Path, sl: SplitList) -> np.ndarray:
    """A split's images from a ``mini-imagenet-cache-*.pkl``, classes in csv order."""
    try:
        with open(path, "rb") as f:
            d = pickle.load(f)
    except Exception as e:
        raise DataCorruptError(f"{path}: cannot be unpickled ({type(e).__name__}: {e}); expected a dict with "
                               f"'image_data' and 'class_dict'") from e
    if not isinstance(d, dict) or "image_data" not in d or not isinstance(d.get("class_dict"), dict):
        keys = [str(k) for k in d][:5] if isinstance(d, dict) else "-"
        raise DataCorruptError(f"{path}: found a {type(d).__name__} with keys {keys}; expected a dict with "
                               f"'image_data' (uint8 array) and 'class_dict' (dict wnid -> row indices)")
    data, class_dict = np.asarray(d["image_data"]), d["class_dict"]
    if data.dtype != np.uint8 or data.ndim != 4 or data.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise DataCorruptError(f"{path}: image_data is {data.dtype} of shape {data.shape}; expected uint8 "
                               f"(N, {IMAGE_SIZE}, {IMAGE_SIZE}, 3)")
    if set(class_dict) != set(sl.classes):
        diff = sorted(str(w) for w in set(class_dict) ^ set(sl.classes))[:3]
        raise DataCorruptError(f"{path}: class_dict has {len(class_dict)} classes that differ from the "
                               f"{len(sl.classes)} of {sl.name}.csv (e.g. {diff}); expected the same wnids")
    index = []
    for wnid in sl.classes:
        rows = np.asarray(class_dict[wnid], dtype=np.int64).reshape(-1)
        if len(rows) != sl.n_per_class or (len(rows) and (rows.min() < 0 or rows.max() >= len(data))):
            raise DataCorruptError(f"{path}: class {wnid} has {len(rows)} indices, not all in [0, {len(data)}); "
                                   f"expected {sl.n_per_class} indices in [0, {len(data)})")
        index.append(rows)
    return data[np.stack(index)]


def _identity(layout: str, folder: Path, split: str, files: list[list[Path]] | None) -> Any:
    if layout == "pickle":
        return file_identity(folder / PICKLES[split])
    assert files is not None
    return cache_key({"stats": [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for row in files for p in row]})


def load_split(folder: Path, layout: str, sl: SplitList, lists_where: Path, resample: str,
               cache_dir: str | os.PathLike | None) -> tuple[FewShotSplit, Path, bool]:
    """One split: from the cache when its key matches, else decoded (and cached)."""
    files = None
    if layout == "images":
        files = _images_files(folder, sl, lists_where)
    elif layout == "folders":
        files = _folder_files(folder, sl)
    key = cache_key({"format": CACHE_FORMAT, "layout": layout, "list": sl.classes, "split": sl.name,
                     "resample": resample if layout != "pickle" else None, "size": IMAGE_SIZE,
                     "source": _identity(layout, folder, sl.name, files)})
    path = cache_root(cache_dir) / "miniimagenet" / f"miniimagenet-{sl.name}-{key}.npz"
    shape = (len(sl.classes), sl.n_per_class, 3, IMAGE_SIZE, IMAGE_SIZE)
    cached = load_cached_arrays(path, ("images",))
    hit = cached is not None and cached["images"].shape == shape and cached["images"].dtype == np.uint8
    if hit:
        images = cached["images"]
    else:
        hwc = _load_pickle(folder / PICKLES[sl.name], sl) if layout == "pickle" else _decode_files(files, resample)
        images = np.ascontiguousarray(hwc.transpose(0, 1, 4, 2, 3))
        try_save_cache(path, {"images": images})
    wnids = tuple(sl.classes)
    split = FewShotSplit(sl.name, torch.from_numpy(images), wnids, wnids, tuple(0 for _ in wnids))
    return split, path, hit


def load_miniimagenet(root: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
                      layout: str = "auto", resample: str = "nearest") -> MiniImageNetData:
    """Mini-ImageNet (Ravi & Larochelle split) from ``<root>/miniimagenet`` in one of the accepted layouts
    (module docstring): ``train``/``val``/``test`` splits of ``uint8`` ``(n_classes, 600, 3, 84, 84)``;
    ``to_float`` gives [0, 1].

    ``root``: the data root (else ``$REPTILE_DATA``, else ``~/.cache/reptile-companion/data``). ``cache_dir``: the
    cache root (else ``$REPTILE_CACHE``, else ``~/.cache/reptile-companion/cache``). ``layout``: one of
    ``"auto"``, ``"images"``, ``"pickle"``, ``"folders"``. ``resample``: the PIL filter for images that are not
    84x84 (``"nearest"``, ``"bilinear"``, ``"bicubic"``, ``"lanczos"``, ``"box"``, ``"hamming"``). Raises
    :class:`DataNotFoundError` (no data) or :class:`DataCorruptError` (incomplete or malformed data).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; allowed: {', '.join(LAYOUTS)}")
    if resample not in RESAMPLE:
        raise ValueError(f"unknown resample {resample!r}; allowed: {', '.join(RESAMPLE)}")
    started = time.perf_counter()
    folder = data_root(root) / "miniimagenet"
    chosen = detect_layout(folder) if layout == "auto" else layout
    if chosen is None or not layout_present(folder, chosen):
        raise _not_found(root, folder, layout)
    lists, where = split_lists(folder)
    loaded = [load_split(folder, chosen, lists[s], where, resample, cache_dir) for s in SPLITS]
    (train, p1, h1), (val, p2, h2), (test, p3, h3) = loaded
    return MiniImageNetData(train, val, test, chosen, folder, where, is_standard(lists), (p1, p2, p3),
                            h1 and h2 and h3, time.perf_counter() - started)
