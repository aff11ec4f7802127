"""`MemoryConfig`: every tunable, from explicit arguments or the environment.

An explicit argument beats the environment, which beats the default. Every bad value, whether it
came from an argument or a variable, is collected and reported at once in one `ConfigError` that
names the setting, the value and what is accepted.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ironcliw_mem._native import MAX_DIMENSION, Thresholds
from ironcliw_mem.levels import CaptureQuality, MemoryPressure

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})
BOOL_ACCEPTED = "true/false, 1/0, yes/no, on/off (any case)"
SUBSAMPLINGS = ("444", "422", "420")

# Classifier thresholds (see the README's Pressure section), each read from PRESSURE_<NAME>. The
# native classifier owns the defaults and the rules that relate them.
THRESHOLD_DEFAULTS: dict[str, float] = Thresholds().to_dict()


# The ranges a user would call sane; each is checked when the config is made (README table).
MAX_CACHE_MB = 1 << 20  # 1 TiB: far above any machine this runs on, far below what overflows
CHECK_INTERVAL_RANGE = (0.1, 3600.0)  # seconds: below 0.1 s the monitor only spins
TTL_RANGE = (0.1, 86400.0)  # seconds: a capture older than a day is no cache hit
RED_HOLD_RANGE = (0.1, 86400.0)
# seconds a capture backend call (or a request's callback) may take: a real screenshot takes well
# under a second; above ten minutes a hung one would hold its space that long.
CAPTURE_TIMEOUT_RANGE = (0.1, 600.0)
# The user's idle time before idle and away: short values serve tests, a day is the most that
# still means "at the machine today".
ACTIVITY_SECONDS_RANGE = (0.1, 86400.0)
# How much longer the pressure poll waits while the user is away; 1 leaves it as it is, and past
# 60 a 5 s poll would wait five minutes (kernel pressure events still wake it at once).
AWAY_POLL_FACTOR_RANGE = (1.0, 60.0)
MAX_SPACE = 999

# Plain ASCII decimals only: no sign, underscores, non-ASCII digits, "nan" or "inf" (Python's
# int() and float() take them all).
_INT_TEXT = re.compile(r"-?[0-9]+", re.ASCII)
_REAL_TEXT = re.compile(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?", re.ASCII)
INT_ACCEPTED = "plain ASCII digits (no sign, underscores or exponent)"
REAL_ACCEPTED = "a plain ASCII decimal such as 2, 0.5 or 1e-3 (no sign, underscores, nan or inf)"


class ConfigWarning(UserWarning):
    """A setting that is valid alone but makes no sense next to another one."""


_WARNED: set[str] = set()


class ConfigError(ValueError):
    """Invalid settings; `problems` lists each one with its value and what is accepted."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid ironcliw-mem configuration ({len(problems)} problems):\n{lines}")


# --- parsers: text or a Python value in, a clean value out, ValueError(what is accepted) ---------


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise ValueError(BOOL_ACCEPTED)


def _number(value: object, kind: Callable[[str], Any], pattern: re.Pattern[str]) -> Any:
    if isinstance(value, bool):
        raise ValueError("a number")
    if isinstance(value, str):
        text = value.strip()
        if not pattern.fullmatch(text):
            raise ValueError("a number")
        return kind(text)
    if isinstance(value, int | float):
        return value
    raise ValueError("a number")


def whole_number(low: int, high: int) -> Callable[[object], int]:
    """A parser for a whole number from `low` to `high`."""
    accepted = f"a whole number from {low} to {high} ({INT_ACCEPTED})"

    def parse(value: object) -> int:
        try:
            number = _number(value, int, _INT_TEXT)
        except ValueError:
            raise ValueError(accepted) from None
        if not isinstance(number, int) and not (
            math.isfinite(number) and float(number).is_integer()
        ):
            raise ValueError(accepted)
        if not low <= number <= high:
            raise ValueError(accepted)
        return int(number)

    return parse


def seconds(low: float, high: float) -> Callable[[object], float]:
    """A parser for a number of seconds from `low` to `high`."""
    return real_between(low, high, " seconds")


def real_between(low: float, high: float, unit: str = "") -> Callable[[object], float]:
    """A parser for a real number from `low` to `high` (`unit` names it in the error)."""
    accepted = f"a number from {low:g} to {high:g}{unit} ({REAL_ACCEPTED})"

    def parse(value: object) -> float:
        try:
            number = float(_number(value, float, _REAL_TEXT))
        except (ValueError, TypeError, OverflowError):
            raise ValueError(accepted) from None
        if not low <= number <= high:  # NaN fails too
            raise ValueError(accepted)
        return number

    return parse


non_negative_int = whole_number(0, 2**63 - 1)
cache_megabytes = whole_number(0, MAX_CACHE_MB)


def positive_float(value: object) -> float:
    accepted = f"a finite number of seconds > 0 ({REAL_ACCEPTED})"
    try:
        number = float(_number(value, float, _REAL_TEXT))
    except (ValueError, TypeError, OverflowError):
        raise ValueError(accepted) from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError(accepted)
    return number


def non_negative_float(value: object) -> float:
    accepted = f"a finite number >= 0 ({REAL_ACCEPTED})"
    try:
        number = float(_number(value, float, _REAL_TEXT))
    except (ValueError, TypeError, OverflowError):
        raise ValueError(accepted) from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(accepted)
    return number


jpeg_quality = whole_number(1, 100)


def capture_quality(value: object) -> CaptureQuality:
    accepted = "one of " + ", ".join(q.value for q in CaptureQuality)
    if isinstance(value, CaptureQuality):
        return value
    if isinstance(value, str):
        try:
            return CaptureQuality.parse(value)
        except ValueError:
            pass
    raise ValueError(accepted)


def space_list(value: object) -> list[int]:
    accepted = (
        f'a comma-separated list of space numbers from 1 to {MAX_SPACE}, e.g. "1,2,3" '
        f"(empty means all; {INT_ACCEPTED})"
    )
    items: Iterable[object]
    if isinstance(value, str):
        items = [part for part in (p.strip() for p in value.split(",")) if part]
    elif isinstance(value, list | tuple | set | frozenset):
        items = value
    else:
        raise ValueError(accepted)
    spaces: list[int] = []
    for item in items:
        try:
            space = non_negative_int(item)
        except ValueError:
            raise ValueError(accepted) from None
        if not 1 <= space <= MAX_SPACE:
            raise ValueError(accepted)
        if space not in spaces:
            spaces.append(space)
    return spaces


def box_size(value: object) -> tuple[int, int]:
    accepted = (
        f'two whole numbers from 1 to {MAX_DIMENSION} as "WIDTH,HEIGHT", e.g. "400,300" '
        f"({INT_ACCEPTED})"
    )
    parts: list[object]
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace("x", ",").split(",")]
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        raise ValueError(accepted)
    if len(parts) != 2:
        raise ValueError(accepted)
    try:
        width, height = (non_negative_int(p) for p in parts)
    except ValueError:
        raise ValueError(accepted) from None
    if not (1 <= width <= MAX_DIMENSION and 1 <= height <= MAX_DIMENSION):
        raise ValueError(accepted)
    return (width, height)


def subsampling(value: object) -> str:
    accepted = "one of " + ", ".join(SUBSAMPLINGS)
    text = str(value).strip().replace(":", "")
    if text not in SUBSAMPLINGS:
        raise ValueError(accepted)
    return text


def optional_pressure(value: object) -> MemoryPressure | None:
    if value is None or isinstance(value, MemoryPressure):
        return value
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return MemoryPressure.parse(value)
        except ValueError:
            pass
    raise ValueError("one of green, yellow, red, unknown (or normal, warn, critical), or empty")


# --- the settings table --------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    name: str
    env: tuple[str, ...]
    default: Any
    parse: Callable[[object], Any]


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "enable_adaptive_management",
        ("Ironcliw_ADAPTIVE_MEMORY", "IRONCLIW_ADAPTIVE_MEMORY", "JARVIS_ADAPTIVE_MEMORY"),
        True,
        parse_bool,
    ),
    Setting("cache_size_green", ("CACHE_SIZE_GREEN",), 500, cache_megabytes),
    Setting("cache_size_yellow", ("CACHE_SIZE_YELLOW",), 200, cache_megabytes),
    Setting("cache_size_red", ("CACHE_SIZE_RED",), 50, cache_megabytes),
    Setting("quality_green", ("CAPTURE_QUALITY_GREEN",), CaptureQuality.OPTIMIZED, capture_quality),
    Setting("quality_yellow", ("CAPTURE_QUALITY_YELLOW",), CaptureQuality.FAST, capture_quality),
    Setting("quality_red", ("CAPTURE_QUALITY_RED",), CaptureQuality.THUMBNAIL, capture_quality),
    Setting(
        "pressure_check_interval",
        ("PRESSURE_CHECK_INTERVAL",),
        5.0,
        seconds(*CHECK_INTERVAL_RANGE),
    ),
    Setting("monitor_active_only_on_pressure", ("MONITOR_ACTIVE_ONLY_PRESSURE",), True, parse_bool),
    Setting("monitored_spaces", ("MONITORED_SPACES",), [], space_list),
    Setting("cache_max_size_mb", ("CACHE_MAX_SIZE_MB",), 200, cache_megabytes),
    Setting("cache_default_ttl", ("CACHE_DEFAULT_TTL",), 30.0, seconds(*TTL_RANGE)),
    Setting("cache_dynamic_sizing", ("CACHE_DYNAMIC_SIZING",), True, parse_bool),
    Setting("image_compression_quality", ("IMAGE_COMPRESSION_QUALITY",), 85, jpeg_quality),
    Setting("image_thumbnail_size", ("IMAGE_THUMBNAIL_SIZE",), (400, 300), box_size),
    Setting("enable_aggressive_compression", ("ENABLE_AGGRESSIVE_COMPRESSION",), True, parse_bool),
    Setting("jpeg_quality_yellow", ("JPEG_QUALITY_YELLOW",), 75, jpeg_quality),
    Setting("jpeg_quality_red", ("JPEG_QUALITY_RED",), 60, jpeg_quality),
    Setting("image_subsampling", ("IMAGE_CHROMA_SUBSAMPLING",), "444", subsampling),
    Setting("pressure_override", ("IRONCLIW_PRESSURE_OVERRIDE",), None, optional_pressure),
    Setting("tune_malloc", ("IRONCLIW_TUNE_MALLOC",), True, parse_bool),
    Setting(
        "offload_red_hold_seconds",
        ("IRONCLIW_OFFLOAD_RED_HOLD_SECONDS",),
        30.0,
        seconds(*RED_HOLD_RANGE),
    ),
    Setting(
        "capture_timeout_seconds",
        ("IRONCLIW_CAPTURE_TIMEOUT_SECONDS",),
        10.0,
        seconds(*CAPTURE_TIMEOUT_RANGE),
    ),
    Setting("activity_policy", ("IRONCLIW_ACTIVITY_POLICY",), True, parse_bool),
    Setting(
        "idle_after_seconds",
        ("IDLE_AFTER_SECONDS",),
        120.0,
        seconds(*ACTIVITY_SECONDS_RANGE),
    ),
    Setting(
        "away_after_seconds",
        ("AWAY_AFTER_SECONDS",),
        900.0,
        seconds(*ACTIVITY_SECONDS_RANGE),
    ),
    Setting("away_poll_factor", ("AWAY_POLL_FACTOR",), 4.0, real_between(*AWAY_POLL_FACTOR_RANGE)),
)
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


def threshold_env_name(name: str) -> str:
    return "PRESSURE_" + name.upper()


@dataclass(init=False)
class MemoryConfig:
    """Every tunable of ironcliw-mem. See the README for the environment variables.

    The first ten fields keep the agent's original positional order.
    """

    enable_adaptive_management: bool
    cache_size_green: int
    cache_size_yellow: int
    cache_size_red: int
    quality_green: CaptureQuality
    quality_yellow: CaptureQuality
    quality_red: CaptureQuality
    pressure_check_interval: float
    monitor_active_only_on_pressure: bool
    monitored_spaces: list[int]
    cache_max_size_mb: int
    cache_default_ttl: float
    cache_dynamic_sizing: bool
    image_compression_quality: int
    image_thumbnail_size: tuple[int, int]
    enable_aggressive_compression: bool
    jpeg_quality_yellow: int
    jpeg_quality_red: int
    image_subsampling: str
    pressure_override: MemoryPressure | None
    tune_malloc: bool
    offload_red_hold_seconds: float
    capture_timeout_seconds: float
    activity_policy: bool
    idle_after_seconds: float
    away_after_seconds: float
    away_poll_factor: float
    thresholds: dict[str, float]
    sources: dict[str, str] = field(init=False, repr=False, compare=False)

    def __init__(
        self,
        enable_adaptive_management: bool | None = None,
        cache_size_green: int | None = None,
        cache_size_yellow: int | None = None,
        cache_size_red: int | None = None,
        quality_green: CaptureQuality | str | None = None,
        quality_yellow: CaptureQuality | str | None = None,
        quality_red: CaptureQuality | str | None = None,
        pressure_check_interval: float | None = None,
        monitor_active_only_on_pressure: bool | None = None,
        monitored_spaces: list[int] | str | None = None,
        *,
        cache_max_size_mb: int | None = None,
        cache_default_ttl: float | None = None,
        cache_dynamic_sizing: bool | None = None,
        image_compression_quality: int | None = None,
        image_thumbnail_size: tuple[int, int] | str | None = None,
        enable_aggressive_compression: bool | None = None,
        jpeg_quality_yellow: int | None = None,
        jpeg_quality_red: int | None = None,
        image_subsampling: str | None = None,
        pressure_override: MemoryPressure | str | None = None,
        tune_malloc: bool | None = None,
        offload_red_hold_seconds: float | None = None,
        capture_timeout_seconds: float | None = None,
        activity_policy: bool | None = None,
        idle_after_seconds: float | None = None,
        away_after_seconds: float | None = None,
        away_poll_factor: float | None = None,
        thresholds: Mapping[str, float] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        explicit = {
            "enable_adaptive_management": enable_adaptive_management,
            "cache_size_green": cache_size_green,
            "cache_size_yellow": cache_size_yellow,
            "cache_size_red": cache_size_red,
            "quality_green": quality_green,
            "quality_yellow": quality_yellow,
            "quality_red": quality_red,
            "pressure_check_interval": pressure_check_interval,
            "monitor_active_only_on_pressure": monitor_active_only_on_pressure,
            "monitored_spaces": monitored_spaces,
            "cache_max_size_mb": cache_max_size_mb,
            "cache_default_ttl": cache_default_ttl,
            "cache_dynamic_sizing": cache_dynamic_sizing,
            "image_compression_quality": image_compression_quality,
            "image_thumbnail_size": image_thumbnail_size,
            "enable_aggressive_compression": enable_aggressive_compression,
            "jpeg_quality_yellow": jpeg_quality_yellow,
            "jpeg_quality_red": jpeg_quality_red,
            "image_subsampling": image_subsampling,
            "pressure_override": pressure_override,
            "tune_malloc": tune_malloc,
            "offload_red_hold_seconds": offload_red_hold_seconds,
            "capture_timeout_seconds": capture_timeout_seconds,
            "activity_policy": activity_policy,
            "idle_after_seconds": idle_after_seconds,
            "away_after_seconds": away_after_seconds,
            "away_poll_factor": away_poll_factor,
        }
        environ = os.environ if env is None else env
        problems: list[str] = []
        self.sources = {}
        for setting in SETTINGS:
            value, source = _resolve(setting, explicit[setting.name], environ, problems)
            setattr(self, setting.name, value)
            self.sources[setting.name] = source
        if thresholds is not None and not isinstance(thresholds, Mapping):
            raise TypeError(
                "thresholds must be a mapping of threshold name to number (or None), got "
                f"{type(thresholds).__name__}"
            )
        self.thresholds, threshold_sources, threshold_problems = resolve_thresholds(
            thresholds, environ
        )
        self.sources.update(threshold_sources)
        problems.extend(threshold_problems)
        problems.extend(_activity_order_problems(self, problems))
        if problems:
            raise ConfigError(problems)
        _warn_about_orderings(self)

    def describe(self) -> list[dict[str, str]]:
        """The effective configuration: each setting, its value and where the value came from."""
        rows = []
        for f in fields(self):
            if f.name in ("sources", "thresholds"):
                continue
            rows.append(
                {
                    "setting": f.name,
                    "value": _display(getattr(self, f.name)),
                    "source": self.sources[f.name],
                }
            )
        for name, value in self.thresholds.items():
            rows.append(
                {
                    "setting": f"thresholds.{name}",
                    "value": _display(value),
                    "source": self.sources[f"thresholds.{name}"],
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {row["setting"]: row["value"] for row in self.describe()}


def _display(value: object) -> str:
    if isinstance(value, CaptureQuality | MemoryPressure):
        return str(value.value)
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "(all)"
    if value is None:
        return "(none)"
    return str(value)


def _activity_order_problems(config: MemoryConfig, problems: list[str]) -> list[str]:
    """Away must come after idle: with away first the user would skip the idle state."""
    labels = {
        name: _setting_label(config, name) for name in ("idle_after_seconds", "away_after_seconds")
    }
    if any(label in problem for problem in problems for label in labels.values()):
        return []  # one of them is already reported as bad on its own
    if config.away_after_seconds < config.idle_after_seconds:
        return [
            f"{labels['away_after_seconds']}={config.away_after_seconds:g} is below "
            f"{labels['idle_after_seconds']}={config.idle_after_seconds:g}: the user is away "
            "only after being idle, so AWAY_AFTER_SECONDS must be >= IDLE_AFTER_SECONDS"
        ]
    return []


def _setting_label(config: MemoryConfig, name: str) -> str:
    """How a problem names a setting: its variable, or `argument <name>`."""
    source = config.sources[name]
    if source.startswith("env "):
        return source.removeprefix("env ")
    return f"argument {name}" if source == "argument" else SETTINGS_BY_NAME[name].env[0]


def _warn_about_orderings(config: MemoryConfig) -> None:
    """Warns, once per process for each, about levels ordered backwards: more pressure should
    never mean a bigger budget, a finer tier or a higher JPEG quality."""
    pairs: list[tuple[str, str, str]] = [
        ("cache_size_red", "cache_size_yellow", " MB"),
        ("cache_size_yellow", "cache_size_green", " MB"),
        ("cache_size_red", "cache_size_green", " MB"),
        ("quality_red", "quality_yellow", ""),
        ("quality_yellow", "quality_green", ""),
        ("quality_red", "quality_green", ""),
        # Not against image_compression_quality: these are ceilings on it, so a lower base is
        # simply kept under pressure.
        ("jpeg_quality_red", "jpeg_quality_yellow", ""),
    ]
    for tighter, looser, unit in pairs:
        tight, loose = getattr(config, tighter), getattr(config, looser)
        if loose < tight:
            message = (
                f"{tighter} ({_display(tight)}{unit}) is above {looser} ({_display(loose)}{unit}): "
                "the setting for more memory pressure should not ask for more memory"
            )
            if message not in _WARNED:
                _WARNED.add(message)
                warnings.warn(message, ConfigWarning, stacklevel=3)


def _disagreeing_aliases(setting: Setting, environ: Mapping[str, str]) -> str | None:
    """A problem line when two spellings of one variable are set to different values."""
    given = [(name, environ[name]) for name in setting.env if name in environ]
    if len(given) < 2:
        return None
    try:
        values = {setting.parse(raw) for _, raw in given}
    except ValueError:
        return None  # the bad spelling is reported on its own
    if len(values) < 2:
        return None
    spelled = " and ".join(f"{name}={raw!r}" for name, raw in given)
    return f"{spelled} disagree: set one of {', '.join(setting.env)}"


def _resolve(
    setting: Setting, explicit: object, environ: Mapping[str, str], problems: list[str]
) -> tuple[Any, str]:
    if explicit is not None:
        raw: object = explicit
        source = "argument"
        label = f"argument {setting.name}"
    else:
        name = next((n for n in setting.env if n in environ), None)
        if name is None:
            return setting.default, "default"
        disagreement = _disagreeing_aliases(setting, environ)
        if disagreement is not None:
            problems.append(disagreement)
            return setting.default, source_of(name)
        raw = environ[name]
        source = source_of(name)
        label = f"{name}={raw!r}"
    try:
        return setting.parse(raw), source
    except ValueError as accepted:
        if source == "argument":
            label = f"argument {setting.name}={raw!r}"
        problems.append(f"{label}: expected {accepted}")
        return setting.default, source


def source_of(variable: str) -> str:
    return f"env {variable}"


def resolve_thresholds(
    explicit: Mapping[str, float] | None, environ: Mapping[str, str]
) -> tuple[dict[str, float], dict[str, str], list[str]]:
    """Threshold values (argument > PRESSURE_<NAME> > default), their sources, and problems."""
    explicit = dict(explicit or {})
    problems = [
        f"argument thresholds[{unknown!r}]: unknown threshold; accepted: "
        + ", ".join(THRESHOLD_DEFAULTS)
        for unknown in sorted(set(explicit) - set(THRESHOLD_DEFAULTS))
    ]
    values: dict[str, float] = {}
    sources: dict[str, str] = {}
    for name, default in THRESHOLD_DEFAULTS.items():
        env_name = threshold_env_name(name)
        if name in explicit:
            raw: object = explicit[name]
            sources[f"thresholds.{name}"] = "argument"
            label = f"argument thresholds[{name!r}]={raw!r}"
        elif env_name in environ:
            raw = environ[env_name]
            sources[f"thresholds.{name}"] = f"env {env_name}"
            label = f"{env_name}={raw!r}"
        else:
            values[name] = default
            sources[f"thresholds.{name}"] = "default"
            continue
        try:
            values[name] = non_negative_float(raw)
        except ValueError as accepted:
            problems.append(f"{label}: expected {accepted}")
            values[name] = default
    if not problems:
        try:
            Thresholds(**values)
        except ValueError as relation:
            # The classifier names the field whose value breaks a rule ("field: must be ...").
            field_name, _, rule = str(relation).partition(": ")
            relates = any(other in rule for other in THRESHOLD_DEFAULTS if other != field_name)
            band = " (enter and exit thresholds must leave a band so the level cannot flap)"
            problems.append(
                f"{threshold_env_name(field_name)}={values.get(field_name)}: {rule}"
                + (band if relates else "")
            )
    return values, sources, problems
