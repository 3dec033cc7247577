import pytest
import torch


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
