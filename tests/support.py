"""Helpers shared by the test modules: a calm machine and a manager that reads it."""

from __future__ import annotations

from ironcliw_mem import MacOSMemoryManager, MemoryConfig, Sample

GIB = 1024**3

# 16 GB with 12 GB available and no stalls: green under the default thresholds.
GREEN_SAMPLE = Sample.from_values(
    total=16 * GIB, available=12 * GIB, psi_some_avg10=0.0, psi_full_avg10=0.0, sources=["meminfo"]
)


def calm_manager(**config: object) -> MacOSMemoryManager:
    """A manager whose probe always reads GREEN_SAMPLE; no kernel watcher thread."""
    return MacOSMemoryManager(
        MemoryConfig(env={}, **config),  # type: ignore[arg-type]
        read_sample=lambda: GREEN_SAMPLE,
        watch_kernel_events=False,
    )
