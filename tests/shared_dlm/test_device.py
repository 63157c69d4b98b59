"""Device names are checked before anything is loaded, with one message per way they can be wrong."""

import pytest
import torch

from shared_dlm import DeviceError, check_device


def test_the_cpu_is_always_there():
    assert check_device("cpu") == torch.device("cpu") and check_device(" cpu:0 ") == torch.device("cpu:0")


@pytest.mark.parametrize("name", ["banana", "", "meta", "cuda:x", "gpu"])
def test_unknown_names_say_what_is_expected(name):
    with pytest.raises(DeviceError, match="expected cpu, cuda, cuda:N or mps"):
        check_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_cuda_asked_for_where_there_is_none_is_said_so(name):
    with pytest.raises(DeviceError, match="CUDA was asked for, but this machine has no CUDA device"):
        check_device(name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_cuda_index_past_the_last_device_is_named():
    with pytest.raises(DeviceError, match="CUDA device"):
        check_device(f"cuda:{torch.cuda.device_count()}")


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")
def test_mps_where_there_is_none_is_said_so():
    with pytest.raises(DeviceError, match="MPS"):
        check_device("mps")
