"""Worker processes for fair latency timing: each backend in its own spawned process.

One process holds one runtime (PyTorch, ONNX Runtime, OpenVINO or LiteRT): no other runtime's
thread pool lives beside it, so none can spin on the cores while it is timed (in one process the
three pools competed and inflated the end-to-end figures by up to 1.5x). The workers take turns:
the parent sends one block of calls at a time to one worker while the others wait in a blocking
read (their pools idle), and it samples the machine's load around every block.

Protocol (parent -> worker over a pipe; every request gets one reply, ("ok", payload) or
("error", message)):

- start: the worker sets its torch thread count, calls spec.factory(*spec.args), which returns
  (calls, info): named zero-argument callables and a dict; the worker replies info;
- ("warmup", kinds, n): n untimed calls of each kind;
- ("block", kind, n): one untimed call (so that threads still spinning after the previous
  worker's block do not count), then n timed calls: one dict per call, {"ms": wall ms} plus what
  the call returned when that is a dict (e.g. predict's own pre/post-processing times);
- ("call", kind): one call, its return value sent back (outputs for a parity check);
- ("close",): the worker exits.

A worker that raises replies its message; one that dies (a crash in a runtime, the OOM killer)
is detected while the parent waits, and both give an error naming the backend.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..children import restore_sigchld, set_default_sigchld
from ..errors import YoloArenaError
from .load import BlockLoad, LoadSampler

LOGGER = logging.getLogger("yoloarena")
Calls = dict[str, Callable[[], object]]


@dataclass(frozen=True)
class WorkerSpec:
    """What one worker runs. factory: a module-level (picklable) function returning (calls,
    info); threads: torch's intra-op threads in the worker (0: torch's default)."""

    name: str
    factory: Callable[..., tuple[Calls, dict]]
    args: tuple = ()
    threads: int = 0


def _message(e: BaseException) -> str:
    return str(e) if isinstance(e, YoloArenaError) else f"{type(e).__name__}: {e}"


def _timed(fn: Callable[[], object]) -> dict:
    t0 = time.perf_counter()
    out = fn()
    sample = {"ms": (time.perf_counter() - t0) * 1e3}
    if isinstance(out, dict):
        sample.update(out)
    return sample


def _handle(calls: Calls, op: str, *args) -> object:
    if op == "warmup":
        kinds, n = args
        for kind in kinds:
            for _ in range(n):
                calls[kind]()
        return None
    if op == "block":
        kind, n = args
        calls[kind]()
        return [_timed(calls[kind]) for _ in range(n)]
    if op == "call":
        return calls[args[0]]()
    raise ValueError(f"unknown request {op!r}")


def serve(conn, spec: WorkerSpec) -> None:
    """The worker's main loop (runs in the spawned process)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        import torch

        if spec.threads > 0:
            torch.set_num_threads(spec.threads)
        calls, info = spec.factory(*spec.args)
        conn.send(("ok", {**info, "pid": os.getpid(), "torch_threads": torch.get_num_threads()}))
        while True:
            msg = conn.recv()
            if msg[0] == "close":
                conn.send(("ok", None))
                return
            conn.send(("ok", _handle(calls, *msg)))
    except Exception as e:  # reported to the parent, which names the backend
        with contextlib.suppress(Exception):
            conn.send(("error", _message(e)))


class Worker:
    """The parent's handle of one worker process."""

    def __init__(self, spec: WorkerSpec, ctx) -> None:
        self.spec = spec
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=serve, args=(child, spec), daemon=True,
                                name=f"yoloarena-bench-{spec.name}")  # fmt: skip
        self.proc.start()
        child.close()
        self.info: dict = {}

    @property
    def name(self) -> str:
        return self.spec.name

    def ready(self) -> dict:
        self.info = self._reply("loading it")
        return self.info

    def request(self, *msg, what: str = "timing it") -> object:
        try:
            self.conn.send(msg)
        except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
            raise self._died(what) from None
        return self._reply(what)

    def _reply(self, what: str) -> object:
        while True:
            if self.conn.poll(0.2):
                try:
                    status, payload = self.conn.recv()
                except (EOFError, ConnectionResetError, OSError):
                    raise self._died(what) from None
                if status == "error":
                    raise YoloArenaError(
                        f"backend '{self.name}' failed in its benchmark worker while {what}: "
                        f"{payload}"
                    )
                return payload
            if not self.proc.is_alive() and not self.conn.poll(0):
                raise self._died(what)

    def _died(self, what: str) -> YoloArenaError:
        self.proc.join(2)
        code = self.proc.exitcode
        how = f"exit code {code}"
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                how = f"killed by {signal.Signals(-code).name}"
        return YoloArenaError(
            f"the benchmark worker of backend '{self.name}' died while {what} ({how}); run "
            f"backends={self.name} alone to see its error, or leave that backend out"
        )

    def close(self) -> None:
        if self.proc.is_alive():
            with contextlib.suppress(Exception):
                self.conn.send(("close",))
                if self.conn.poll(5):
                    self.conn.recv()
            self.proc.join(5)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(2)
        self.conn.close()


class WorkerPool:
    """Started workers, one per spec (all start at once, then each must report ready); a
    context manager that closes them all, also on errors."""

    def __init__(self, specs: Sequence[WorkerSpec]) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"worker names must be unique: {names}")
        self.specs = list(specs)
        self.workers: dict[str, Worker] = {}
        self._sigchld: object | None = None  # what SIGCHLD was before (see children.py)

    def __enter__(self) -> WorkerPool:
        ctx = mp.get_context("spawn")  # a fresh interpreter: no thread pool inherited
        self._sigchld = set_default_sigchld()  # the workers' exits are this pool's to notice
        try:
            for spec in self.specs:
                self.workers[spec.name] = Worker(spec, ctx)
            for worker in self.workers.values():
                worker.ready()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getitem__(self, name: str) -> Worker:
        return self.workers[name]

    def pids(self) -> list[int]:
        return [w.proc.pid for w in self.workers.values() if w.proc.pid and w.proc.is_alive()]

    def close(self) -> None:
        try:
            for worker in self.workers.values():
                worker.close()
        finally:
            if self._sigchld is not None:
                restore_sigchld(self._sigchld)
                self._sigchld = None


def schedule(
    names: Sequence[str], runs: int, block: int = 3, kinds: Sequence[str] = ("model",)
) -> list[tuple[str, str, int]]:
    """The order of the timed blocks: (worker, kind, calls). Rounds in which every worker runs
    one block of each kind (the kinds back to back, their order flipping every round), the
    workers' order rotating by one each round, until each has `runs` timed calls of each kind."""
    names, kinds = list(names), list(kinds)
    done = dict.fromkeys(names, 0)
    out: list[tuple[str, str, int]] = []
    r = 0
    while names and any(done[n] < runs for n in names):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            n = min(block, runs - done[name])
            if n > 0:
                out += [(name, kind, n) for kind in (kinds if r % 2 == 0 else kinds[::-1])]
                done[name] += n
        r += 1
    return out


@dataclass
class Timings:
    """Per worker: the timed samples of each kind, and the machine load of each of its blocks."""

    samples: dict[str, dict[str, list[dict]]] = field(default_factory=dict)
    loads: dict[str, list[BlockLoad]] = field(default_factory=dict)

    def values(self, name: str, kind: str, key: str = "ms") -> list[float]:
        return [s[key] for s in self.samples[name][kind] if key in s]


def run_blocks(
    pool: WorkerPool,
    runs: int,
    warmup: int,
    kinds: Sequence[str] = ("model",),
    block: int = 3,
    sampler: LoadSampler | None = None,
) -> Timings:
    """Warm every worker up (in turn), then time the blocks of `schedule`, sampling the
    machine's load around each."""
    sampler = sampler or LoadSampler(pool.pids)
    names = list(pool.workers)
    out = Timings({n: {k: [] for k in kinds} for n in names}, {n: [] for n in names})
    if warmup:
        for name in names:
            pool[name].request("warmup", tuple(kinds), warmup, what="warming it up")
    for name, kind, n in schedule(names, runs, block, kinds):
        snap = sampler.snapshot()
        got = pool[name].request("block", kind, n, what=f"timing it ({kind})")
        out.loads[name].append(sampler.since(snap))
        out.samples[name][kind].extend(got)
    return out
