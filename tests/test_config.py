"""MemoryConfig: environment parsing, precedence, and every kind of bad value."""

from __future__ import annotations

import re
import warnings

import pytest

from ironcliw_mem import config as config_module
from ironcliw_mem.config import ConfigError, MemoryConfig
from ironcliw_mem.levels import CaptureQuality, MemoryPressure


def test_defaults_match_the_design_table() -> None:
    config = MemoryConfig(env={})
    assert config.enable_adaptive_management is True
    assert (config.cache_size_green, config.cache_size_yellow, config.cache_size_red) == (
        500,
        200,
        50,
    )
    assert config.cache_max_size_mb == 200
    assert config.cache_default_ttl == 30.0
    assert config.cache_dynamic_sizing is True
    assert (config.quality_green, config.quality_yellow, config.quality_red) == (
        CaptureQuality.OPTIMIZED,
        CaptureQuality.FAST,
        CaptureQuality.THUMBNAIL,
    )
    assert config.pressure_check_interval == 5.0
    assert config.monitor_active_only_on_pressure is True
    assert config.monitored_spaces == []
    assert config.image_compression_quality == 85
    assert config.image_thumbnail_size == (400, 300)
    assert config.enable_aggressive_compression is True
    assert config.pressure_override is None
    assert config.thresholds["yellow_some10_enter"] == 10.0
    assert config.thresholds["downgrade_dwell"] == 10.0


def test_every_variable_is_read() -> None:
    env = {
        "Ironcliw_ADAPTIVE_MEMORY": "off",
        "CACHE_SIZE_GREEN": "800",
        "CACHE_SIZE_YELLOW": "300",
        "CACHE_SIZE_RED": "75",
        "CACHE_MAX_SIZE_MB": "123",
        "CACHE_DEFAULT_TTL": "12.5",
        "CACHE_DYNAMIC_SIZING": "No",
        "CAPTURE_QUALITY_GREEN": "FULL",
        "CAPTURE_QUALITY_YELLOW": "optimized",
        "CAPTURE_QUALITY_RED": " fast ",
        "PRESSURE_CHECK_INTERVAL": "2",
        "MONITOR_ACTIVE_ONLY_PRESSURE": "0",
        "MONITORED_SPACES": "1, 2,3",
        "IMAGE_COMPRESSION_QUALITY": "70",
        "IMAGE_THUMBNAIL_SIZE": "320,200",
        "ENABLE_AGGRESSIVE_COMPRESSION": "false",
        "JPEG_QUALITY_YELLOW": "65",
        "JPEG_QUALITY_RED": "40",
        "IMAGE_CHROMA_SUBSAMPLING": "4:2:0",
        "IRONCLIW_PRESSURE_OVERRIDE": "warn",
        "PRESSURE_RED_HEADROOM_ENTER": "12",
    }
    config = MemoryConfig(env=env)
    assert config.enable_adaptive_management is False
    assert (config.cache_size_green, config.cache_size_yellow, config.cache_size_red) == (
        800,
        300,
        75,
    )
    assert config.cache_max_size_mb == 123
    assert config.cache_default_ttl == 12.5
    assert config.cache_dynamic_sizing is False
    assert config.quality_green is CaptureQuality.FULL
    assert config.quality_yellow is CaptureQuality.OPTIMIZED
    assert config.quality_red is CaptureQuality.FAST
    assert config.pressure_check_interval == 2.0
    assert config.monitor_active_only_on_pressure is False
    assert config.monitored_spaces == [1, 2, 3]
    assert config.image_compression_quality == 70
    assert config.image_thumbnail_size == (320, 200)
    assert config.enable_aggressive_compression is False
    assert (config.jpeg_quality_yellow, config.jpeg_quality_red) == (65, 40)
    assert config.image_subsampling == "420"
    assert config.pressure_override is MemoryPressure.YELLOW
    assert config.thresholds["red_headroom_enter"] == 12.0


@pytest.mark.parametrize(
    "name", ["Ironcliw_ADAPTIVE_MEMORY", "IRONCLIW_ADAPTIVE_MEMORY", "JARVIS_ADAPTIVE_MEMORY"]
)
def test_adaptive_switch_has_three_spellings(name: str) -> None:
    assert MemoryConfig(env={name: "false"}).enable_adaptive_management is False


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("On", True),
        ("false", False),
        ("0", False),
        ("NO", False),
        ("off", False),
    ],
)
def test_boolean_spellings(word: str, expected: bool) -> None:
    assert MemoryConfig(env={"CACHE_DYNAMIC_SIZING": word}).cache_dynamic_sizing is expected


def test_explicit_arguments_beat_the_environment() -> None:
    env = {"CACHE_SIZE_GREEN": "800", "CAPTURE_QUALITY_RED": "fast", "MONITORED_SPACES": "4"}
    config = MemoryConfig(
        cache_size_green=100,
        quality_red="thumbnail",
        monitored_spaces=[1, 2],
        thresholds={"downgrade_dwell": 3.0},
        env={**env, "PRESSURE_DOWNGRADE_DWELL": "30"},
    )
    assert config.cache_size_green == 100
    assert config.quality_red is CaptureQuality.THUMBNAIL
    assert config.monitored_spaces == [1, 2]
    assert config.thresholds["downgrade_dwell"] == 3.0
    sources = {row["setting"]: row["source"] for row in config.describe()}
    assert sources["cache_size_green"] == "argument"
    assert sources["cache_size_yellow"] == "default"
    assert sources["thresholds.downgrade_dwell"] == "argument"


def test_positional_order_matches_the_original() -> None:
    config = MemoryConfig(False, 3, 2, 1, "full", "fast", "fast", 1.5, False, [7], env={})
    assert config.enable_adaptive_management is False
    assert (config.cache_size_green, config.cache_size_yellow, config.cache_size_red) == (3, 2, 1)
    assert config.quality_green is CaptureQuality.FULL
    assert config.pressure_check_interval == 1.5
    assert config.monitor_active_only_on_pressure is False
    assert config.monitored_spaces == [7]


def test_describe_names_the_variable_each_value_came_from() -> None:
    config = MemoryConfig(env={"JARVIS_ADAPTIVE_MEMORY": "yes", "IMAGE_THUMBNAIL_SIZE": "640x480"})
    rows = {row["setting"]: row for row in config.describe()}
    assert rows["enable_adaptive_management"]["source"] == "env JARVIS_ADAPTIVE_MEMORY"
    assert rows["image_thumbnail_size"] == {
        "setting": "image_thumbnail_size",
        "value": "640,480",
        "source": "env IMAGE_THUMBNAIL_SIZE",
    }
    assert rows["monitored_spaces"]["value"] == "(all)"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"CACHE_SIZE_GREEN": "lots"}, "CACHE_SIZE_GREEN='lots': expected a whole number from 0"),
        ({"CACHE_SIZE_RED": "-5"}, "CACHE_SIZE_RED='-5': expected a whole number from 0"),
        ({"CACHE_MAX_SIZE_MB": "1.5"}, "CACHE_MAX_SIZE_MB='1.5': expected a whole number"),
        ({"CACHE_DEFAULT_TTL": "0"}, "CACHE_DEFAULT_TTL='0': expected a number from 0.1"),
        ({"PRESSURE_CHECK_INTERVAL": "nan"}, "PRESSURE_CHECK_INTERVAL='nan'"),
        ({"CAPTURE_QUALITY_GREEN": "ultra"}, "expected one of full, optimized, fast, thumbnail"),
        ({"IMAGE_COMPRESSION_QUALITY": "0"}, "expected a whole number from 1 to 100"),
        ({"IMAGE_COMPRESSION_QUALITY": "101"}, "IMAGE_COMPRESSION_QUALITY='101'"),
        ({"MONITORED_SPACES": "1,two"}, "MONITORED_SPACES='1,two': expected a comma-separated"),
        ({"MONITORED_SPACES": "0"}, "MONITORED_SPACES='0'"),
        ({"IMAGE_THUMBNAIL_SIZE": "400"}, "IMAGE_THUMBNAIL_SIZE='400': expected two whole"),
        ({"IMAGE_THUMBNAIL_SIZE": "400,0"}, "IMAGE_THUMBNAIL_SIZE='400,0'"),
        ({"CACHE_DYNAMIC_SIZING": "maybe"}, "CACHE_DYNAMIC_SIZING='maybe': expected true/false"),
        ({"IMAGE_CHROMA_SUBSAMPLING": "411"}, "expected one of 444, 422, 420"),
        ({"IRONCLIW_PRESSURE_OVERRIDE": "purple"}, "IRONCLIW_PRESSURE_OVERRIDE='purple'"),
        ({"PRESSURE_RED_FULL10_ENTER": "-1"}, "PRESSURE_RED_FULL10_ENTER='-1'"),
    ],
)
def test_bad_values_name_variable_value_and_what_is_accepted(
    env: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        MemoryConfig(env=env)
    assert isinstance(caught.value, ValueError)
    assert fragment in str(caught.value)


def test_all_bad_variables_are_reported_together() -> None:
    env = {
        "CACHE_SIZE_GREEN": "x",
        "CAPTURE_QUALITY_RED": "tiny",
        "IMAGE_COMPRESSION_QUALITY": "500",
        "MONITORED_SPACES": "a,b",
    }
    with pytest.raises(ConfigError) as caught:
        MemoryConfig(env=env)
    assert len(caught.value.problems) == 4
    for name in env:
        assert name in str(caught.value)


def test_bad_explicit_arguments_are_reported_like_variables() -> None:
    with pytest.raises(ConfigError) as caught:
        MemoryConfig(cache_size_green=-1, quality_red="huge", env={})
    text = str(caught.value)
    assert "argument cache_size_green=-1" in text
    assert "argument quality_red='huge'" in text


def test_hysteresis_bands_must_point_the_safe_way() -> None:
    with pytest.raises(ConfigError, match="PRESSURE_YELLOW_SOME10_EXIT"):
        MemoryConfig(env={"PRESSURE_YELLOW_SOME10_EXIT": "20"})
    with pytest.raises(ConfigError, match="red_headroom_exit"):
        MemoryConfig(env={"PRESSURE_RED_HEADROOM_EXIT": "5"})


def test_unknown_threshold_argument_is_named() -> None:
    with pytest.raises(ConfigError, match="'yelow_some10_enter'"):
        MemoryConfig(thresholds={"yelow_some10_enter": 5.0}, env={})


def test_dataclasses_replace_works_as_on_the_original_dataclass() -> None:
    import dataclasses

    config = MemoryConfig(cache_size_green=700, env={})
    changed = dataclasses.replace(config, cache_size_red=10)
    assert (changed.cache_size_green, changed.cache_size_red) == (700, 10)
    assert changed.thresholds == config.thresholds


# --- every setting has a sane range, checked when the config is made ----------------------------

# Digits that Python's int() and float() accept but a setting must not.
FULLWIDTH_123 = "\uff11\uff12\uff13"
FULLWIDTH_2 = "\uff12"
FULLWIDTH_4 = "\uff14"
ARABIC_INDIC_300 = "\u0663\u0660\u0660"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        # Beyond what the cache can hold (1 TiB), which used to fail only later.
        ({"CACHE_MAX_SIZE_MB": "99999999999999"}, "CACHE_MAX_SIZE_MB='99999999999999'"),
        ({"CACHE_SIZE_GREEN": "10000000000000"}, "CACHE_SIZE_GREEN='10000000000000'"),
        ({"CACHE_SIZE_RED": "2000000"}, "from 0 to 1048576"),
        ({"IMAGE_THUMBNAIL_SIZE": "70000,70000"}, "IMAGE_THUMBNAIL_SIZE='70000,70000'"),
        ({"IMAGE_THUMBNAIL_SIZE": "400,0"}, "from 1 to 65500"),
        ({"PRESSURE_CHECK_INTERVAL": "1e-300"}, "PRESSURE_CHECK_INTERVAL='1e-300'"),
        ({"PRESSURE_CHECK_INTERVAL": "0.05"}, "from 0.1 to 3600 seconds"),
        ({"PRESSURE_CHECK_INTERVAL": "100000"}, "PRESSURE_CHECK_INTERVAL='100000'"),
        ({"CACHE_DEFAULT_TTL": "1e-300"}, "CACHE_DEFAULT_TTL='1e-300'"),
        ({"CACHE_DEFAULT_TTL": "1e9"}, "from 0.1 to 86400 seconds"),
        ({"IRONCLIW_OFFLOAD_RED_HOLD_SECONDS": "1e-300"}, "IRONCLIW_OFFLOAD_RED_HOLD_SECONDS"),
        ({"MONITORED_SPACES": "1,100000"}, "MONITORED_SPACES='1,100000'"),
        # Only plain ASCII decimals are numbers.
        ({"CACHE_SIZE_GREEN": FULLWIDTH_123}, f"CACHE_SIZE_GREEN='{FULLWIDTH_123}': expected"),
        ({"CACHE_SIZE_GREEN": ARABIC_INDIC_300}, f"CACHE_SIZE_GREEN='{ARABIC_INDIC_300}'"),
        ({"CACHE_SIZE_GREEN": "1_000"}, "CACHE_SIZE_GREEN='1_000'"),
        ({"CACHE_SIZE_GREEN": "+5"}, "CACHE_SIZE_GREEN='+5'"),
        ({"IMAGE_COMPRESSION_QUALITY": "8_5"}, "IMAGE_COMPRESSION_QUALITY='8_5'"),
        ({"PRESSURE_CHECK_INTERVAL": "+2"}, "PRESSURE_CHECK_INTERVAL='+2'"),
        ({"PRESSURE_CHECK_INTERVAL": "2_0"}, "PRESSURE_CHECK_INTERVAL='2_0'"),
        ({"PRESSURE_CHECK_INTERVAL": FULLWIDTH_2}, f"PRESSURE_CHECK_INTERVAL='{FULLWIDTH_2}'"),
        ({"PRESSURE_DOWNGRADE_DWELL": "1_0"}, "PRESSURE_DOWNGRADE_DWELL='1_0'"),
        ({"MONITORED_SPACES": "1,+2"}, "MONITORED_SPACES='1,+2'"),
        ({"IMAGE_THUMBNAIL_SIZE": f"{FULLWIDTH_4}00,300"}, "IMAGE_THUMBNAIL_SIZE="),
        # The thresholds that are not percentages have sane ceilings too.
        ({"PRESSURE_DOWNGRADE_DWELL": "1e300"}, "a dwell in seconds and must be <= 86400"),
        ({"PRESSURE_DOWNGRADE_DWELL": "86401"}, "PRESSURE_DOWNGRADE_DWELL=86401"),
        (
            {"PRESSURE_FALLBACK_YELLOW_AVAILABLE_MB": "1e9"},
            "an amount of MB and must be <= 1048576",
        ),
        ({"IRONCLIW_CAPTURE_TIMEOUT_SECONDS": "1e-300"}, "from 0.1 to 600 seconds"),
    ],
)
def test_out_of_range_and_non_ascii_numbers_are_config_errors(
    env: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        MemoryConfig(env=env)
    assert fragment in str(caught.value)


def test_what_a_number_may_look_like_is_said() -> None:
    with pytest.raises(ConfigError, match="plain ASCII digits"):
        MemoryConfig(env={"CACHE_SIZE_GREEN": "1_000"})


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"CACHE_SIZE_GREEN": " 700 "}, ("cache_size_green", 700)),
        ({"CACHE_SIZE_GREEN": "1048576"}, ("cache_size_green", 1048576)),
        ({"PRESSURE_CHECK_INTERVAL": "0.1"}, ("pressure_check_interval", 0.1)),
        ({"PRESSURE_CHECK_INTERVAL": "2.5e1"}, ("pressure_check_interval", 25.0)),
        ({"PRESSURE_CHECK_INTERVAL": ".5"}, ("pressure_check_interval", 0.5)),
        ({"CACHE_DEFAULT_TTL": "86400"}, ("cache_default_ttl", 86400.0)),
        ({"IMAGE_THUMBNAIL_SIZE": "65500x65500"}, ("image_thumbnail_size", (65500, 65500))),
        ({"IRONCLIW_CAPTURE_TIMEOUT_SECONDS": "600"}, ("capture_timeout_seconds", 600.0)),
    ],
)
def test_the_edges_of_each_range_are_accepted(
    env: dict[str, str], expected: tuple[str, object]
) -> None:
    name, value = expected
    assert getattr(MemoryConfig(env=env), name) == value


def test_threshold_ceilings_are_inclusive_and_say_no_band_rule_was_broken() -> None:
    config = MemoryConfig(
        env={
            "PRESSURE_DOWNGRADE_DWELL": "86400",
            "PRESSURE_FALLBACK_YELLOW_AVAILABLE_MB": "1048576",
        }
    )
    assert config.thresholds["downgrade_dwell"] == 86400.0
    assert config.thresholds["fallback_yellow_available_mb"] == 1048576.0
    with pytest.raises(ConfigError) as caught:
        MemoryConfig(env={"PRESSURE_DOWNGRADE_DWELL": "1e9"})
    assert "leave a band" not in str(caught.value)  # a range, not an enter/exit ordering


def test_explicit_arguments_have_the_same_ranges() -> None:
    with pytest.raises(ConfigError) as caught:
        MemoryConfig(
            cache_max_size_mb=10**13,
            pressure_check_interval=1e-300,
            image_thumbnail_size=(70000, 70000),
            cache_default_ttl=1e-300,
            env={},
        )
    assert len(caught.value.problems) == 4


def test_disagreeing_adaptive_aliases_are_reported() -> None:
    env = {"Ironcliw_ADAPTIVE_MEMORY": "true", "JARVIS_ADAPTIVE_MEMORY": "off"}
    with pytest.raises(ConfigError) as caught:
        MemoryConfig(env=env)
    text = str(caught.value)
    assert "Ironcliw_ADAPTIVE_MEMORY='true'" in text
    assert "JARVIS_ADAPTIVE_MEMORY='off'" in text
    assert "disagree" in text


def test_agreeing_aliases_are_fine_and_an_argument_settles_it() -> None:
    env = {"IRONCLIW_ADAPTIVE_MEMORY": "1", "JARVIS_ADAPTIVE_MEMORY": "yes"}
    assert MemoryConfig(env=env).enable_adaptive_management is True
    env = {"Ironcliw_ADAPTIVE_MEMORY": "true", "JARVIS_ADAPTIVE_MEMORY": "off"}
    config = MemoryConfig(enable_adaptive_management=False, env=env)
    assert config.enable_adaptive_management is False


@pytest.mark.parametrize("thresholds", [5, "yellow", [1.0], 2.5])
def test_thresholds_of_the_wrong_type_is_a_type_error_naming_it(thresholds: object) -> None:
    with pytest.raises(TypeError, match="thresholds must be a mapping"):
        MemoryConfig(thresholds=thresholds, env={})  # type: ignore[arg-type]


def test_a_threshold_value_that_is_not_a_number_is_reported() -> None:
    with pytest.raises(ConfigError, match=r"thresholds\['downgrade_dwell'\]"):
        MemoryConfig(thresholds={"downgrade_dwell": "soon"}, env={})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"cache_size_red": 600}, "cache_size_red (600 MB) is above cache_size_green (500 MB)"),
        ({"cache_size_yellow": 900}, "cache_size_yellow (900 MB) is above cache_size_green"),
        ({"quality_red": "full"}, "quality_red (full) is above quality_green (optimized)"),
        ({"jpeg_quality_red": 90}, "jpeg_quality_red (90) is above jpeg_quality_yellow (75)"),
    ],
)
def test_nonsensical_orderings_are_warned_about_once(
    kwargs: dict[str, object], fragment: str
) -> None:
    config_module._WARNED.clear()
    with pytest.warns(config_module.ConfigWarning, match=re.escape(fragment)):
        MemoryConfig(**kwargs, env={})  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MemoryConfig(**kwargs, env={})  # type: ignore[arg-type]  # the second time: silent


def test_the_default_orderings_raise_no_warning() -> None:
    config_module._WARNED.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MemoryConfig(env={})
        # The pressure qualities are ceilings on the base one: a lower base is not backwards.
        MemoryConfig(image_compression_quality=50, env={})
