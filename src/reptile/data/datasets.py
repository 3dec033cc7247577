"""What the few-shot data loaders share: where data and caches live, the split container, errors, the array cache.

Data root (read only, never written to except by a download): the ``root`` argument, else ``$REPTILE_DATA``, else
``~/.cache/reptile-companion/data``. It holds one folder per dataset: ``omniglot/`` and ``miniimagenet/``
(the layout the book's Reproducing page describes). A download (Omniglot only) is staged outside it and moved in only
once complete and checked, and is not tried into a folder that holds other things but no dataset folder (a wrong
root): a loader that fails leaves the data root as it found it.

Cache root (decoded arrays, safe to delete): the ``cache_dir`` argument, else ``$REPTILE_CACHE``, else
``$XDG_CACHE_HOME/reptile-companion/cache`` (``~/.cache/reptile-companion/cache``). It is separate from the data root
because the data root may be read-only. Cache files are keyed by the identity of the source files and the decoding
method, and written atomically (temporary file in the same folder, then ``os.replace``), so concurrent loaders and
interrupted writes never leave a half-written cache behind.

Images are stored as ``uint8`` everywhere; :meth:`FewShotSplit.to_float` gives ``float32`` values ``uint8 / 255``
in [0, 1].
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..results import atomic_write

DATA_ENV = "REPTILE_DATA"
CACHE_ENV = "REPTILE_CACHE"
APP_NAME = "reptile-companion"


class DataNotFoundError(FileNotFoundError):
    """A dataset is not where the loader looked. The message names the paths tried and how to get the data."""


class DataCorruptError(ValueError):
    """A data file is there but is not what it should be. The message names the file, what was found and what
    was expected."""


def _user_cache_home() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / APP_NAME


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root``, else ``$REPTILE_DATA``, else ``~/.cache/reptile-companion/data``."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return _user_cache_home() / "data"


def data_root_origin(root: str | os.PathLike | None = None) -> str:
    """Where :func:`data_root` took its answer from, in words (for error messages)."""
    if root is not None:
        return "the root= argument"
    if os.environ.get(DATA_ENV):
        return f"${DATA_ENV}"
    return f"the default (neither root= nor ${DATA_ENV} was given)"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache root: ``cache_dir``, else ``$REPTILE_CACHE``, else ``~/.cache/reptile-companion/cache``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return _user_cache_home() / "cache"


def where_data_root(root: str | os.PathLike | None = None) -> str:
    """One sentence for error messages: the data root in use, where it came from, and how to change it."""
    return (f"The data root is {data_root(root)} (from {data_root_origin(root)}); pass root=... or set "
            f"${DATA_ENV} to the folder that holds omniglot/ and miniimagenet/.")


@dataclass(frozen=True, eq=False)
class FewShotSplit:
    """The classes of one split (train, val or test) of a few-shot dataset.

    ``images``: ``uint8`` tensor ``(n_classes, n_per_class, C, H, W)``; the model's input is ``images / 255``
    (see :meth:`to_float`). ``class_ids[i]`` names class ``i``; ``sources[i]`` is the original class it was made
    from (an Omniglot character ``"Alphabet/characterNN"`` or a WordNet id) and ``rotations[i]`` the rotation in
    degrees (counter-clockwise) applied to that source (0 when not augmented).
    """

    name: str
    images: torch.Tensor
    class_ids: tuple[str, ...]
    sources: tuple[str, ...]
    rotations: tuple[int, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.images, torch.Tensor) or self.images.dtype != torch.uint8 or self.images.dim() != 5:
            raise ValueError(f"images must be a uint8 tensor (n_classes, n_per_class, C, H, W), got "
                             f"{getattr(self.images, 'dtype', type(self.images))} of shape "
                             f"{tuple(getattr(self.images, 'shape', ()))}")
        n = self.images.shape[0]
        for field_name in ("class_ids", "sources", "rotations"):
            v = getattr(self, field_name)
            if len(v) != n:
                raise ValueError(f"{field_name} has {len(v)} entries, but images has {n} classes")
        if len(set(self.class_ids)) != n:
            raise ValueError(f"class_ids of split {self.name!r} are not unique")

    @property
    def n_classes(self) -> int:
        return int(self.images.shape[0])

    @property
    def n_per_class(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(int(s) for s in self.images.shape[2:])  # type: ignore[return-value]

    def __len__(self) -> int:
        return self.n_classes

    def to_float(self, images: torch.Tensor | None = None) -> torch.Tensor:
        """``float32`` in [0, 1]: ``images / 255`` (all of this split's images when ``images`` is None; pass a
        slice, e.g. the images of one task, to convert only those)."""
        x = self.images if images is None else images
        if x.dtype != torch.uint8:
            raise ValueError(f"to_float expects uint8 images, got {x.dtype}")
        return x.to(torch.float32) / 255.0

    def __repr__(self) -> str:
        return (f"FewShotSplit(name={self.name!r}, n_classes={self.n_classes}, n_per_class={self.n_per_class}, "
                f"image_shape={self.image_shape})")


def file_identity(path: Path) -> dict[str, Any]:
    """Size and modification time: what the cache keys use for files too large to hash on every load."""
    st = path.stat()
    return {"name": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def cache_key(parts: Mapping[str, Any]) -> str:
    """A short hash of everything that determines a cache file's content (JSON-serialisable ``parts``)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def atomic_save_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` as an uncompressed ``.npz`` atomically, streaming into the temporary file (no second copy
    of a large array in memory)."""
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_cached_arrays(path: Path, names: Sequence[str]) -> dict[str, np.ndarray] | None:
    """The arrays ``names`` of the cache file ``path``; None when it is absent or unreadable (then the caller
    decodes again and overwrites it)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {n: z[n] for n in names}
    except Exception as e:  # a truncated or foreign file: rebuild it
        warnings.warn(f"ignoring the unreadable cache file {path} ({type(e).__name__}: {e}); decoding again",
                      stacklevel=3)
        return None


def try_save_cache(path: Path, arrays: Mapping[str, np.ndarray]) -> bool:
    """Save a cache file; a failure (read-only or full disk) only warns, since the cache is an optimisation."""
    try:
        atomic_save_arrays(path, arrays)
        return True
    except OSError as e:
        warnings.warn(f"could not write the cache file {path} ({e}); the next load will decode again. Set "
                      f"${CACHE_ENV} or pass cache_dir=... to a writable folder", stacklevel=3)
        return False
