"""The two offload rules the study compares, and the replay's Mac that runs both.

- `LegacyOffloadRule`: the agent's own rule as JARVIS wrote it (drussell23/JARVIS at
  d57bb70a5f695f46e8a9d677b15c59cd33382a53, `start_system.py`, `DynamicRAMMonitor` and the
  `HybridIntelligenceCoordinator` loop), fed psutil's macOS percent every 5 s (L991:
  ``self.monitoring_interval = 5  # Check every 5 seconds``).
- the package's `OffloadAdvisor` itself (red held 30 s, once per episode) on a real
  `MacOSMemoryManager` reading the kernel's level, checked every `PRESSURE_CHECK_INTERVAL`.

`MacMachine` is the replay's machine model (`replay_model.MachineModel`): each simulated second
it steps a `MacMemory` with the configuration's bytes and returns the sample the package's macOS
probe would read; on the side it feeds both rules and counts their triggers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ironcliw_mem.config import MemoryConfig
from ironcliw_mem.levels import MemoryPressure
from ironcliw_mem.manager import MacOSMemoryManager
from ironcliw_mem.offload import OffloadAdvisor, RedHold
from ironcliw_mem.pressure import Classifier, Sample, Thresholds
from macos_memory_model import LEVEL_NAMES, MacMemory, MacModel

# d57bb70a5f start_system.py L409-412, L418 (fractions of psutil's percent / 100).
LEGACY_WARNING = 0.75
LEGACY_CRITICAL = 0.85
LEGACY_OPTIMAL = 0.60
LEGACY_EMERGENCY = 0.95
LEGACY_PREDICTION_WINDOW = 10  # "Predict 10 seconds ahead": multiplies a per-sample trend
LEGACY_TREND_SAMPLES = 5  # update_usage_history, L492-494
LEGACY_TREND_RISING = 0.01  # should_shift_to_gcp, L560
LEGACY_SAMPLE_INTERVAL_S = 5  # HybridIntelligenceCoordinator.monitoring_interval, L991

# ASSUMPTION: when the legacy rule may start another VM. As written (d57bb70a5f) the
# `gcp_active` latch is never reset (L1166-1167 keep the VM "running but idle"), so a process
# starts at most one VM by the shift path. "return": re-armed when the code's own shift back
# holds (L582: percent < 60 % and trend <= 0), the VM then let go; "episode": re-armed once the
# VM has run its average 30 min (JARVIS docs/deployment/GCP_COST_OPTIMIZATION_IMPROVEMENTS.md
# L157, "Average VM runtime: 30 minutes each") and the rule no longer asks, as after the later
# versions' VM clean-up; "never": as written.
REARM_RULES = ("return", "episode", "never")
LEGACY_VM_RUNTIME_S = 30 * 60


def legacy_status(usage: float) -> str:
    """`DynamicRAMMonitor._get_status` (L468-479)."""
    if usage >= LEGACY_EMERGENCY:
        return "EMERGENCY"
    if usage >= LEGACY_CRITICAL:
        return "CRITICAL"
    if usage >= LEGACY_WARNING:
        return "WARNING"
    if usage >= LEGACY_OPTIMAL:
        return "ELEVATED"
    return "OPTIMAL"


@dataclass
class LegacyOffloadRule:
    """JARVIS's percent rule and its monitor loop, one `sample(percent)` per loop pass.

    Per pass (L1030-1083): `update_usage_history` appends psutil's percent and, from 5 samples
    on, sets trend = (newest - oldest of the last 5) / 5 per sample and predicted = percent +
    10 x trend (L481-499); an emergency (>= 95 %) not yet handled starts a deployment by the
    emergency path (L1050-1053), which ignores `gcp_active`, and emergency mode lasts until the
    status is OPTIMAL; then `should_shift_to_gcp` (L542-567): emergency, CRITICAL (>= 85 %),
    WARNING (>= 75 %) with trend > 0.01, or predicted >= 85 %, starts one by the shift path when
    no VM is active and not in emergency mode (L1056).
    """

    rearm: str = "return"
    history: list[float] = field(default_factory=list)
    trend: float = 0.0
    predicted: float = 0.0  # L426
    gcp_active: bool = False
    emergency_mode: bool = False
    triggers: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    started_at_sample: int = 0

    def __post_init__(self) -> None:
        if self.rearm not in REARM_RULES:
            raise ValueError(f"rearm must be one of {', '.join(REARM_RULES)}, got {self.rearm!r}")

    def should_shift(self, usage: float) -> str | None:
        """The reason `should_shift_to_gcp` gives, or None when it says stay local."""
        if usage >= LEGACY_EMERGENCY:
            return "EMERGENCY"
        status = legacy_status(usage)
        if status == "CRITICAL":
            return "CRITICAL"
        if status == "WARNING" and self.trend > LEGACY_TREND_RISING:
            return "PROACTIVE"
        if self.predicted >= LEGACY_CRITICAL:
            return "PREDICTIVE"
        return None

    def sample(self, percent: float) -> bool:
        """One loop pass with psutil's `percent` (0-100); True when it starts a VM."""
        usage = percent / 100.0
        self.samples += 1
        self.history.append(usage)
        if len(self.history) > 100:  # max_history, L417
            del self.history[0]
        if len(self.history) >= LEGACY_TREND_SAMPLES:
            recent = self.history[-LEGACY_TREND_SAMPLES:]
            self.trend = (recent[-1] - recent[0]) / 5.0
            predicted = usage + self.trend * LEGACY_PREDICTION_WINDOW
            self.predicted = min(1.0, max(0.0, predicted))
        started = False
        if usage >= LEGACY_EMERGENCY and not self.emergency_mode:
            # _handle_emergency deploys too, gcp_active or not; a VM that comes up sets it (L711).
            self.emergency_mode = self.gcp_active = True
            started = self._start("EMERGENCY (emergency path)")
        elif self.emergency_mode and legacy_status(usage) == "OPTIMAL":
            self.emergency_mode = False
        reason = self.should_shift(usage)
        if reason is not None and not self.gcp_active and not self.emergency_mode:
            self.gcp_active = True  # set when the VM is ready (L711); deployments assumed to work
            started = self._start(reason) or started
        elif self.gcp_active and self._rearmed(usage, reason):
            self.gcp_active = False
        return started

    def _rearmed(self, usage: float, reason: str | None) -> bool:
        if self.rearm == "return":
            return usage < LEGACY_OPTIMAL and self.trend <= 0  # should_shift_to_local, L582
        if self.rearm == "episode":
            ran = (self.samples - self.started_at_sample) * LEGACY_SAMPLE_INTERVAL_S
            return reason is None and ran >= LEGACY_VM_RUNTIME_S
        return False

    def _start(self, reason: str) -> bool:
        self.started_at_sample = self.samples
        self.triggers += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        return True


class AdvisorCount:
    """The package's `OffloadAdvisor` on its own `MacOSMemoryManager`, both real, fed the Mac's
    samples on the simulated clock; counts one trigger per red episode (`should_offload()`
    turning true)."""

    def __init__(self, config: MemoryConfig, clock: Callable[[], float]) -> None:
        self.latest: Sample | None = None
        self.manager = MacOSMemoryManager(
            config, read_sample=self._read, clock=clock, watch_kernel_events=False
        )
        self.advisor = OffloadAdvisor(self.manager)
        self.check_interval_s = float(config.pressure_check_interval)
        self.triggers = 0
        self._advised = False
        self._next_check = 0.0

    def _read(self) -> Sample:
        assert self.latest is not None, "the machine sets a sample before every check"
        return self.latest

    async def observe(self, sample: Sample, now: float) -> bool:
        """The sample of second `now`; the manager checks at its interval. True on a trigger."""
        self.latest = sample
        if now >= self._next_check:
            await self.manager.check_pressure()
            self._next_check = now + self.check_interval_s
        advised = self.advisor.should_offload()
        started = advised and not self._advised
        self._advised = advised
        if started:
            self.triggers += 1
        return started


class RuleCount:
    """The advisor's own pieces without the manager's thread hops, for the many open-loop
    sensitivity replays: the manager's `Classifier` checked at its interval, the level's start
    taken at the check that first read it (as `pressure_since`), and the advisor's `RedHold`.
    `benches/test_replay.py` checks that it counts what `AdvisorCount` counts."""

    def __init__(self, config: MemoryConfig) -> None:
        self.classifier = Classifier(Thresholds(**config.thresholds))
        self.rule = RedHold(config.offload_red_hold_seconds)
        self.check_interval_s = float(config.pressure_check_interval)
        self.triggers = 0
        self._level = MemoryPressure.UNKNOWN
        self._next_check = 0.0

    def due(self, now: float) -> bool:
        return now >= self._next_check

    def check(self, sample: Sample, now: float) -> None:
        level = MemoryPressure.from_level(self.classifier.update(sample, now).level)
        if level is not self._level:
            self._level = level
            self.rule.observe(level, now)
        self._next_check = now + self.check_interval_s

    def tick(self, now: float) -> bool:
        started = self.rule.take_trigger(now)
        if started:
            self.triggers += 1
        return started


class MacMachine:
    """The replay's Mac (`replay_model.MachineModel`), one per configuration and run: each
    second it steps the memory model with the configuration's bytes, feeds the legacy rule
    every 5 s and the advisor, and returns the sample the package's macOS probe would read.
    With `real_advisor=False` the advisor is `RuleCount` (for `replay_demands`)."""

    def __init__(
        self,
        mac: MacModel,
        config: MemoryConfig,
        *,
        record: bool = False,
        real_advisor: bool = True,
    ) -> None:
        self.memory = MacMemory(mac)
        self.mac = mac
        self._now = 0.0
        # The legacy rule once per re-arm assumption, all on the same readings.
        self.legacy = {rearm: LegacyOffloadRule(rearm=rearm) for rearm in REARM_RULES}
        self.advisor: AdvisorCount | RuleCount = (
            AdvisorCount(config, lambda: self._now) if real_advisor else RuleCount(config)
        )
        self.seconds_by_kernel_level = dict.fromkeys(LEVEL_NAMES.values(), 0.0)
        self.percent_sum = 0.0
        self.ticks = 0
        self.peak_percent = 0.0
        self.peak_compressor_share = 0.0
        self.legacy_ticks: dict[str, list[int]] = {rearm: [] for rearm in REARM_RULES}
        self.advisor_ticks: list[int] = []
        # The demand of each second (for open-loop sensitivity replays), when `record`.
        self.demands: list[int] | None = [] if record else None

    def step(self, tick: int, demand: int, now: float, dt: float) -> None:
        """The memory model and the legacy rule for second `now` (no sample made)."""
        if self.demands is not None:
            self.demands.append(demand)
        self._now = now
        memory = self.memory
        memory.advance(demand, dt)
        self.ticks += 1
        self.percent_sum += memory.percent
        self.peak_percent = max(self.peak_percent, memory.percent)
        self.peak_compressor_share = max(self.peak_compressor_share, memory.share)
        self.seconds_by_kernel_level[LEVEL_NAMES[memory.level]] += dt
        if now % LEGACY_SAMPLE_INTERVAL_S < dt:  # the legacy monitor's loop pass
            for rearm, rule in self.legacy.items():
                if rule.sample(memory.percent):
                    self.legacy_ticks[rearm].append(tick)

    async def sample(self, tick: int, other: int, footprint: int, now: float, dt: float) -> Sample:
        self.step(tick, other + footprint, now, dt)
        sample = self.memory.reading().to_sample(self.mac.page_bytes)
        advisor = self.advisor
        if isinstance(advisor, AdvisorCount):
            started = await advisor.observe(sample, now)
        else:
            if advisor.due(now):
                advisor.check(sample, now)
            started = advisor.tick(now)
        if started:
            self.advisor_ticks.append(tick)
        return sample

    def figures(self) -> dict[str, Any]:
        return {
            "legacy_triggers": {rearm: rule.triggers for rearm, rule in self.legacy.items()},
            "legacy_reasons": {rearm: dict(rule.reasons) for rearm, rule in self.legacy.items()},
            "legacy_trigger_ticks": {rearm: list(t) for rearm, t in self.legacy_ticks.items()},
            "advisor_triggers": self.advisor.triggers,
            "advisor_trigger_ticks": list(self.advisor_ticks),
            "seconds_by_kernel_level": dict(self.seconds_by_kernel_level),
            "mean_psutil_percent": self.percent_sum / max(1, self.ticks),
            "peak_psutil_percent": self.peak_percent,
            "peak_compressor_share": self.peak_compressor_share,
        }


def replay_demands(
    demands: Sequence[int], mac: MacModel, config: MemoryConfig, *, extra_bytes: int = 0
) -> dict[str, Any]:
    """Both rules over a recorded demand (bytes per second, from 0 s; plus `extra_bytes`
    throughout), open loop: the Mac's level does not feed back into what was asked for. For
    the sensitivity rows."""
    machine = MacMachine(mac, config, real_advisor=False)
    advisor = machine.advisor
    assert isinstance(advisor, RuleCount)
    memory = machine.memory
    for tick, demand in enumerate(demands):
        now = float(tick)
        machine.step(tick, demand + extra_bytes, now, 1.0)
        if advisor.due(now):
            advisor.check(memory.reading().to_sample(mac.page_bytes), now)
        if advisor.tick(now):
            machine.advisor_ticks.append(tick)
    return machine.figures()
