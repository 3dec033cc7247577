"""The few-shot data loaders: Omniglot on the real data (../shared/data or $REPTILE_DATA), Mini-ImageNet on small
synthetic fixtures written in the real on-disk formats (the real images are not redistributable)."""

from __future__ import annotations

import csv
import io
import os
import pickle
import time
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reptile.data import miniimagenet as mini
from reptile.data import omniglot
from reptile.data.datasets import (DataCorruptError, DataNotFoundError, FewShotSplit, cache_root, data_root,
                              load_cached_arrays)

REPO = Path(__file__).resolve().parents[1]


def _real_data_root() -> Path | None:
    """$REPTILE_DATA if set, else ../shared/data next to the repository (how CI finds it)."""
    env = os.environ.get("REPTILE_DATA")
    root = Path(env) if env else REPO.parent / "shared" / "data"
    return root if (root / "omniglot").is_dir() else None


DATA = _real_data_root()
# Without the data, these tests are skipped on a developer's machine but fail in CI, where the data must be there.
MISSING = DATA is None and not os.environ.get("CI")
needs_omniglot = pytest.mark.skipif(MISSING, reason="no Omniglot data: set REPTILE_DATA or provide ../shared/data")


# ------------------------------------------------------------------------------------------- Omniglot, real data

@pytest.fixture(scope="session")
def omni_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("omniglot-cache")


@pytest.fixture(scope="session")
def omni(omni_cache) -> omniglot.OmniglotData:
    """The first load of the session: decodes the 32,460 PNGs into a fresh cache (a few seconds)."""
    data = omniglot.load_omniglot(DATA, split_seed=0, cache_dir=omni_cache, download=False)
    print(f"\nfirst Omniglot load (decode + cache write): {data.load_seconds:.2f} s")
    return data


@needs_omniglot
def test_omniglot_counts_and_values(omni):
    assert not omni.from_cache
    assert omni.train.images.shape == (4800, 20, 1, 28, 28) and omni.train.images.dtype == torch.uint8
    assert omni.test.images.shape == (423, 20, 1, 28, 28)
    assert (omni.train.n_classes, omni.train.n_per_class, omni.train.image_shape) == (4800, 20, (1, 28, 28))
    assert omni.test.n_classes == 423 and omni.test.n_per_class == 20
    assert set(torch.unique(omni.test.images).tolist()) == {0, 255}
    x = omni.test.to_float()
    assert x.dtype == torch.float32 and set(torch.unique(x).tolist()) == {0.0, 1.0}
    assert 0.85 < float(x.mean()) < 0.95  # white background (1.0), black strokes (0.0): not inverted
    assert [s.set_name for s in omni.sources] == ["images_background", "images_evaluation"]
    assert all(s.kind == "zip" and s.md5_known is not None for s in omni.sources)
    assert omni.cache_file is not None and omni.cache_file.is_file()


@needs_omniglot
def test_omniglot_train_test_characters_disjoint_and_complete(omni):
    train_chars, test_chars = set(omni.train.sources), set(omni.test.sources)
    assert len(train_chars) == 1200 and len(test_chars) == 423
    assert not train_chars & test_chars
    assert len(train_chars | test_chars) == 1623
    assert len({c.split("/")[0] for c in train_chars | test_chars}) == 50


@needs_omniglot
def test_omniglot_rotations_only_on_training_classes(omni):
    assert set(omni.test.rotations) == {0}
    assert omni.test.class_ids == omni.test.sources
    rots = torch.tensor(omni.train.rotations).reshape(1200, 4)
    assert (rots == torch.tensor([0, 90, 180, 270])).all()
    src = np.array(omni.train.sources).reshape(1200, 4)
    assert (src == src[:, :1]).all() and len(set(src[:, 0])) == 1200
    imgs = omni.train.images.reshape(1200, 4, 20, 1, 28, 28)
    for k in range(4):
        assert torch.equal(imgs[:, k], torch.rot90(imgs[:, 0], k, dims=(-2, -1)))
    assert not torch.equal(imgs[:, 1], imgs[:, 0])


@needs_omniglot
def test_omniglot_pixels_match_the_authors_reading(omni):
    """Image.open(png).resize((28, 28)).rotate(r), np.array(...).astype('float32') as in the authors' code."""
    with zipfile.ZipFile(DATA / "omniglot" / "images_background.zip") as zb, \
            zipfile.ZipFile(DATA / "omniglot" / "images_evaluation.zip") as ze:
        members = {n: z for z in (zb, ze) for n in z.namelist() if n.endswith(".png")}
        for split, idx in ((omni.test, 0), (omni.test, 200), (omni.train, 8), (omni.train, 4001)):
            cid, rot = split.class_ids[idx], split.rotations[idx]
            names = sorted(n for n in members if f"/{split.sources[idx]}/" in n)
            assert len(names) == 20
            for j in (0, 19):
                with Image.open(io.BytesIO(members[names[j]].read(names[j]))) as im:
                    ref = np.array(im.resize((28, 28)).rotate(rot)).astype("float32")
                assert np.array_equal(split.to_float(split.images[idx, j, 0]).numpy(), ref), (cid, j)


@needs_omniglot
def test_omniglot_split_deterministic_and_cached(omni, omni_cache):
    t = time.perf_counter()
    again = omniglot.load_omniglot(DATA, split_seed=0, cache_dir=omni_cache, download=False)
    cached_s = time.perf_counter() - t
    print(f"\ncached Omniglot load: {cached_s:.2f} s")
    assert again.from_cache and again.cache_file == omni.cache_file
    assert cached_s < 10.0  # well under a second on a quiet machine; the decode takes several
    assert again.train.class_ids == omni.train.class_ids and again.test.class_ids == omni.test.class_ids
    assert torch.equal(again.train.images, omni.train.images)
    other = omniglot.load_omniglot(DATA, split_seed=1, cache_dir=omni_cache, download=False)
    assert other.from_cache
    assert set(other.test.sources) != set(omni.test.sources)
    assert len(set(other.train.sources) | set(other.test.sources)) == 1623


def test_split_characters_is_the_authors_shuffle():
    import random
    ids = [f"A{i:02d}/character{j:02d}" for i in range(3) for j in range(1, 11)]
    train, test = omniglot.split_characters(ids, split_seed=5, num_train=20)
    ref = list(ids)
    random.seed(5)
    random.shuffle(ref)  # supervised_reptile.omniglot.split_dataset after run_omniglot.py's random.seed(seed)
    assert [ids[i] for i in train] == ref[:20] and [ids[i] for i in test] == ref[20:]
    with pytest.raises(ValueError, match="split_seed must be an integer >= 0, got -1"):
        omniglot.split_characters(ids, -1)
    with pytest.raises(ValueError, match="num_train must be an integer in"):
        omniglot.split_characters(ids, 0, num_train=30)


def test_load_omniglot_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="split_seed must be an integer >= 0, got 'a'"):
        omniglot.load_omniglot(tmp_path, split_seed="a", download=False)
    with pytest.raises(ValueError, match="download must be True or False, got 'yes'"):
        omniglot.load_omniglot(tmp_path, download="yes")


# ---------------------------------------------------------------------------------------- Omniglot, bad files

def test_truncated_zip_is_a_clear_error(tmp_path):
    folder = tmp_path / "omniglot"
    folder.mkdir()
    (folder / "images_background.zip").write_bytes(b"PK\x03\x04" + bytes(5000))
    (folder / "images_evaluation.zip").write_bytes(b"")
    with pytest.raises(DataCorruptError) as e:
        omniglot.load_omniglot(tmp_path, cache_dir=tmp_path / "cache", download=False)
    msg = str(e.value)
    assert str(folder / "images_background.zip") in msg and "not a readable zip archive" in msg
    assert "68d2efa1b9178cc56df9314c21c6e718" in msg and f"{omniglot.URL_BASE}/images_background.zip" in msg
    assert isinstance(e.value, ValueError)


@needs_omniglot
def test_truncated_real_zip_is_a_clear_error(tmp_path):
    folder = tmp_path / "omniglot"
    folder.mkdir()
    real = (DATA / "omniglot" / "images_evaluation.zip").read_bytes()
    (folder / "images_background.zip").symlink_to(DATA / "omniglot" / "images_background.zip")
    (folder / "images_evaluation.zip").write_bytes(real[: len(real) // 2])  # cut in the middle
    with pytest.raises(DataCorruptError, match="images_evaluation.zip is not a readable zip archive"):
        omniglot.load_omniglot(tmp_path, cache_dir=tmp_path / "cache", download=False)


def _fake_zip(path: Path, set_name: str, alphabets: int, characters: int, drawings: int) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for a in range(alphabets):
            for c in range(1, characters + 1):
                for d in range(1, drawings + 1):
                    z.writestr(f"{set_name}/Alpha{a}/character{c:02d}/{c:04d}_{d:02d}.png", b"")


def test_zip_with_wrong_content_is_a_clear_error(tmp_path):
    folder = tmp_path / "omniglot"
    folder.mkdir()
    _fake_zip(folder / "images_background.zip", "images_background", 2, 3, 20)
    _fake_zip(folder / "images_evaluation.zip", "images_evaluation", 20, 1, 19)
    with pytest.raises(DataCorruptError) as e:
        omniglot.load_omniglot(tmp_path, cache_dir=tmp_path / "cache", download=False)
    msg = str(e.value)
    assert str(folder / "images_background.zip") in msg
    assert "found 2 alphabets, 6 characters, 120 drawings" in msg
    assert "expected 30 alphabets, 964 characters, 20 drawings each" in msg
    with pytest.raises(DataCorruptError, match=r"20 characters without 20 drawings \(Alpha0/character01: 19"):
        omniglot.list_zip(omniglot.Source("images_evaluation", "zip", folder / "images_evaluation.zip"))


def test_bad_png_is_a_clear_error():
    with pytest.raises(DataCorruptError, match="x.zip:a.png: not a readable PNG"):
        omniglot.decode_png(b"not a png", "x.zip:a.png")
    buf = io.BytesIO()
    Image.new("1", (50, 50)).save(buf, "PNG")
    with pytest.raises(DataCorruptError, match="image of 50x50 pixels; expected 105x105"):
        omniglot.decode_png(buf.getvalue(), "y.png")


def test_missing_omniglot_without_download(tmp_path, monkeypatch):
    monkeypatch.setenv("REPTILE_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError) as e:
        omniglot.load_omniglot(cache_dir=tmp_path / "cache", download=False)
    msg = str(e.value)
    for s in ("images_background", "images_evaluation"):
        assert str(tmp_path / "omniglot" / f"{s}.zip") in msg
        assert f"{tmp_path / 'omniglot' / s}/<Alphabet>/characterNN/*.png" in msg
        assert f"https://raw.githubusercontent.com/brendenlake/omniglot/master/python/{s}.zip" in msg
    assert "$REPTILE_DATA" in msg and "download=False, so no download was tried" in msg
    assert isinstance(e.value, FileNotFoundError)


def test_missing_omniglot_download_fails(tmp_path, monkeypatch):
    """No internet (simulated, so that the test does not depend on the machine): a clear error, no leftovers."""
    calls = []

    def offline(url, folder, filename):
        calls.append(url)
        (folder / filename).write_bytes(b"partial")
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(omniglot, "_fetch", offline)
    with pytest.raises(DataNotFoundError) as e:
        omniglot.load_omniglot(tmp_path, cache_dir=tmp_path / "cache", download=True)
    msg = str(e.value)
    assert calls == [f"{omniglot.URL_BASE}/images_background.zip"]
    assert "download=True tried that and failed (URLError" in msg and "the root= argument" in msg
    assert str(tmp_path / "omniglot" / "images_evaluation.zip") in msg
    assert not (tmp_path / "omniglot").exists()


def test_missing_omniglot_real_download_attempt(tmp_path, monkeypatch):
    """The real download path. Offline (as in the project's sandbox) it fails within seconds with the same clear
    error; online it fetches the official zips (15 MB) into the temporary root and loads them."""
    monkeypatch.setattr(omniglot, "DOWNLOAD_TIMEOUT_S", 5.0)
    try:
        data = omniglot.load_omniglot(tmp_path, cache_dir=tmp_path / "cache", download=True)
    except DataNotFoundError as e:
        assert "download=True tried that and failed" in str(e)
        assert f"{omniglot.URL_BASE}/images_background.zip" in str(e)
        assert not any((tmp_path / "omniglot").glob("*.zip*"))
    else:
        assert data.train.n_classes == 4800 and all(s.md5_known == "official" for s in data.sources)


def test_download_of_a_wrong_file_is_refused(tmp_path, monkeypatch):
    def wrong(url, folder, filename):
        (folder / filename).write_bytes(b"<html>rate limited</html>")

    monkeypatch.setattr(omniglot, "_fetch", wrong)
    with pytest.raises(DataNotFoundError, match="not a readable zip archive"):
        omniglot.load_omniglot(tmp_path, cache_dir=tmp_path / "cache", download=True)
    assert not (tmp_path / "omniglot").exists()


# ------------------------------------------------------------------------------------------ roots and the cache

def test_data_and_cache_roots(tmp_path, monkeypatch):
    monkeypatch.delenv("REPTILE_DATA", raising=False)
    monkeypatch.delenv("REPTILE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_root() == tmp_path / "xdg" / "reptile-companion" / "data"
    assert cache_root() == tmp_path / "xdg" / "reptile-companion" / "cache"
    monkeypatch.setenv("REPTILE_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("REPTILE_CACHE", str(tmp_path / "c"))
    assert data_root() == tmp_path / "d" and cache_root() == tmp_path / "c"
    assert data_root(tmp_path / "x") == tmp_path / "x" and cache_root(tmp_path / "y") == tmp_path / "y"


def test_unreadable_cache_file_is_ignored(tmp_path):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.warns(UserWarning, match="ignoring the unreadable cache file"):
        assert load_cached_arrays(bad, ("images",)) is None
    assert load_cached_arrays(tmp_path / "absent.npz", ("images",)) is None


def test_fewshotsplit_checks_its_fields():
    imgs = torch.zeros(2, 3, 1, 4, 4, dtype=torch.uint8)
    s = FewShotSplit("t", imgs, ("a", "b"), ("a", "b"), (0, 0))
    assert (s.n_classes, s.n_per_class, s.image_shape, len(s)) == (2, 3, (1, 4, 4), 2)
    with pytest.raises(ValueError, match="class_ids has 1 entries, but images has 2 classes"):
        FewShotSplit("t", imgs, ("a",), ("a", "b"), (0, 0))
    with pytest.raises(ValueError, match="images must be a uint8 tensor"):
        FewShotSplit("t", imgs.float(), ("a", "b"), ("a", "b"), (0, 0))


# ------------------------------------------------------------------------------- Mini-ImageNet, synthetic data

CLASSES = {"train": ["n01000001", "n01000002", "n01000003"], "val": ["n02000001", "n02000002"],
           "test": ["n03000001", "n03000002"]}
PER_CLASS = 4


def _colour(wnid: str, j: int) -> tuple[int, int, int]:
    k = int(wnid[1:]) % 1000 + 10 * int(wnid[2])
    return (20 * k % 256, 255 - 30 * j, 60 + 5 * k)


def _write_csvs(folder: Path) -> None:
    for split, wnids in CLASSES.items():
        with open(folder / f"{split}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["filename", "label"])
            for wnid in wnids:
                for j in range(PER_CLASS):
                    w.writerow([f"{wnid}{j + 1:08d}.jpg", wnid])


def _jpeg(path: Path, colour: tuple[int, int, int], size: int = 100) -> None:
    Image.new("RGB", (size, size), colour).save(path, "JPEG", quality=95)


@pytest.fixture
def mini_images(tmp_path) -> Path:
    """The Ravi layout: miniimagenet/images/*.jpg (100x100) next to train/val/test.csv."""
    folder = tmp_path / "miniimagenet"
    (folder / "images").mkdir(parents=True)
    _write_csvs(folder)
    for wnids in CLASSES.values():
        for wnid in wnids:
            for j in range(PER_CLASS):
                _jpeg(folder / "images" / f"{wnid}{j + 1:08d}.jpg", _colour(wnid, j))
    return tmp_path


def _check_synthetic(data: mini.MiniImageNetData) -> None:
    for split in ("train", "val", "test"):
        s = getattr(data, split)
        assert s.images.shape == (len(CLASSES[split]), PER_CLASS, 3, 84, 84) and s.images.dtype == torch.uint8
        assert list(s.class_ids) == CLASSES[split] and list(s.sources) == CLASSES[split]
        x = s.to_float()
        assert x.dtype == torch.float32 and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
        for i, wnid in enumerate(CLASSES[split]):
            for j in range(PER_CLASS):
                mean = s.images[i, j].double().mean(dim=(1, 2))
                assert torch.allclose(mean, torch.tensor(_colour(wnid, j), dtype=torch.float64), atol=3), (wnid, j)


def test_mini_images_layout(mini_images, tmp_path):
    data = mini.load_miniimagenet(mini_images, cache_dir=tmp_path / "cache")
    assert data.layout == "images" and not data.from_cache and not data.standard_split
    assert data.split_lists == mini_images / "miniimagenet"
    _check_synthetic(data)
    again = mini.load_miniimagenet(mini_images, cache_dir=tmp_path / "cache")
    assert again.from_cache and torch.equal(again.train.images, data.train.images)
    other = mini.load_miniimagenet(mini_images, cache_dir=tmp_path / "cache", resample="lanczos")
    assert not other.from_cache  # the resize filter is part of the cache key


def test_mini_pickle_layout(tmp_path):
    folder = tmp_path / "miniimagenet"
    folder.mkdir()
    _write_csvs(folder)
    rng = np.random.default_rng(0)
    for split, name in mini.PICKLES.items():
        n = len(CLASSES[split]) * PER_CLASS
        data = rng.integers(0, 256, size=(n, 84, 84, 3), dtype=np.uint8)
        rows = rng.permutation(n)
        class_dict = {w: rows[i * PER_CLASS:(i + 1) * PER_CLASS].tolist() for i, w in enumerate(CLASSES[split])}
        with open(folder / name, "wb") as f:
            pickle.dump({"image_data": data, "class_dict": class_dict}, f)
    loaded = mini.load_miniimagenet(tmp_path, cache_dir=tmp_path / "cache")
    assert loaded.layout == "pickle"
    for split, name in mini.PICKLES.items():
        with open(folder / name, "rb") as f:
            ref = pickle.load(f)
        s = getattr(loaded, split)
        assert s.images.shape == (len(CLASSES[split]), PER_CLASS, 3, 84, 84)
        for i, wnid in enumerate(CLASSES[split]):
            want = torch.from_numpy(ref["image_data"][ref["class_dict"][wnid]]).permute(0, 3, 1, 2)
            assert torch.equal(s.images[i], want)
        assert float(s.to_float().max()) <= 1.0


def test_mini_folders_layout(tmp_path):
    folder = tmp_path / "miniimagenet"
    for split, wnids in CLASSES.items():
        for wnid in wnids:
            (folder / split / wnid).mkdir(parents=True)
            for j in range(PER_CLASS):
                _jpeg(folder / split / wnid / f"{wnid}_{j:04d}.JPEG", _colour(wnid, j), size=120)
    _write_csvs(folder)
    data = mini.load_miniimagenet(tmp_path, cache_dir=tmp_path / "cache", layout="folders")
    assert data.layout == "folders"
    _check_synthetic(data)


def test_mini_missing_image_is_a_clear_error(mini_images, tmp_path):
    (mini_images / "miniimagenet" / "images" / "n0200000200000003.jpg").unlink()
    with pytest.raises(DataCorruptError) as e:
        mini.load_miniimagenet(mini_images, cache_dir=tmp_path / "cache")
    msg = str(e.value)
    assert "1 of the 8 images" in msg and "n0200000200000003.jpg" in msg and "val.csv" in msg


def test_mini_unreadable_image_is_a_clear_error(mini_images, tmp_path):
    bad = mini_images / "miniimagenet" / "images" / "n0100000100000002.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(DataCorruptError, match="n0100000100000002.jpg: not a readable image"):
        mini.load_miniimagenet(mini_images, cache_dir=tmp_path / "cache")


def test_mini_without_csv_uses_the_committed_lists(tmp_path):
    (tmp_path / "miniimagenet" / "images").mkdir(parents=True)
    with pytest.raises(DataCorruptError, match="38400 of the 38400 images that .*train.csv lists are missing"):
        mini.load_miniimagenet(tmp_path, cache_dir=tmp_path / "cache")


def test_mini_partial_csvs_are_refused(mini_images, tmp_path):
    (mini_images / "miniimagenet" / "val.csv").unlink()
    with pytest.raises(DataCorruptError, match="but not val.csv"):
        mini.load_miniimagenet(mini_images, cache_dir=tmp_path / "cache")


def test_mini_missing_data(tmp_path, monkeypatch):
    monkeypatch.setenv("REPTILE_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError) as e:
        mini.load_miniimagenet(cache_dir=tmp_path / "cache")
    msg = str(e.value)
    folder = tmp_path / "miniimagenet"
    assert str(folder / "images") in msg and str(folder / "mini-imagenet-cache-validation.pkl") in msg
    assert f"{folder}/{{train,val,test}}/<wnid>/*.JPEG" in msg
    assert "ImageNet's terms of access" in msg and "bring your own copy" in msg and "$REPTILE_DATA" in msg
    with pytest.raises(DataNotFoundError, match=r"layout='pickle'"):
        mini.load_miniimagenet(cache_dir=tmp_path / "cache", layout="pickle")


def test_mini_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown layout 'zip'; allowed: auto, images, pickle, folders"):
        mini.load_miniimagenet(tmp_path, layout="zip")
    with pytest.raises(ValueError, match="unknown resample 'area'; allowed: nearest"):
        mini.load_miniimagenet(tmp_path, resample="area")


def test_committed_split_lists():
    lists = mini.committed_split_lists()
    assert {s: (len(sl.classes), sl.n_per_class) for s, sl in lists.items()} == mini.STANDARD_SPLIT
    wnids = [w for sl in lists.values() for w in sl.classes]
    assert len(wnids) == len(set(wnids)) == 100
    assert mini.is_standard(lists)
    shared = REPO.parent / "shared" / "data" / "miniimagenet"
    if shared.is_dir():
        for s in mini.SPLITS:
            assert (mini.COMMITTED_SPLITS / f"{s}.csv").read_bytes() == (shared / f"{s}.csv").read_bytes()


@pytest.mark.skipif(MISSING, reason="no data root")
def test_real_miniimagenet_absent_gives_a_clear_error(tmp_path):
    if mini.detect_layout(DATA / "miniimagenet") is not None:
        pytest.skip("a real Mini-ImageNet copy is present; loading it is too slow for the unit tests")
    with pytest.raises(DataNotFoundError, match="Mini-ImageNet not found"):
        mini.load_miniimagenet(DATA, cache_dir=tmp_path / "cache")


def _tiny_omniglot(folder: Path, monkeypatch) -> None:
    """A tiny Omniglot (2 + 1 characters of 20 random 105x105 drawings) as extracted folders, and the expected
    counts patched to match it, to exercise the folder layout without unpacking 32,460 files."""
    rng = np.random.default_rng(1)
    for s, chars in (("images_background", ["Beta/character01", "Alpha/character02"]),
                     ("images_evaluation", ["Gamma/character01"])):
        for c in chars:
            (folder / s / c).mkdir(parents=True)
            for d in range(1, 21):
                px = rng.random((105, 105)) > 0.2
                Image.fromarray(px).convert("1").save(folder / s / c / f"0001_{d:02d}.png")
    monkeypatch.setattr(omniglot, "EXPECTED", {"images_background": (2, 2), "images_evaluation": (1, 1)})


def test_omniglot_folder_layout_equals_zip_layout(tmp_path, monkeypatch):
    folder = tmp_path / "folders" / "omniglot"
    _tiny_omniglot(folder, monkeypatch)
    imgs, ids, sources, _, hit = omniglot.load_characters(tmp_path / "folders", tmp_path / "cache", download=False)
    assert ids == ["Alpha/character02", "Beta/character01", "Gamma/character01"] and not hit
    assert [s.kind for s in sources] == ["folder", "folder"] and imgs.shape == (3, 20, 1, 28, 28)
    zipped = tmp_path / "zips" / "omniglot"
    zipped.mkdir(parents=True)
    for s in omniglot.SETS:
        with zipfile.ZipFile(zipped / f"{s}.zip", "w") as z:
            for p in sorted((folder / s).rglob("*.png")):
                z.write(p, p.relative_to(folder).as_posix())
    zimgs, zids, zsources, _, _ = omniglot.load_characters(tmp_path / "zips", tmp_path / "cache", download=False)
    assert zids == ids and torch.equal(zimgs, imgs) and zsources[0].md5_known is None
    with Image.open(folder / "images_background" / "Beta/character01" / "0001_03.png") as im:
        ref = np.array(im.resize((28, 28))).astype("float32")
    assert np.array_equal(imgs[1, 2, 0].numpy() / 255.0, ref)
    _, _, _, _, hit = omniglot.load_characters(tmp_path / "folders", tmp_path / "cache", download=False)
    assert hit


def test_grayscale_png_reads_like_the_1bit_png():
    px = np.random.default_rng(2).random((105, 105)) > 0.3
    one, grey = io.BytesIO(), io.BytesIO()
    Image.fromarray(px).convert("1").save(one, "PNG")
    Image.fromarray(px.astype(np.uint8) * 255).save(grey, "PNG")
    assert np.array_equal(omniglot.decode_png(one.getvalue(), "1"), omniglot.decode_png(grey.getvalue(), "L"))
