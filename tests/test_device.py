"""Choosing the device: names, and the GPU of each process under torchrun."""

import pytest
import torch

from pyrovae.base.device import resolve_device
from pyrovae.base.errors import ConfigError


def test_auto_and_named_devices():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="'gpu' is not a torch device"):
        resolve_device("gpu")


def test_under_torchrun_each_process_takes_the_gpu_of_its_local_rank(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("auto") == torch.device("cuda", 1)
    assert resolve_device("cuda") == torch.device("cuda", 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)  # a named GPU stays named
    monkeypatch.setenv("LOCAL_RANK", "2")
    with pytest.raises(ConfigError, match="there are 2: give torchrun --nproc_per_node=2"):
        resolve_device("cuda")


@pytest.mark.parametrize("name", ["mps", "meta", "xpu"])
def test_device_types_other_than_cpu_and_cuda_are_refused(name):
    with pytest.raises(ConfigError, match=f"device '{name}' is not supported: pyrovae runs on "
                                          f"cpu or cuda"):
        resolve_device(name)
