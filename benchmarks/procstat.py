"""CPU time and memory of a process and its descendants, from /proc."""

from __future__ import annotations

import os
import threading
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # the fields after "pid (comm)"


def descendants(pid: int) -> list[int]:
    """`pid` and every live process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            parent = int(_stat_fields(int(entry))[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of `pids`, in seconds (processes that are gone count 0)."""
    ticks = 0
    for pid in pids:
        try:
            fields = _stat_fields(pid)
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / CLOCK_TICKS


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kb(pids: list[int]) -> int:
    return sum(_status_kb(pid, "VmRSS") for pid in pids)


def hwm_kb(pids: list[int]) -> int:
    return sum(_status_kb(pid, "VmHWM") for pid in pids)


def reset_peak(pids: list[int]) -> bool:
    """Reset VmHWM to the current RSS (`echo 5 > clear_refs`); False where not allowed."""
    done = True
    for pid in pids:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            done = False
    return done


class Watch:
    """CPU seconds and peak RSS of a process tree over one measured run.

    The peak is the larger of VmHWM (reset at the start where the kernel allows it) and
    the VmRSS sampled every `interval` seconds, summed over the tree."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.pids = descendants(pid)
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.cpu_start = 0.0
        self.cpu_seconds = 0.0
        self.hwm_reset = False

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_kb = max(self.peak_kb, rss_kb(self.pids))

    def __enter__(self) -> Watch:
        self.hwm_reset = reset_peak(self.pids)
        self.peak_kb = rss_kb(self.pids)
        self.cpu_start = cpu_seconds(self.pids)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu_seconds = cpu_seconds(self.pids) - self.cpu_start
        self.peak_kb = max(self.peak_kb, rss_kb(self.pids))
        if self.hwm_reset:
            self.peak_kb = max(self.peak_kb, hwm_kb(self.pids))
