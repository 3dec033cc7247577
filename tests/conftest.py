import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def _private_data_cache(tmp_path_factory):
    """Decoded datasets are cached in a folder of this test session, not in the user's cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("REPTILE_CACHE", str(tmp_path_factory.mktemp("data-cache")))
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def _float64_default():
    """Reference computations run in float64; restore the default afterwards."""
    old = torch.get_default_dtype()
    yield
    torch.set_default_dtype(old)


@pytest.fixture
def tmp_store(tmp_path, monkeypatch):
    """Results and checkpoints in a temporary folder, never in the repository's results/."""
    monkeypatch.setenv("REPTILE_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("REPTILE_CHECKPOINTS", str(tmp_path / "checkpoints"))
    return tmp_path
