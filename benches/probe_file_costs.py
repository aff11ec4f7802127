"""What each file the Linux probe reads costs: one pread from offset 0 of a file kept open, the
probe's own way of reading, timed from Python (the first row, a 1-byte file in a tmpfs, is the
syscall + interpreter overhead common to every row; the kernel's share is a row minus it).

    .venv/bin/python benches/probe_file_costs.py          # root: also a limited v1/v2 cgroup

Rows: /proc/meminfo and /proc/pressure/memory; the files of a memory-limited cgroup created for
the run (cgroup v1 here; v2 where the machine has it), each file as the probe reads it; and the
same v2 file names in a tmpfs fixture tree (the read path only: a tmpfs file is not assembled by
the kernel on each read, so it says nothing of what a real v2 memory.stat costs).
Interleaved rounds; the median ns per read over the rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

V1_FILES = [
    "memory.usage_in_bytes",
    "memory.limit_in_bytes",
    "memory.stat",
    "memory.failcnt",
    "memory.oom_control",
]
V2_FILES = [
    "memory.current",
    "memory.max",
    "memory.high",
    "memory.stat",
    "memory.events",
    "memory.pressure",
]


def per_read_ns(fd: int, n: int) -> float:
    pread = os.pread
    start = time.perf_counter_ns()
    for _ in range(n):
        pread(fd, 65536, 0)
    return (time.perf_counter_ns() - start) / n


@contextmanager
def limited_cgroups(limit: int) -> Iterator[dict[str, Path]]:
    """A fresh memory-limited cgroup in each hierarchy this machine has (root only)."""
    made: dict[str, Path] = {}
    name = f"ironcliw-filecost-{os.getpid()}"
    v1 = Path("/sys/fs/cgroup/memory")
    v2 = Path("/sys/fs/cgroup")
    try:
        if (v1 / "memory.limit_in_bytes").exists():
            d = v1 / name
            d.mkdir()
            (d / "memory.limit_in_bytes").write_text(str(limit))
            made["v1"] = d
        elif "memory" in (v2 / "cgroup.subtree_control").read_text().split():
            d = v2 / name
            d.mkdir()
            (d / "memory.max").write_text(str(limit))
            made["v2"] = d
    except OSError as exc:
        print(f"no limited cgroup made ({exc}): only /proc and the fixture rows")
    try:
        yield made
    finally:
        for d in made.values():
            d.rmdir()


def v2_fixture(root: Path) -> Path:
    """A v2 cgroup directory with files of the real ones' size (memory.stat ~1.5 KiB)."""
    d = root / "job"
    d.mkdir()
    stat_keys = [
        "anon",
        "file",
        "kernel",
        "kernel_stack",
        "pagetables",
        "sec_pagetables",
        "percpu",
        "sock",
        "vmalloc",
        "shmem",
        "zswap",
        "zswapped",
        "file_mapped",
        "file_dirty",
        "file_writeback",
        "swapcached",
        "anon_thp",
        "file_thp",
        "shmem_thp",
        "inactive_anon",
        "active_anon",
        "inactive_file",
        "active_file",
        "unevictable",
        "slab_reclaimable",
        "slab_unreclaimable",
        "slab",
        "workingset_refault_anon",
        "workingset_refault_file",
        "workingset_activate_anon",
        "workingset_activate_file",
        "workingset_restore_anon",
        "workingset_restore_file",
        "workingset_nodereclaim",
        "pgdemote_kswapd",
        "pgdemote_direct",
        "pgdemote_khugepaged",
        "pgscan",
        "pgsteal",
        "pgscan_kswapd",
        "pgscan_direct",
        "pgscan_khugepaged",
        "pgsteal_kswapd",
        "pgsteal_direct",
        "pgsteal_khugepaged",
        "pgfault",
        "pgmajfault",
        "pgrefill",
        "pgactivate",
        "pgdeactivate",
        "pglazyfree",
        "pglazyfreed",
        "zswpin",
        "zswpout",
        "zswpwb",
        "thp_fault_alloc",
        "thp_collapse_alloc",
        "thp_swpout",
        "thp_swpout_fallback",
    ]
    files = {
        "memory.current": "123456789\n",
        "memory.max": "536870912\n",
        "memory.high": "max\n",
        "memory.stat": "".join(f"{k} {1234567 + i * 7919}\n" for i, k in enumerate(stat_keys)),
        "memory.events": "low 0\nhigh 0\nmax 12\noom 0\noom_kill 0\noom_group_kill 0\n",
        "memory.pressure": (
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=1234\n"
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=567\n"
        ),
    }
    for name, text in files.items():
        (d / name).write_text(text)
    return d


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--reads", type=int, default=5000)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(dir="/dev/shm") as shm,
        limited_cgroups(512 << 20) as cgroups,
    ):
        overhead = Path(shm) / "one-byte"
        overhead.write_text("1")
        rows: list[tuple[str, Path]] = [("tmpfs 1-byte file (overhead)", overhead)]
        rows += [(f"/proc/{n}", Path("/proc") / n) for n in ("meminfo", "pressure/memory")]
        for version, d in cgroups.items():
            names = V1_FILES if version == "v1" else V2_FILES
            rows += [(f"{version} limited cgroup {n}", d / n) for n in names if (d / n).exists()]
        fixture = v2_fixture(Path(shm))
        rows += [(f"v2 tmpfs fixture {n}", fixture / n) for n in V2_FILES]
        fds = {label: os.open(path, os.O_RDONLY) for label, path in rows}
        sizes = {label: len(os.pread(fd, 65536, 0)) for label, fd in fds.items()}
        try:
            results: dict[str, list[float]] = {label: [] for label, _ in rows}
            for _ in range(args.rounds):
                for label, _ in rows:
                    results[label].append(per_read_ns(fds[label], args.reads))
        finally:
            for fd in fds.values():
                os.close(fd)
    base = statistics.median(results[rows[0][0]])
    print(f"{'file':48} {'ns/read (median)':>17} {'minus overhead':>15} {'bytes':>6}")
    for label, _ in rows:
        median = statistics.median(results[label])
        print(f"{label:48} {median:17.0f} {median - base:15.0f} {sizes[label]:6}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
