"""The machine's measured fp32 peak, the figure "% of peak" divides by.

Two kernels, both timed in their own worker process with the benchmark's thread count:

- conv: a 3x3 convolution, 128 -> 128 channels at 80x80, batch 1, stride 1, padding 1, bias,
  channels-last, fp32, through PyTorch (oneDNN on x86): the size and layout of a detector's neck;
  "% of peak" divides by this one, since detectors are convolutions;
- matmul: torch.mm of two 2048 x 2048 fp32 matrices, shown beside it. On some CPUs (AMD EPYC)
  the matmul rate is about half of what the convolution reaches, so a percentage of it would
  overstate how close a backend is to the machine's limit.

FLOPs count 2 per multiply-accumulate, as the models' GFLOPs do.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

from .load import contended, contention_text, mean_load
from .workers import Timings, WorkerPool, WorkerSpec, run_blocks

CONV = {"batch": 1, "cin": 128, "cout": 128, "size": 80, "k": 3}
MATMUL_N = 2048


def conv_flops(batch: int, cin: int, cout: int, size: int, k: int) -> int:
    """FLOPs of a stride-1 'same' convolution (bias adds not counted)."""
    return 2 * batch * cout * size * size * cin * k * k


def peak_calls(device: str = "cpu") -> tuple[dict[str, Callable[[], object]], dict]:
    """Worker factory: the two kernels as zero-argument calls, and their FLOPs."""
    import torch

    from ..devices import select_device

    device = select_device(device)
    c = CONV
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(c["batch"], c["cin"], c["size"], c["size"], generator=gen)
    w = torch.rand(c["cout"], c["cin"], c["k"], c["k"], generator=gen) - 0.5
    b = torch.rand(c["cout"], generator=gen)
    cl = torch.channels_last
    x, w, b = (
        x.to(device).contiguous(memory_format=cl),
        w.to(device).contiguous(memory_format=cl),
        b.to(device),
    )
    m1 = torch.rand(MATMUL_N, MATMUL_N, generator=gen).to(device)
    m2 = torch.rand(MATMUL_N, MATMUL_N, generator=gen).to(device)

    def sync() -> None:
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)

    def conv() -> None:
        with torch.inference_mode():
            torch.nn.functional.conv2d(x, w, b, padding=c["k"] // 2)
        sync()

    def matmul() -> None:
        with torch.inference_mode():
            torch.mm(m1, m2)
        sync()

    info = {"flops": {"conv": conv_flops(**c), "matmul": 2 * MATMUL_N**3}}
    return {"conv": conv, "matmul": matmul}, info


def describe_kernels() -> dict[str, str]:
    c = CONV
    return {
        "conv": f"3x3 conv {c['cin']}->{c['cout']} ch at {c['size']}x{c['size']}, batch "
        f"{c['batch']}, channels-last, fp32 (PyTorch/oneDNN)",
        "matmul": f"matmul {MATMUL_N}x{MATMUL_N} fp32 (torch.mm)",
    }


def summarize(t: Timings, flops: dict[str, int], threads: int) -> dict:
    """The peak record: GFLOP/s of each kernel (its median call), and the load meanwhile."""
    other = mean_load(t.loads["peak"])
    out = {"threads": threads, "other_cores": other, "contention": contended(other),
           "contention_text": contention_text(other)}  # fmt: skip
    for kind, text in describe_kernels().items():
        times = t.values("peak", kind)
        med = statistics.median(times)
        out[kind] = {"kernel": text, "median_ms": med, "gflops_s": flops[kind] / med / 1e6,
                     "runs": len(times)}  # fmt: skip
    return out


def measure_peak(threads: int, runs: int = 6, warmup: int = 1, device: str = "cpu") -> dict:
    """Conv and matmul peaks, measured in a worker process with `threads` torch threads."""
    spec = WorkerSpec("peak", peak_calls, (device,), threads)
    with WorkerPool([spec]) as pool:
        info = pool["peak"].info
        t = run_blocks(pool, runs, warmup, ("conv", "matmul"))
    return summarize(t, info["flops"], info["torch_threads"])


def peak_line(peak: dict) -> str:
    """One line for reports."""
    conv, mm = peak["conv"], peak["matmul"]
    return (f"measured peak (threads: {peak['threads']}): {conv['gflops_s']:.1f} GFLOP/s on a "
            f"{conv['kernel']}; {mm['gflops_s']:.1f} GFLOP/s on a {mm['kernel']}; "
            f"contention: {peak['contention_text']}")  # fmt: skip


def percent_of(gflops: float, median_ms: float, peak_gflops_s: float) -> float:
    """The share of a peak (%) that a model of `gflops` per call reaches at `median_ms`."""
    return 100.0 * (gflops / (median_ms / 1e3)) / peak_gflops_s
