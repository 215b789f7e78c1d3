"""singa.device as SINGA 3.1 defines it, and the per-op time profile."""

from __future__ import annotations

import time

import numpy as np
import pytest

from singa import autograd, device, opt, tensor
from singa.errors import DeviceError
from singa.tensor import Tensor


@pytest.fixture
def cpu():
    """The host device, its profiler reset before and after; the tensor RNG's state
    restored after (SetRandSeed reseeds it for every later test in the process)."""
    dev = device.get_default_device()
    state = tensor.rng().bit_generator.state
    dev.Reset()
    yield dev
    dev.Reset()
    tensor.rng().bit_generator.state = state


# ----------------------------------------------------------------- devices

def test_cpu_device_identity():
    dev = device.create_cpu_device()
    assert dev is device.get_default_device()
    assert dev.id() == -1 and dev.lang() == device.kCpp
    assert dev.host() is dev
    assert isinstance(dev, device.CppCPU)
    dev.Sync()  # nothing queued: returns


def test_gpu_api_matches_what_the_machine_has():
    n = device.get_num_gpus()
    assert isinstance(n, int) and n >= 0
    assert device.get_gpu_ids() == list(range(n))
    if n == 0:
        for make in (device.create_cuda_gpu, lambda: device.create_cuda_gpu_on(0),
                     lambda: device.create_cuda_gpus(1), lambda: device.get_gpu_mem_size(0)):
            with pytest.raises(DeviceError):
                make()
    else:
        gpu = device.create_cuda_gpu()
        assert gpu is device.create_cuda_gpu_on(0)  # one Device per GPU, as in SINGA
        assert gpu.id() == 0 and gpu.lang() == device.kCuda
        assert gpu.host() is device.get_default_device()
        free, total = device.get_gpu_mem_size(0)
        assert 0 < free <= total
        assert "Device id: 0" in device.device_query(0, verbose=True)
    with pytest.raises(DeviceError):
        device.create_cuda_gpu_on(99)


def test_resolve_strings_and_errors():
    assert device.resolve("CPU") is device.get_default_device()
    assert device.resolve(None) is device.get_default_device()
    for bad in ("tpu", "cuda:x"):
        with pytest.raises(DeviceError, match="unknown device"):
            device.resolve(bad)


def test_graph_flag_is_recorded_and_ops_still_run_eagerly(cpu):
    assert not cpu.graph_enabled()
    cpu.EnableGraph(True)
    assert cpu.graph_enabled()
    y = autograd.add(tensor.from_numpy(np.ones(2)), tensor.from_numpy(np.ones(2)))
    np.testing.assert_array_equal(tensor.to_numpy(y), 2)  # computed without RunGraph
    cpu.RunGraph()
    cpu.ResetGraph()
    cpu.Reset()
    assert not cpu.graph_enabled()


def test_set_rand_seed_makes_random_fills_repeat(cpu):
    cpu.SetRandSeed(3)
    a = Tensor((4, 5)).gaussian(0.0, 1.0)
    b = Tensor((3,)).uniform(-1, 1)
    cpu.SetRandSeed(3)
    np.testing.assert_array_equal(tensor.to_numpy(Tensor((4, 5)).gaussian(0.0, 1.0)),
                                  tensor.to_numpy(a))
    np.testing.assert_array_equal(tensor.to_numpy(Tensor((3,)).uniform(-1, 1)),
                                  tensor.to_numpy(b))
    cpu.SetRandSeed(4)
    assert not np.array_equal(tensor.to_numpy(Tensor((4, 5)).gaussian(0.0, 1.0)),
                              tensor.to_numpy(a))


def test_lazy_alloc_switch_exists():
    device.enable_lazy_alloc(False)
    device.Device.EnableLazyAlloc(True)


def test_opencl_is_deliberately_absent():
    for name in ("create_opencl_device", "get_num_opencl_platforms"):
        with pytest.raises(AttributeError, match="create_cuda_gpu"):
            getattr(device, name)


# ----------------------------------------------------------------- profiling

def few_ops(n_mul=3, n_add=2):
    a = tensor.from_numpy(np.full((64, 64), 1.5))
    for _ in range(n_mul):
        a = autograd.mul(a, a)
    for _ in range(n_add):
        a = autograd.add(a, a)
    return a


def rows(dev):
    return {(r.phase, r.op): r for r in dev.time_profile()}


def test_nothing_is_timed_at_verbosity_zero(cpu):
    cpu.SetSkipIteration(0)
    few_ops()
    assert cpu.time_profile() == []


def test_profile_counts_calls_and_time_of_each_table_op(cpu, capsys):
    cpu.SetVerbosity(2)
    cpu.SetSkipIteration(0)
    start = time.perf_counter()
    few_ops(n_mul=3, n_add=2)
    wall = time.perf_counter() - start
    got = rows(cpu)
    assert set(got) == {("forward", "Mul"), ("forward", "Add")}
    assert got["forward", "Mul"].calls == 3 and got["forward", "Add"].calls == 2
    total = sum(r.total_s for r in got.values())
    assert 0 < total <= wall  # measured inside the calls, so never more than the wall time
    for r in got.values():
        assert r.mean_s == pytest.approx(r.total_s / r.calls)
    cpu.PrintTimeProfiling()
    out = capsys.readouterr().out
    assert "Time Profiling" in out
    mul_line = next(line for line in out.splitlines() if line.split()[:2] == ["forward", "Mul"])
    assert mul_line.split()[2] == "3"


def test_skip_iteration_counts_optimizer_steps(cpu):
    cpu.SetVerbosity(2)
    cpu.SetSkipIteration(2)
    w = Tensor(data=np.ones(3), stores_grad=True)
    x = tensor.from_numpy(np.arange(3.0))
    sgd = opt.SGD(lr=0.01, momentum=0.9)
    for it in range(4):
        sgd(autograd.reduce_sum(autograd.mul(w, x), None, 0))
        if it < 2:  # iterations 0 and 1 are skipped
            assert rows(cpu) == {}
    got = rows(cpu)
    # iterations 2 and 3 were timed: one forward Mul and ReduceSum each, one backward walk
    assert got["forward", "Mul"].calls == 2
    assert got["forward", "ReduceSum"].calls == 2
    assert got["backward", "autograd.backward"].calls == 2
    # the update rule ran through the table: v = m*v + (1-d)*g; p -= lr*v
    assert got["update", "Sub"].calls >= 2 and got["update", "Mul"].calls >= 2
    assert cpu.profiler.timed_iterations == 2 and cpu.profiler.iteration == 4


def test_verbosity_one_prints_phase_times(cpu, capsys):
    cpu.SetVerbosity(1)
    cpu.SetSkipIteration(0)
    w = Tensor(data=np.ones(3), stores_grad=True)
    sgd = opt.SGD(lr=0.1)
    for _ in range(2):
        sgd(autograd.reduce_sum(autograd.mul(w, w), None, 0))
    cpu.PrintTimeProfiling()
    out = capsys.readouterr().out
    assert "2 iteration(s) timed" in out
    for phase in ("Forward propagation", "Backward propagation", "Parameter update"):
        line = next(line for line in out.splitlines() if line.startswith(phase))
        assert float(line.split(":")[1].split()[0]) > 0


def test_reset_forgets_the_profile(cpu):
    cpu.SetVerbosity(2)
    cpu.SetSkipIteration(0)
    few_ops()
    assert cpu.time_profile()
    cpu.Reset()
    assert cpu.time_profile() == [] and cpu.profiler.verbosity == 0
    assert cpu.profiler.skip_iteration == 5


def test_negative_skip_is_refused(cpu):
    with pytest.raises(DeviceError, match="negative"):
        cpu.SetSkipIteration(-1)
