import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config import VARIANTS  # noqa: E402
from tiny import tiny_config, tiny_model  # noqa: E402,F401

torch.set_num_threads(min(2, torch.get_num_threads() or 1))


@pytest.fixture(params=VARIANTS)
def variant(request):
    return request.param
