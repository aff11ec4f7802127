"""A model of a 16 GB Mac's memory, for the replay: what psutil and the kernel each read.

The replay knows, each simulated second, how many bytes the system, the other applications and
the agent ask for. This module turns that into the page queues a Mac would show (`vm_stat`):
wired, anonymous pages resident, the compressor (bytes stored in it and the pages it occupies),
file-backed pages, free and speculative pages, split into the active and inactive queues; and
from them the two readings the offload rules follow:

- psutil's macOS percent, `(total - (inactive + free)) / total` with `free` holding the
  speculative pages (psutil `psutil/_psosx.py`, `psutil/arch/osx/mem.c`), rounded to 0.1 as
  psutil does: what the agent's legacy rule read;
- the kernel's level, `kern.memorystatus_vm_pressure_level` (1 normal, 2 warn, 4 critical), from
  the compressor's share of available memory as xnu's `vm_pressure_response` decides it
  (`osfmk/vm/vm_pageout.c`): what the package's probe reads.

The kernel's behaviour is modelled only where it is documented; every number is a named field
of `MacModel` with its source beside it, and a field with no public source says ASSUMPTION.
docs/offload-study.md lists them with the sensitivity table (`benches/offload_study.py`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ironcliw_mem.pressure import Sample

MIB = 1024**2
GIB = 1024**3

# kern.memorystatus_vm_pressure_level values (xnu kVMPressureNormal / Warning / Critical).
NORMAL, WARN, CRITICAL = 1, 2, 4
LEVEL_NAMES = {NORMAL: "normal", WARN: "warn", CRITICAL: "critical"}


@dataclass(frozen=True)
class MacModel:
    """Every number of the Mac; sources in docs/offload-study.md ("The model")."""

    # hw.memsize of a 16 GB Mac; Apple Silicon pages are 16 KiB (system_cmds memory_pressure.c
    # L678-681 prints "17179869184 (1048576 pages with a page size of 16384)").
    total_bytes: int = 16 * GIB
    page_bytes: int = 16384
    # ASSUMPTION: wired memory (kernel, GPU, wired buffers), taken out of the replay's system
    # bytes. The one full recorded vm_stat of an Apple-Silicon Mac (HMCL #4876, 24 GB) shows
    # 181483 wired pages = 2.77 GiB.
    wired_bytes: int = int(2.5 * GIB)
    # xnu vm_pageout.c L231-258, L3882-3891: free target capped at 4000 pages on a Mac this
    # size (recorded: 4000, askdifferent; 3025 free pages on a 16 GB-class M2 Pro, OCS #436).
    free_target_pages: int = 4000
    # Recorded speculative counts are tiny (OCS #436: 150 pages; HMCL #4876: 1075 pages).
    speculative_pages: int = 1000
    # ASSUMPTION: file-backed pages the system keeps however hard it is pressed (code and
    # libraries in use). OCS #436 recorded 2.1 GiB of pageable file-backed pages on a healthy
    # 16 GB-class Mac; under pressure xnu reclaims them before compressing, down to this.
    file_min_bytes: int = int(1.5 * GIB)
    # ASSUMPTION: how fast the file cache refills memory that applications freed (their file
    # reads); it fills free memory down to the free target and no further.
    file_refill_bytes_per_s: float = 5 * MIB
    # ASSUMPTION: the inactive queue's share of active + inactive pages. Chosen so that the
    # healthy day reads what psutil #1277 recorded on a healthy 16 GB M2 (2.57 GiB available,
    # 83.9 %). xnu's pageout daemon balances the queues towards 1/2 (vm_pageout.c L221, L2945),
    # which HMCL #4876 shows right after heavy compression (49.8 %): a sensitivity row.
    inactive_share: float = 0.19
    # ASSUMPTION: bytes stored / pages occupied by the compressor. Recorded 4.40 (HMCL #4876)
    # and 3.55 (htop #1976); no figure in xnu.
    compression_ratio: float = 3.5
    # ASSUMPTION: compressed pages the system no longer needs to keep compressed come back (on
    # access) with this time constant.
    decompress_time_constant_s: float = 600.0
    # xnu vm_pageout.c L10039-10079 with vm_compressor_xnu.h L444/L447 and the divisors of a Mac
    # over 3 GB (vm_compressor.c L1070-1073): the compressor's share c of available memory.
    warn_enter_share: float = 0.5  # N < A * 10 / 20
    critical_enter_share: float = 1 - 1.2 / 3.5  # N < 1.2 * A * 10 / 35: 65.7 %
    normal_return_share: float = 0.4  # N > 1.2 * A * 10 / 20
    warn_return_share: float = 1 - 1.4 / 3.5  # N > 1.4 * A * 10 / 35: 60 %

    def __post_init__(self) -> None:
        problems = [
            f"{f.name} must be a finite number >= 0, got {getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if not _finite_non_negative(getattr(self, f.name))
        ]
        if not problems:
            if not 0 < self.inactive_share < 1:
                share = self.inactive_share
                problems.append(f"inactive_share must be between 0 and 1, got {share}")
            if self.compression_ratio <= 1:
                problems.append(f"compression_ratio must be > 1, got {self.compression_ratio}")
            if self.page_bytes <= 0 or self.decompress_time_constant_s <= 0:
                problems.append("page_bytes and decompress_time_constant_s must be > 0")
            if self.wired_bytes + self.file_min_bytes + self.reserved_bytes >= self.total_bytes:
                problems.append("wired + file_min + free target + speculative must fit in total")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def reserved_bytes(self) -> int:
        """Free (at the target) and speculative pages."""
        return (self.free_target_pages + self.speculative_pages) * self.page_bytes


def _finite_non_negative(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value >= 0


@dataclass(frozen=True)
class MacReading:
    """One second's queues (bytes) and what psutil and the kernel make of them."""

    total: int
    wired: int
    anonymous_resident: int
    compressed_stored: int  # "Pages stored in compressor", in bytes
    compressor: int  # "Pages occupied by compressor", in bytes
    file_backed: int
    free: int  # above the speculative pages (vm_stat's "Pages free")
    speculative: int
    active: int
    inactive: int
    psutil_percent: float
    kernel_level: int

    @property
    def psutil_available(self) -> int:
        return self.inactive + self.free + self.speculative

    @property
    def compressor_share(self) -> float:
        """The compressor's pages over xnu's AVAILABLE_MEMORY (vm_page.h L1270-1271)."""
        available = self.active + self.inactive + self.free + self.speculative + self.compressor
        return self.compressor / available if available else 0.0

    @property
    def memorystatus_level(self) -> int:
        """`memory_pressure`'s "free percentage": non-compressed available over all pages."""
        return (self.total - self.wired - self.compressor) * 100 // self.total

    def to_sample(self, page_bytes: int) -> Sample:
        """What the package's macOS probe would return (rust/pressure/macos.rs)."""
        return Sample.from_values(
            total=self.total,
            available=self.psutil_available,
            used=self.total - self.psutil_available,
            active=self.active,
            wired=self.wired,
            compressed=self.compressor,
            macos_pressure_level=self.kernel_level,
            memorystatus_level=self.memorystatus_level,
            page_size=page_bytes,
            sources=[
                "macos-pressure-level",
                "macos-memorystatus-level",
                "macos-vm-statistics",
                "macos-memsize",
            ],
        )


def psutil_percent(total: int, inactive: int, free_with_speculative: int) -> float:
    """psutil's macOS `virtual_memory().percent`: available = inactive + free_count (which holds
    the speculative pages), percent = (total - available) / total, rounded to 0.1."""
    available = inactive + free_with_speculative
    return round((total - available) / total * 100, 1)


def next_kernel_level(level: int, share: float, model: MacModel) -> int:
    """xnu's `vm_pressure_response` state machine on the compressor's share of available
    memory (compressor never low on space: an ASSUMPTION). From normal, critical is checked
    first; from warn, normal first; from critical, normal then warn."""
    if level == NORMAL:
        if share > model.critical_enter_share:
            return CRITICAL
        return WARN if share > model.warn_enter_share else NORMAL
    if level == WARN:
        if share < model.normal_return_share:
            return NORMAL
        return CRITICAL if share > model.critical_enter_share else WARN
    if share < model.normal_return_share:
        return NORMAL
    return WARN if share < model.warn_return_share else CRITICAL


class MacMemory:
    """The Mac's memory over time: `advance(demand, dt)` each second with the bytes that the
    system and the applications ask for (wired included); `percent` and `level` are then
    psutil's and the kernel's readings, `reading()` the queues."""

    def __init__(self, model: MacModel | None = None) -> None:
        self.model = model or MacModel()
        m = self.model
        self._room = m.total_bytes - m.wired_bytes - m.reserved_bytes  # anon + file + compressor
        self._fit = self._room - m.file_min_bytes  # anonymous bytes that fit uncompressed
        self._keep = 1 - 1 / m.compression_ratio  # bytes freed per byte compressed
        self._free_target = m.free_target_pages * m.page_bytes
        self._speculative = m.speculative_pages * m.page_bytes
        self.anonymous: float | None = None
        self.stored = 0.0  # anonymous bytes held compressed
        self.compressor = 0.0  # the pages the compressor occupies, in bytes
        self.swapped = 0.0  # compressed bytes that fit nowhere in memory
        self.file_backed = 0.0
        self.free_extra = 0.0  # free bytes above the target, not yet refilled by file cache
        self.inactive = 0.0
        self.share = 0.0  # the compressor's share of xnu's AVAILABLE_MEMORY
        self.percent = 0.0  # psutil's
        self.level = NORMAL

    def advance(self, demand_bytes: float, dt: float) -> None:
        m = self.model
        anonymous = max(0.0, demand_bytes - m.wired_bytes)
        before = anonymous if self.anonymous is None else self.anonymous  # starts settled
        released = max(0.0, before - anonymous)
        grown = max(0.0, anonymous - before)
        # What applications free goes to the free list, its share of the compressor with it.
        if released and before > 0:
            self.stored -= self.stored * released / before
        # xnu reclaims file pages first (down to the kept ones), then compresses anonymous
        # pages: as few as make resident + stored / ratio fit. Pages no longer needed
        # compressed come back as they are touched.
        need = min(anonymous, max(0.0, (anonymous - self._fit) / self._keep))
        decayed = self.stored * math.exp(-dt / m.decompress_time_constant_s)
        self.stored = max(need, decayed)
        resident = anonymous - self.stored
        # Swap is modelled only where nothing else fits: with every anonymous page compressed,
        # what the compressor cannot hold beside the kept file pages goes out.
        compressed = self.stored / m.compression_ratio
        self.compressor = min(compressed, self._fit - resident)
        self.swapped = compressed - self.compressor
        # Freed memory stays free until new allocations take it or the file cache refills it.
        extra = max(0.0, self.free_extra + released - grown)
        self.free_extra = max(0.0, extra - m.file_refill_bytes_per_s * dt)
        file_backed = self._room - resident - self.compressor - self.free_extra
        if file_backed < m.file_min_bytes:  # the pageout daemon reclaims free pages first
            self.free_extra = max(0.0, self.free_extra - (m.file_min_bytes - file_backed))
            file_backed = self._room - resident - self.compressor - self.free_extra
        self.anonymous = anonymous
        self.file_backed = file_backed
        self.inactive = (resident + file_backed) * m.inactive_share
        free = self._free_target + self.free_extra + self._speculative
        self.percent = psutil_percent(m.total_bytes, round(self.inactive), round(free))
        self.share = self.compressor / (self._room + m.reserved_bytes)
        self.level = next_kernel_level(self.level, self.share, m)

    def reading(self) -> MacReading:
        """The queues after the last `advance`."""
        m = self.model
        resident = (self.anonymous or 0.0) - self.stored
        inactive = round(self.inactive)
        return MacReading(
            total=m.total_bytes,
            wired=m.wired_bytes,
            anonymous_resident=round(resident),
            compressed_stored=round(self.stored),
            compressor=round(self.compressor),
            file_backed=round(self.file_backed),
            free=round(self._free_target + self.free_extra),
            speculative=self._speculative,
            active=round(resident + self.file_backed) - inactive,
            inactive=inactive,
            psutil_percent=self.percent,
            kernel_level=self.level,
        )


def healthy_plateau(model: MacModel) -> MacReading:
    """The settled queues of a Mac whose anonymous memory fits uncompressed beside a full file
    cache: where psutil's percent rests whatever the applications hold (the anchors' state)."""
    memory = MacMemory(model)
    fits = model.total_bytes - model.reserved_bytes - model.file_min_bytes
    memory.advance(model.wired_bytes + (fits - model.wired_bytes) / 2, 1.0)
    return memory.reading()
