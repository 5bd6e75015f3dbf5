"""yoloarena/children.py: PyTorch's DataLoader SIGCHLD handler is kept to the time our loaders'
workers run, and processes we start run with SIGCHLD at its default."""

from __future__ import annotations

import signal
import subprocess
import sys

import torch
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data._utils import signal_handling

from yoloarena.children import (
    release_dataloader_sigchld,
    restore_sigchld,
    set_default_sigchld,
)


def _torchs(handler) -> bool:
    return "_set_SIGCHLD_handler" in getattr(handler, "__qualname__", "")


def _iterate_with_a_worker() -> None:
    loader = DataLoader(TensorDataset(torch.arange(8.0)), batch_size=4, num_workers=1)
    assert [len(b[0]) for b in loader] == [4, 4]


def test_release_restores_the_previous_handler_and_lets_torch_install_it_again() -> None:
    release_dataloader_sigchld()  # whatever an earlier test left
    calls: list[int] = []
    before = signal.signal(signal.SIGCHLD, lambda s, f: calls.append(s))
    try:
        mine = signal.getsignal(signal.SIGCHLD)
        _iterate_with_a_worker()
        assert _torchs(signal.getsignal(signal.SIGCHLD)) and signal_handling._SIGCHLD_handler_set
        assert release_dataloader_sigchld() is True
        assert signal.getsignal(signal.SIGCHLD) is mine  # the handler torch found is back
        assert signal_handling._SIGCHLD_handler_set is False
        assert release_dataloader_sigchld() is False  # not torch's: left alone
        _iterate_with_a_worker()  # the next loader installs torch's handler again
        assert _torchs(signal.getsignal(signal.SIGCHLD))
        assert release_dataloader_sigchld() is True
    finally:
        signal.signal(signal.SIGCHLD, before)


def test_default_sigchld_then_restored() -> None:
    calls: list[int] = []

    def handler(signum, frame) -> None:
        calls.append(signum)

    before = signal.signal(signal.SIGCHLD, handler)
    try:
        previous = set_default_sigchld()
        assert signal.getsignal(signal.SIGCHLD) is signal.SIG_DFL
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        restore_sigchld(previous)
        assert signal.getsignal(signal.SIGCHLD) is handler and not calls
    finally:
        signal.signal(signal.SIGCHLD, before)
