"""Training throughput and memory of yoloarena next to the official YOLOv5 v7.0 train.py, on CPU.

yolov5n from scratch (random init; official ``--weights '' --cfg models/yolov5n.yaml``) on coco128
(128 images), imgsz 320, batch 16, 2 loader workers, 3 epochs, fp32, both sides with PyTorch's
default thread count. Every training run is a subprocess, watched from here: its output is
timestamped as it arrives (line by line, and each tqdm refresh), and every 0.2 s the memory of its
process tree is read from /proc (VmRSS and VmHWM of the main process, VmRSS of its DataLoader
worker children; PSS of the tree every 5th sample).

- ours: ``python -m yoloarena train model=yolov5n data=<copy> epochs=3 imgsz=320 batch=16
  workers=2 device=cpu plots=False project=<tmp>``; epoch time = results.csv ``time_s``;
- official: ``python train.py --data <copy> --weights '' --cfg models/yolov5n.yaml --img 320
  --batch-size 16 --workers 2 --epochs 3 --device cpu --noplots --project <tmp> --exist-ok``
  from YOLOV5_OFFICIAL; epoch time from the timestamps of its progress bar.

Two modes: ``train-only`` (ours ``val=False``, official ``--noval``): ours' time_s is the training
loop plus the last.pt save; the official time is its progress bar from 0/8 to 8/8, the training
loop alone (its checkpoint save and, in the last epoch, the validation it runs even with --noval
come after). ``full`` (validation after every epoch): ours' time_s; the official time runs from
the start of one epoch's bar to the next one's (the last: to its "epochs completed" line). Each
round runs, per mode, ours and official back to back, the order flipped every other round; the
tables quote medians over the rounds. Both sides start through the same small runpy launcher,
which prints the torch and OpenCV thread counts of the training process when it exits. Before
each run the script waits (up to --quiet-wait s) for the other processes on the machine to go
quiet, and it reports the CPU they used during every run: times of runs that shared the cores
are not comparable.

Usage::

    python benchmarks/train.py              # ours only; says that the official part is skipped
    YOLOV5_OFFICIAL=/tmp/yolov5_v7 YOLOV5_OFFICIAL_DEPS=/tmp/yolov5_deps \\
    YOLOV5_CONFIG_DIR=/tmp/yolov5_config python benchmarks/train.py [--rounds 2] [--epochs 3]

YOLOV5_OFFICIAL is a scratch checkout of ultralytics/yolov5 at tag v7.0 (outside this repo),
patched to run offline as in shared/REFERENCE-RUNS.md; YOLOV5_OFFICIAL_DEPS holds its extra
dependencies (appended to sys.path of the official process, so our own packages take precedence);
YOLOV5_CONFIG_DIR holds its fonts. Shared assets are found through YOLOARENA_SHARED (default:
../shared next to the repo); they are never written to: both sides train on a copy in a temporary
folder, which also holds our scan cache (YOLOARENA_CACHE_DIR). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import torch
import yaml
from common import stage_coco128

from yoloarena.bench.environment import cpu_name, load_note
from yoloarena.data.load import load_dataset

MODEL, IMGSZ, BATCH, WORKERS = "yolov5n", 320, 16, 2
MODES = ("train-only", "full")
MB = 1024  # kB per MB
BUSY = 0.2  # cores used by other processes during a run above which its times are flagged
SKIP_HINT = (
    "official comparison SKIPPED: set YOLOV5_OFFICIAL to a patched v7.0 checkout of "
    "ultralytics/yolov5 (and YOLOV5_OFFICIAL_DEPS to its extra deps); see benchmarks/README.md"
)
# The launcher of both sides: `-m yoloarena` or train.py as __main__ through runpy, with a report
# of the thread counts of the training process at its exit (loader workers leave by os._exit).
LAUNCHER = """\
import atexit, os, runpy, sys

def report():
    import cv2, torch
    print(f"[bench] threads: torch {torch.get_num_threads()} (inter-op "
          f"{torch.get_num_interop_threads()}), cv2 {cv2.getNumThreads()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}", flush=True)

kind, target, extra_path, *args = sys.argv[1:]
if extra_path:
    sys.path.append(extra_path)
atexit.register(report)
sys.argv = [target, *args]
if kind == "module":
    runpy.run_module(target, run_name="__main__", alter_sys=True)
else:
    runpy.run_path(target, run_name="__main__")
"""
PRIME_OFFICIAL = """\
import sys
if sys.argv[2]:
    sys.path.append(sys.argv[2])
from utils.dataloaders import LoadImagesAndLabels
LoadImagesAndLabels(sys.argv[1], 320, 16, stride=32)
"""
ANSI = re.compile(r"\x1b\[[0-9;]*m")
OURS_START = re.compile(r"^training \S+ for \d+ epochs")
OURS_EPOCH = re.compile(r"^epoch (\d+)/(\d+)\s.*\(\d+(?:\.\d+)?s\)\s*$")
OFF_BARE = re.compile(r"^\s*0%\|[^|]*\|\s*0/\d+\s")  # a new tqdm bar, before its description
OFF_BAR = re.compile(r"^\s*(\d+)/(\d+)\s+[\d.]+G\s.*\|\s*(\d+)/(\d+)\s")
OFF_DONE = re.compile(r"^\d+ epochs completed in")
THREADS = re.compile(r"^\[bench\] threads: (.*)$")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=2, help="alternation rounds (>= 2 flips order)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument(
        "--extra-models",
        nargs="*",
        default=["damoyolo-t"],
        help="more of our models to train after each yolov5n pair (ours only: the official "
        "DAMO-YOLO trainer needs CUDA); reported against our yolov5n with their GFLOPs",
    )
    p.add_argument("--interval", type=float, default=0.2, help="seconds between memory samples")
    p.add_argument("--timeout", type=float, default=1200, help="seconds per training run")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=120,
        help="before each run, wait up to this many seconds for other processes to use < 0.15 "
        "cores over 3 s (0: start at once)",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary folder (runs, timestamped output.log of each)",
    )
    return p.parse_args(argv)


def find_official() -> tuple[SimpleNamespace | None, str]:
    """The official checkout and its deps folder, or None and the reason."""
    root = os.environ.get("YOLOV5_OFFICIAL")
    if not root:
        return None, "YOLOV5_OFFICIAL is not set"
    root_path = Path(root).resolve()
    if not (root_path / "train.py").is_file():
        return None, f"YOLOV5_OFFICIAL={root} is not a yolov5 checkout"
    deps = os.environ.get("YOLOV5_OFFICIAL_DEPS", "")
    return SimpleNamespace(root=root_path, deps=str(Path(deps).resolve()) if deps else ""), ""


def prime_caches(yaml_path: Path, off: SimpleNamespace | None) -> int:
    """Write both label caches before any timing (ours under YOLOARENA_CACHE_DIR); the number
    of training images."""
    images = len(load_dataset(yaml_path, "train"))
    if off is None:
        return images
    folder = yaml_path.parent / yaml.safe_load(yaml_path.read_text())["train"]
    cmd = [sys.executable, "-c", PRIME_OFFICIAL, str(folder), off.deps]
    done = subprocess.run(cmd, cwd=off.root, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"priming the official label cache failed:\n{done.stderr[-3000:]}")
    return images


# ----------------------------------------------------------------------------- watching a run


@dataclass
class Sample:
    t: float  # seconds since the start of the run
    main_rss: int  # kB
    main_hwm: int  # kB, the kernel's peak RSS of the main process so far
    total_rss: int  # kB, main + descendants
    workers: int  # descendant processes
    total_pss: int | None = None  # kB, every few samples


@dataclass
class Watched:
    lines: list[tuple[float, str]] = field(default_factory=list)  # (seconds, text)
    samples: list[Sample] = field(default_factory=list)
    wall: float = 0.0
    returncode: int = 0
    other_load: float = 0.0  # cores used by processes outside this run and this script
    waited: float = 0.0  # seconds waited for a quiet machine before the start


def descendants(pid: int) -> list[int]:
    """pid's children, grandchildren, ... from the parent ids in /proc/*/stat."""
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            kids.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(kids.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(kids.get(child, []))
    return found


def status_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of pid in kB (zeros once it has gone)."""
    out = {"VmRSS": 0, "VmHWM": 0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in out:
                out[key] = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return out


def pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def sample(pid: int, t: float, with_pss: bool) -> Sample:
    kids = descendants(pid)
    main = status_kb(pid)
    total = main["VmRSS"] + sum(status_kb(k)["VmRSS"] for k in kids)
    pss = sum(pss_kb(p) for p in [pid, *kids]) if with_pss else None
    return Sample(t, main["VmRSS"], main["VmHWM"], total, len(kids), pss)


def read_output(stream, t0: float, out: list[tuple[float, str]]) -> None:
    """Split the child's output at \\r and \\n; each piece is stamped when its first byte came
    (tqdm writes "\\r<status>" and flushes, so its refreshes are stamped when drawn)."""
    fd, pending, since = stream.fileno(), b"", 0.0
    while chunk := os.read(fd, 1 << 16):
        now = time.perf_counter() - t0
        pieces = re.split(rb"[\r\n]", chunk)
        for i, piece in enumerate(pieces):
            if not pending:
                since = now
            pending += piece
            if i < len(pieces) - 1:  # a separator followed this piece
                if pending.strip():
                    out.append((since, ANSI.sub("", pending.decode(errors="replace"))))
                pending = b""
    if pending.strip():
        out.append((since, ANSI.sub("", pending.decode(errors="replace"))))


def cpu_seconds() -> tuple[float, float]:
    """(CPU seconds the machine spent busy, steal included; CPU seconds of this script and its
    reaped descendants), both since boot or start."""
    ticks = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    own = sum(
        r.ru_utime + r.ru_stime
        for r in (resource.getrusage(resource.RUSAGE_SELF),
                  resource.getrusage(resource.RUSAGE_CHILDREN))
    )  # fmt: skip
    return (user + nice + system + irq + softirq + steal) / ticks, own


def other_load(since: tuple[float, float], seconds: float) -> float:
    """Cores used by other processes (and stolen by the hypervisor) since `since`."""
    busy, own = cpu_seconds()
    return max(0.0, (busy - since[0]) - (own - since[1])) / max(seconds, 1e-9)


def wait_quiet(limit: float, window: float = 3.0, threshold: float = 0.15) -> float:
    """Wait up to limit seconds for a window in which other processes use < threshold cores."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        since = cpu_seconds()
        time.sleep(window)
        if other_load(since, window) < threshold:
            break
    return time.perf_counter() - t0


def watch(cmd: list[str], cwd: Path, args: argparse.Namespace) -> Watched:
    """Run cmd, stamping its output and sampling the memory of its process tree until it exits."""
    interval, timeout = args.interval, args.timeout
    waited = wait_quiet(args.quiet_wait) if args.quiet_wait > 0 else 0.0
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    since = cpu_seconds()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    t0 = time.perf_counter()
    run = Watched(waited=waited)
    reader = threading.Thread(target=read_output, args=(proc.stdout, t0, run.lines), daemon=True)
    reader.start()
    n = 0
    while proc.poll() is None:
        now = time.perf_counter() - t0
        if now > timeout:
            proc.kill()
            break
        run.samples.append(sample(proc.pid, now, with_pss=n % 5 == 0))
        n += 1
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=interval)
    run.returncode = proc.wait()
    run.wall = time.perf_counter() - t0
    run.other_load = other_load(since, run.wall)
    reader.join(timeout=10)
    return run


# ----------------------------------------------------------------------------- the two sides


@dataclass
class Result:
    side: str
    mode: str
    seconds: list[float]  # per epoch, the time that images/s is computed from
    start: float  # start of epoch 1, seconds since the run started
    ends: list[float]  # per epoch, when it ended (for the memory at its end)
    watched: Watched
    threads: str = "not reported"
    extra: dict[str, list[float]] = field(default_factory=dict)  # other per-epoch times


def run_ours(
    yaml_path: Path, project: Path, mode: str, args: argparse.Namespace, model: str = MODEL
) -> Result:
    cmd = [sys.executable, "-c", LAUNCHER, "module", "yoloarena", "", "train", f"model={model}",
           f"data={yaml_path}", f"epochs={args.epochs}", f"imgsz={IMGSZ}", f"batch={BATCH}",
           f"workers={WORKERS}", "device=cpu", "plots=False", f"project={project}",
           "exist_ok=True", f"val={mode == 'full'}"]  # fmt: skip
    watched = watch(cmd, project.parent, args)
    save_log(watched, project / "output.log")
    check_ok(watched, "ours")
    with (project / "exp" / "results.csv").open() as f:
        seconds = [float(row["time_s"]) for row in csv.DictReader(f)]
    start = next((t for t, s in watched.lines if OURS_START.match(s)), 0.0)
    ends = [t for t, s in watched.lines if OURS_EPOCH.match(s)]
    side = "ours" if model == MODEL else model
    return finish(Result(side, mode, seconds, start, ends, watched), args.epochs)


def run_official(
    off: SimpleNamespace, yaml_path: Path, project: Path, mode: str, args: argparse.Namespace
) -> Result:
    cmd = [sys.executable, "-c", LAUNCHER, "path", "train.py", off.deps, "--data", str(yaml_path),
           "--weights", "", "--cfg", "models/yolov5n.yaml", "--img", str(IMGSZ), "--batch-size",
           str(BATCH), "--workers", str(WORKERS), "--epochs", str(args.epochs), "--device", "cpu",
           "--noplots", "--project", str(project), "--exist-ok"]  # fmt: skip
    if mode == "train-only":
        cmd.append("--noval")
    watched = watch(cmd, off.root, args)
    save_log(watched, project / "output.log")
    check_ok(watched, "official")
    epochs = official_epochs(watched.lines)
    loop = [e["train_end"] - e["start"] for e in epochs]
    period = [e["period_end"] - e["start"] for e in epochs]
    seconds, ends = (loop, [e["train_end"] for e in epochs])
    if mode == "full":
        seconds, ends = (period, [e["period_end"] for e in epochs])
    result = Result("official", mode, seconds, epochs[0]["start"], ends, watched)
    result.extra = {"training loop": loop, "epoch period": period}
    return finish(result, args.epochs)


def official_epochs(lines: list[tuple[float, str]]) -> list[dict[str, float]]:
    """Per epoch of the official progress output: start (its bar drawn), train_end (the bar at
    nb/nb) and period_end (the next epoch's start; the last: the "epochs completed" line)."""
    epochs: dict[int, dict[str, float]] = {}
    bare, done = None, None
    for t, text in lines:
        if OFF_BARE.match(text):
            bare = t
        elif m := OFF_BAR.match(text):
            epoch = epochs.setdefault(int(m[1]), {"start": t if bare is None else bare})
            bare = None
            if m[3] == m[4]:
                epoch.setdefault("train_end", t)
        elif OFF_DONE.match(text):
            done = t
    ordered = [epochs[k] for k in sorted(epochs)]
    for a, b in itertools.pairwise(ordered):
        a["period_end"] = b["start"]
    if ordered:
        ordered[-1]["period_end"] = done if done is not None else ordered[-1].get("train_end", 0)
    return ordered


def save_log(watched: Watched, path: Path) -> None:
    """The run's output, each piece with its time stamp (kept with --keep)."""
    path.write_text("".join(f"{t:9.3f}  {text}\n" for t, text in watched.lines))


def check_ok(watched: Watched, side: str) -> None:
    if watched.returncode:
        tail = "\n".join(s for _, s in watched.lines[-40:])
        raise SystemExit(f"{side} training failed (exit {watched.returncode}):\n{tail}")


def finish(result: Result, epochs: int) -> Result:
    n = (len(result.seconds), len(result.ends))
    if n != (epochs, epochs):
        raise SystemExit(f"{result.side} {result.mode}: parsed {n} epoch times, expected {epochs}")
    for _, text in result.watched.lines:
        if m := THREADS.match(text):
            result.threads = m[1]
    return result


# ----------------------------------------------------------------------------- summaries


def memory(result: Result) -> dict[str, float]:
    """MB: peaks (whole run and within the epochs) and RSS at the end of each epoch."""
    samples = result.watched.samples
    inside = [s for s in samples if result.start <= s.t <= result.ends[-1]] or samples
    out = {
        "peak RSS main, whole run (VmHWM)": max(s.main_hwm for s in samples) / MB,
        "peak RSS main, epochs": max(s.main_rss for s in inside) / MB,
        "peak RSS main+workers, epochs": max(s.total_rss for s in inside) / MB,
        "peak RSS main+workers, whole run": max(s.total_rss for s in samples) / MB,
        "peak PSS main+workers, epochs": max(s.total_pss or 0 for s in inside) / MB,
        "worker processes (max)": max(s.workers for s in samples),
    }
    return out | per_epoch_memory(result)


def per_epoch_memory(result: Result) -> dict[str, float]:
    """MB, per epoch: RSS at its end (the last sample before its end line) and its peak."""
    samples = result.watched.samples
    groups: dict[str, dict[str, float]] = {"end": {}, "end+": {}, "peak": {}, "peak+": {}}
    starts = [result.start, *result.ends[:-1]]
    for k, (start, end) in enumerate(zip(starts, result.ends, strict=True), 1):
        before = [s for s in samples if s.t <= end] or samples[:1]
        within = [s for s in before if s.t >= start] or before[-1:]
        groups["end"][f"RSS main, end of epoch {k}"] = before[-1].main_rss / MB
        groups["end+"][f"RSS main+workers, end of epoch {k}"] = before[-1].total_rss / MB
        groups["peak"][f"peak RSS main, epoch {k}"] = max(s.main_rss for s in within) / MB
        groups["peak+"][f"peak RSS main+workers, epoch {k}"] = max(s.total_rss for s in within) / MB
    return {k: v for group in groups.values() for k, v in group.items()}


def throughput(result: Result, images: int) -> dict[str, float]:
    out = {f"images/s epoch {k}": images / s for k, s in enumerate(result.seconds, 1)}
    out["images/s all epochs"] = images * len(result.seconds) / sum(result.seconds)
    return out


def summary(result: Result, images: int) -> dict[str, float]:
    run = result.watched
    return (
        throughput(result, images)
        | memory(result)
        | {
            "run wall time, s": run.wall,
            "other processes' CPU, cores": run.other_load,
        }
    )


def in_turn(items: list, i: int) -> list:
    """items, reversed on odd rounds (A B, B A, ...)."""
    return items[::-1] if i % 2 else items


def bench_rounds(yaml_path: Path, off, tmp: Path, args: argparse.Namespace) -> list[Result]:
    results = []
    for i in range(args.rounds):
        for mode in args.modes:
            sides = ["ours", "official"] if off is not None else ["ours"]
            for side in [*in_turn(sides, i), *args.extra_models]:
                print(f"  round {i + 1}/{args.rounds}: {mode} {side} ...", file=sys.stderr,
                      flush=True)  # fmt: skip
                project = tmp / "runs" / f"{side}-{mode}-{i + 1}"
                project.mkdir(parents=True)
                if side == "ours":
                    results.append(run_ours(yaml_path, project, mode, args))
                elif side != "official":
                    results.append(run_ours(yaml_path, project, mode, args, side))
                else:
                    results.append(run_official(off, yaml_path, project, mode, args))
    return results


# ----------------------------------------------------------------------------- printing


def print_header(args: argparse.Namespace, images: int, off_note: str) -> None:
    print(f"yoloarena training benchmark (CPU, fp32): {MODEL} from scratch on coco128 "
          f"({images} images)")  # fmt: skip
    print(
        f"  torch {torch.__version__} (default threads {torch.get_num_threads()}), cv2 "
        f"{cv2.__version__}, numpy {np.__version__}, python {platform.python_version()}"
    )
    print(f"  CPU: {cpu_name()} ({os.cpu_count()} logical cores)")
    print(f"  imgsz {IMGSZ}, batch {BATCH}, workers {WORKERS}, epochs {args.epochs}; modes: "
          f"{', '.join(args.modes)}; memory sampled every {args.interval} s")  # fmt: skip
    print(f"  rounds: {args.rounds}, per mode ours and official back to back, the order flipped "
          "every other round; medians")  # fmt: skip
    print(f"  official: {off_note}")
    if args.extra_models:
        print(f"  also ours only: {', '.join(args.extra_models)} (same settings)")
    print(f"  {load_note()} (at the start)\n", flush=True)


def num(value: float) -> str:
    return f"{value:9.2f}" if abs(value) < 10 else f"{value:9.1f}"


def ratio(a: float, b: float | None) -> str:
    return f"{a / b:7.2f}" if b else "      -"


NO_RATIO = {"worker processes (max)", "other processes' CPU, cores"}


def print_mode(mode: str, results: list[Result], images: int) -> None:
    """Median over the rounds of every figure, ours next to official, and the ratio."""
    by_side: dict[str, list[dict]] = {}
    for r in results:
        if r.mode == mode:
            by_side.setdefault(r.side, []).append(summary(r, images))
    ours, off = by_side["ours"], by_side.get("official")
    title = {"train-only": "train-only (ours val=False, official --noval)",
             "full": "full (validation after every epoch)"}[mode]  # fmt: skip
    print(f"{title}, medians over {len(ours)} rounds")
    print(f"  {'':<40} {'ours':>9} {'official':>9} {'ours/off':>8}")
    for key in ours[0]:
        a = statistics.median(s[key] for s in ours)
        b = statistics.median(s[key] for s in off) if off else None
        note = TARGETS.get(key, "")
        b_text = num(b) if b is not None else "  skipped"
        r = ratio(a, None if key in NO_RATIO else b)
        print(f"  {key:<40} {num(a)} {b_text} {r:>8}{note}")
    print()


TARGETS = {
    "images/s all epochs": "   (target >= 1.2)",
    "peak RSS main+workers, epochs": "   (target <= 1)",
    "peak RSS main, whole run (VmHWM)": "   (target <= 1)",
}


def print_extra(name: str, mode: str, results: list[Result], images: int) -> None:
    """Another of our models next to our yolov5n: figures, ratios, and the GFLOPs ratio."""
    from yoloarena.bench.stats import count_flops
    from yoloarena.registry import build_model

    rows = {side: [summary(r, images) for r in results if r.mode == mode and r.side == side]
            for side in (name, "ours")}  # fmt: skip
    gflops = {m: count_flops(build_model(m).train(), IMGSZ) / 1e9 for m in (name, MODEL)}
    print(f"{name} vs our {MODEL} ({mode}; the official DAMO-YOLO trainer cannot train on CPU, "
          f"so no official column), medians over {len(rows[name])} rounds")  # fmt: skip
    print(f"  {'':<40} {name:>9} {MODEL:>9} {'ratio':>8}")
    print(f"  {'GFLOPs at ' + str(IMGSZ) + ' (training form)':<40} {num(gflops[name])} "
          f"{num(gflops[MODEL])} {ratio(gflops[name], gflops[MODEL])}")  # fmt: skip
    last = f"RSS main, end of epoch {len(results[0].seconds)}"
    keys = (
        "images/s all epochs",
        "peak RSS main, whole run (VmHWM)",
        "peak RSS main+workers, epochs",
        "RSS main, end of epoch 1",
        last,
        "run wall time, s",
    )
    for key in keys:
        a = statistics.median(s[key] for s in rows[name])
        b = statistics.median(s[key] for s in rows["ours"])
        print(f"  {key:<40} {num(a)} {num(b)} {ratio(a, b)}")
    rate = {k: statistics.median(s["images/s all epochs"] for s in v) for k, v in rows.items()}
    print(f"  GFLOP/s of training (3x forward FLOPs x images/s): "
          f"{3 * gflops[name] * rate[name]:.1f} {name}, "
          f"{3 * gflops[MODEL] * rate['ours']:.1f} {MODEL}\n")  # fmt: skip


def print_runs(results: list[Result]) -> None:
    """Every run: its epoch times, the RSS at its epoch ends, its wall time."""
    print("every run (epoch times in s; RSS main/main+workers at the epoch ends in MB):")
    for r in results:
        mem = memory(r)
        ends = " ".join(
            f"{mem[f'RSS main, end of epoch {k}']:.0f}/"
            f"{mem[f'RSS main+workers, end of epoch {k}']:.0f}"
            for k in range(1, len(r.ends) + 1)
        )
        secs = " ".join(f"{s:.2f}" for s in r.seconds)
        w = r.watched
        print(f"  {r.mode:<10} {r.side:<8} epochs {secs}  RSS {ends}  wall {w.wall:.1f}")
        print(f"  {'':<19} other processes {w.other_load:.2f} cores (waited {w.waited:.0f} s)")
        for name, values in r.extra.items():
            print(f"  {'':<19} {name}: {' '.join(f'{v:.2f}' for v in values)}")


def print_pairs(results: list[Result], images: int) -> None:
    """images/s ours/official of each back-to-back pair, and the thread counts."""
    rates: dict[tuple[str, int], dict[str, float]] = {}
    seen: dict[tuple[str, str], int] = {}
    for r in results:
        if r.side not in ("ours", "official"):
            continue
        n = seen[r.mode, r.side] = seen.get((r.mode, r.side), 0) + 1
        rates.setdefault((r.mode, n), {})[r.side] = throughput(r, images)["images/s all epochs"]
    for (mode, n), pair in rates.items():
        if len(pair) == 2:
            print(
                f"  {mode} round {n}: images/s ours/official {pair['ours'] / pair['official']:.2f}"
            )
    for side, note in {r.side: r.threads for r in results}.items():
        print(f"  threads of the {side} training process at its exit: {note}")
    print()


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    off, why = find_official()
    off_note = f"ultralytics/yolov5 train.py from {off.root}" if off else f"SKIPPED ({why})"
    tmp = Path(tempfile.mkdtemp(prefix="yoloarena-trainbench-"))
    try:
        os.environ["YOLOARENA_CACHE_DIR"] = str(tmp / "cache")
        yaml_path = stage_coco128(tmp)
        images = prime_caches(yaml_path, off)
        print_header(args, images, off_note)
        results = bench_rounds(yaml_path, off, tmp, args)
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    for mode in args.modes:
        print_mode(mode, results, images)
        for name in args.extra_models:
            print_extra(name, mode, results, images)
    print_runs(results)
    print_pairs(results, images)
    busy = [r for r in results if r.watched.other_load > BUSY]
    if busy:
        print(f"WARNING: {len(busy)} of {len(results)} runs shared the CPU with other processes "
              f"(> {BUSY} cores on average): their times are not comparable")  # fmt: skip
    print(load_note() + " (at the end)")
    if off is None:
        print(f"\n{SKIP_HINT}\n  reason: {why}")


if __name__ == "__main__":
    main()
