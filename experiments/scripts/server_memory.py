"""The resident memory of a local server's process tree (`mlflow models serve`: the mlflow command and its uvicorn
workers), for the load test: found from the port it listens on or given by pid, sampled while a load runs."""

from __future__ import annotations

import threading
from pathlib import Path

import psutil

SAMPLE_EVERY_S = 0.1


def listening_pid(port: int) -> int | None:
    """The pid of a process listening on TCP `port` on this machine; None when none is found (or it is not ours to
    see)."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return None
    pids = [c.pid for c in connections if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.pid]
    return min(pids) if pids else None


def server_root(pid: int) -> psutil.Process:
    """The topmost ancestor of `pid` (itself included) whose command line mentions mlflow: the `mlflow models serve`
    process whose tree holds every worker."""
    process = root = psutil.Process(pid)
    while (process := process.parent()) is not None:
        try:
            if any("mlflow" in part for part in process.cmdline()):
                root = process
        except psutil.AccessDenied:
            break
    return root


def tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def rss_mb(processes: list[psutil.Process]) -> float:
    """Resident memory now, summed over `processes` (those gone count 0), in MB."""
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total / 2**20


def high_water_mb(processes: list[psutil.Process]) -> float | None:
    """VmHWM (each process's peak resident memory since it started, Linux) summed over `processes`, in MB; None
    where /proc does not tell it."""
    total = 0
    for process in processes:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            return None
        kilobytes = [line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")]
        if not kilobytes:
            return None
        total += int(kilobytes[0])
    return total / 1024


class MemorySampler:
    """Samples the summed RSS of a process tree (re-listed each time: workers may restart) every SAMPLE_EVERY_S
    seconds in a thread, from `start()` to `stop()`: `before_mb`, `peak_mb`, and `high_water_mb` at the end."""

    def __init__(self, root: psutil.Process) -> None:
        self.root = root
        self.pids: set[int] = set()
        self.before_mb = self.peak_mb = 0.0
        self.high_water_mb: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> float:
        processes = tree(self.root)
        self.pids |= {process.pid for process in processes}
        now = rss_mb(processes)
        self.peak_mb = max(self.peak_mb, now)
        return now

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self._sample()

    def start(self) -> MemorySampler:
        self.before_mb = self._sample()
        self._thread.start()
        return self

    def stop(self) -> MemorySampler:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.high_water_mb = high_water_mb(tree(self.root))
        return self

    def report(self) -> str:
        hwm = "" if self.high_water_mb is None else f"; VmHWM summed {self.high_water_mb:.0f} MB"
        return (
            f"server RSS (pids {', '.join(map(str, sorted(self.pids)))}): {self.before_mb:.0f} MB before, "
            f"peak {self.peak_mb:.0f} MB (+{self.peak_mb - self.before_mb:.0f} MB, sampled every "
            f"{SAMPLE_EVERY_S:g} s){hwm}"
        )
