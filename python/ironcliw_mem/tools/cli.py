"""The ``ironcliw-mem`` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import math
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from ironcliw_mem import _native, gpu
from ironcliw_mem.activity import report as activity_report
from ironcliw_mem.config import ConfigError, MemoryConfig

EXIT_OK = 0
EXIT_FAILED_CHECK = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_CLOSED_PIPE = 128 + 13  # SIGPIPE, as a shell reports a process a closed pipe ended

MIB = 1024 * 1024
GIB = 1024**3
# `stress`: the default cap is this share of the memory the process can still use (the cgroup's
# headroom inside a container), and no cap may come closer than STRESS_MARGIN to all of it.
STRESS_DEFAULT_FRACTION = 0.5
STRESS_MARGIN_FRACTION = 0.10
STRESS_MARGIN_MIN_MB = 256
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def cache_self_check() -> dict[str, Any]:
    """Exercises the native cache end to end and reports what it saw.

    Fills a small cache past its budget with screenshot-sized values, so the report shows LRU
    eviction, exact accounting and zero-copy hits working on this build.
    """
    frame = bytes(range(256)) * 1024  # 256 KiB, the size of a mid-quality JPEG tier
    budget = 1024 * 1024
    cache = _native.ByteCache(budget, default_ttl=30.0)
    stored = [cache.set(f"space:{i}:optimized", frame) for i in range(8)]
    newest = cache.get("space:7:optimized")
    stats = cache.stats()
    expected_entries = budget // (len("space:0:optimized") + len(frame) + _native.ENTRY_OVERHEAD)
    checks = {
        "all_sets_accepted": all(stored),
        "within_budget": stats["bytes"] <= budget,
        "lru_evicted_oldest": "space:0:optimized" not in cache,
        "hit_returns_same_object": newest is frame,
        "entries_as_budget_allows": stats["entries"] == expected_entries,
    }
    return {"ok": all(checks.values()), "checks": checks, "stats": stats}


def cmd_info(args: argparse.Namespace) -> int:
    check = cache_self_check()
    if args.json:
        report = {
            "version": _native.__version__,
            "build_features": _native.BUILD_FEATURES,
            "cache_self_check": check,
        }
        print(json.dumps(report, indent=2))
    else:
        print(f"ironcliw-mem {_native.__version__} (features: {', '.join(_native.BUILD_FEATURES)})")
        for name, passed in check["checks"].items():
            print(f"  {'ok  ' if passed else 'FAIL'} {name}")
        stats = check["stats"]
        print(
            f"  cache: {stats['entries']} entries, {stats['bytes']} / {stats['max_bytes']} bytes,"
            f" {stats['evictions_capacity']} evicted"
        )
    return EXIT_OK if check["ok"] else EXIT_FAILED_CHECK


# --- shared helpers ------------------------------------------------------------------------------


class UsageError(Exception):
    """A request that cannot be carried out as asked (exit code 2); the message says why."""


def _make_manager() -> Any:
    from ironcliw_mem.manager import MacOSMemoryManager

    return MacOSMemoryManager(MemoryConfig())


def _make_backend(args: argparse.Namespace) -> tuple[Any, str]:
    """The capture backend the arguments ask for, and why it was chosen."""
    from ironcliw_mem.capture import (
        CaptureError,
        SyntheticBackend,
        describe_backend,
        select_backend,
    )

    try:
        chosen = select_backend(None if args.backend is None else args.backend)
    except (CaptureError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    reason = str(describe_backend(chosen).get("reason", ""))
    if chosen.name == "synthetic":
        chosen = SyntheticBackend(spaces=args.spaces, size=args.size)
    return chosen, reason


class StopRequest(asyncio.Event):
    """Set by Ctrl-C or SIGTERM; remembers which, for the exit code."""

    signum: int | None = None

    def exit_code(self) -> int:
        # Ctrl-C is an interruption (130); SIGTERM is how services are asked to stop (0).
        return EXIT_INTERRUPTED if self.signum == signal.SIGINT else EXIT_OK


def _install_stop_handlers(loop: asyncio.AbstractEventLoop, stop: StopRequest) -> list[int]:
    """Ctrl-C and SIGTERM set `stop` instead of killing the process mid-way."""
    installed: list[int] = []

    def request(signum: int) -> None:
        stop.signum = signum
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, request, signum)
            installed.append(signum)
    return installed


def _remove_stop_handlers(loop: asyncio.AbstractEventLoop, installed: list[int]) -> None:
    for signum in installed:
        loop.remove_signal_handler(signum)


async def _wait(stop: asyncio.Event, seconds: float | None) -> bool:
    """Waits up to `seconds` (None: forever); True when `stop` was set."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


def _fmt_gb(value: Any) -> str:
    return "?" if value is None else f"{value:.2f} GB"


# --- status --------------------------------------------------------------------------------------


async def _one_reading() -> dict[str, Any]:
    manager = _make_manager()
    await manager.check_pressure()
    await manager.check_activity()
    summary: dict[str, Any] = manager.get_stats_summary()
    return summary


def format_status(summary: dict[str, Any]) -> str:
    signals = summary.get("signals") or {}
    lines = [
        f"level: {summary['level']} ({summary['pressure']})"
        + (" [forced]" if summary.get("forced") else "")
        + f"  from {', '.join(summary.get('sources') or ['nothing'])}",
        "reasons: " + ("; ".join(summary.get("reasons") or []) or "none"),
        f"memory: {_fmt_gb(summary.get('available_gb'))} available of"
        f" {_fmt_gb(summary.get('total_gb'))} ({summary.get('used_percent', 0):.1f} % used),"
        f" swap used {_fmt_gb(summary.get('swap_used_gb'))}",
    ]
    shown = []
    for key, label, unit in (
        ("psi_some_avg10", "psi some10", "%"),
        ("psi_full_avg10", "psi full10", "%"),
        ("headroom", "headroom", "%"),
        ("compressor_share", "compressor share", "%"),
        ("macos_pressure_level", "kernel level", ""),
        ("cgroup_limit", "cgroup limit", "bytes"),
        ("cgroup_working_set", "cgroup working set", "bytes"),
    ):
        value = signals.get(key)
        if value is None:
            continue
        if unit == "%":
            shown.append(f"{label} {value:.1f} %")
        elif unit == "bytes":
            shown.append(f"{label} {value / MIB:.0f} MB")
        else:
            shown.append(f"{label} {value}")
    lines.append("signals: " + (", ".join(shown) or "none readable"))
    lines.extend(gpu.status_lines(summary.get("gpu")))
    lines.append(activity_report.status_line(summary.get("activity")))
    lines.append(
        f"recommended: cache {summary['recommended_cache_mb']} MB,"
        f" quality {summary['recommended_quality']} (JPEG {summary['recommended_jpeg_quality']}),"
        f" spaces {summary['monitoring_strategy']}"
    )
    process = summary.get("process") or {}
    if process:
        uss = process.get("uss_mb")
        lines.append(
            f"this process: RSS {process['rss_mb']:.1f} MB"
            + (f", USS {uss:.1f} MB" if uss is not None else "")
        )
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    summary = asyncio.run(_one_reading())
    print(json.dumps(summary, indent=2, default=str) if args.json else format_status(summary))
    return EXIT_OK


# --- profile -------------------------------------------------------------------------------------


def progress_printer(stream: TextIO) -> Callable[[Any, float, float], None] | None:
    """A one-line progress display on a terminal; nothing when `stream` is not one."""
    if not stream.isatty():
        return None
    last: list[str] = [""]

    def show(sample: Any, elapsed: float, duration: float) -> None:
        if sample.component != last[0] and last[0]:
            stream.write("\n")
        last[0] = sample.component
        uss = "" if sample.uss_mb is None else f" USS {sample.uss_mb:6.1f} MB"
        cache = "" if sample.cache_mb is None else f" cache {sample.cache_mb:6.1f} MB"
        stream.write(
            f"\r{sample.component}: {min(elapsed, duration):5.1f}/{duration:g} s"
            f"  RSS {sample.rss_mb:6.1f} MB{uss}{cache}  level {sample.level:<7}"
        )
        stream.flush()

    return show


def cmd_profile(args: argparse.Namespace) -> int:
    from ironcliw_mem.tools import profiler
    from ironcliw_mem.tools.plot import PlotUnavailable, plot_profile

    _check_writable_dir(profiler.report_directory(args.output_dir))  # before, not after, minutes
    backend, reason = _make_backend(args)
    manager = _make_manager()
    progress = progress_printer(sys.stderr)
    measured = profiler.MemoryProfiler(manager, progress=progress)

    async def run() -> profiler.MemoryProfiler:
        await manager.check_pressure()
        await manager.start_monitoring()
        try:
            return await profiler.run_full_benchmark(
                manager,
                backend,
                duration_s=args.duration,
                sample_interval_s=args.interval,
                allowance_mb=(
                    profiler.DEFAULT_ALLOWANCE_MB
                    if args.allowance_mb is None
                    else args.allowance_mb
                ),
                progress=progress,
                profiler=measured,
            )
        finally:
            await manager.stop_monitoring()

    interrupted = False
    try:
        result = asyncio.run(run())
    except KeyboardInterrupt:
        # What was measured until Ctrl-C is written, marked partial; the exit code says so.
        interrupted, result = True, measured
    if progress is not None:
        sys.stderr.write("\n")
    result.run_config.update(
        {
            "backend_reason": reason,
            "spaces": len(backend.list_spaces()),
            "synthetic_size": list(args.size) if backend.name == "synthetic" else None,
        }
    )
    report = result.generate_report()
    report["partial"] = interrupted
    # Named now, not at the start: two runs started in the same second both saw a free name.
    path = profiler.claim_report_path(args.output_dir)
    plot_note: str
    if args.no_plot:
        report["plot"] = {"path": None, "skipped": "--no-plot"}
        plot_note = "plot: skipped (--no-plot)"
    else:
        try:
            png = plot_profile(report, path.with_suffix(".png"))
            report["plot"] = {"path": str(png), "skipped": None}
            plot_note = f"plot: {png}"
        except PlotUnavailable as exc:
            report["plot"] = {"path": None, "skipped": str(exc)}
            plot_note = f"plot: skipped ({exc})"
        except Exception as exc:  # the report must not be lost to a plotting problem
            report["plot"] = {"path": None, "skipped": f"plot failed: {exc}"}
            plot_note = f"plot: failed ({exc})"
    profiler.write_report(report, path)
    print(profiler.format_summary(report))
    print(f"report: {path}")
    print(plot_note)
    if interrupted:
        print("ironcliw-mem profile: interrupted; the report is partial", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK if report["summary"]["priority_3_target_met"] else EXIT_FAILED_CHECK


def _check_writable_dir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".ironcliw-write-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"--output-dir {directory}: cannot write there ({exc})") from None


# --- stress --------------------------------------------------------------------------------------


def stress_cap_mb(
    available_mb: float, total_mb: float, requested_mb: float | None
) -> tuple[float, str | None]:
    """The most `stress` may hold, and a note when the request was lowered.

    Never more than what is available minus a margin (10 % of the total, at least 256 MB);
    by default half of what is available.
    """
    margin = max(STRESS_MARGIN_MIN_MB, STRESS_MARGIN_FRACTION * total_mb)
    hard = max(0.0, available_mb - margin)
    if requested_mb is None:
        return min(hard, STRESS_DEFAULT_FRACTION * available_mb), None
    if requested_mb > hard:
        return hard, (
            f"--max-mb {requested_mb:g} lowered to {hard:.0f} MB: {available_mb:.0f} MB available"
            f" minus a {margin:.0f} MB safety margin"
        )
    return requested_mb, None


def _allocate(size: int) -> bytearray:
    block = bytearray(size)  # calloc'd: pages are not resident until written
    block[::PAGE_SIZE] = b"\x01" * len(range(0, size, PAGE_SIZE))
    return block


async def _stress(args: argparse.Namespace) -> int:
    manager = _make_manager()
    level = await manager.check_pressure()
    stats = manager.last_stats
    available_mb = stats.available_gb * 1024 if stats else 0.0
    total_mb = stats.total_gb * 1024 if stats else 0.0
    cap_mb, note = stress_cap_mb(available_mb, total_mb, args.max_mb)
    if note:
        print(note)
    if cap_mb < 1:
        print(
            f"ironcliw-mem stress: no room to allocate safely ({available_mb:.0f} MB available)",
            file=sys.stderr,
        )
        return EXIT_FAILED_CHECK
    reasons = "; ".join(stats.reasons) if stats and stats.reasons else ""
    print(
        f"stress: up to {cap_mb:.0f} MB in steps of {args.step_mb:g} MB every {args.interval:g} s;"
        f" level {level.level_name}" + (f" ({reasons})" if reasons else ""),
        flush=True,
    )
    loop = asyncio.get_running_loop()
    stop = StopRequest()
    handlers = _install_stop_handlers(loop, stop)
    blocks: list[bytearray] = []
    held = 0
    step_bytes = int(args.step_mb * MIB)
    cap_bytes = int(cap_mb * MIB)
    try:
        step = 0
        while held < cap_bytes and not stop.is_set():
            size = min(step_bytes, cap_bytes - held)
            blocks.append(await asyncio.to_thread(_allocate, size))
            held += size
            step += 1
            previous, level = level, await manager.check_pressure()
            changed = f" (was {previous.level_name})" if level is not previous else ""
            reasons = manager.last_stats.reasons if manager.last_stats else []
            print(
                f"step {step}: holding {held / MIB:.0f} MB, level {level.level_name}{changed}"
                + (f": {'; '.join(reasons)}" if changed else ""),
                flush=True,
            )
            if held < cap_bytes and await _wait(stop, args.interval):
                break
        if not stop.is_set() and args.hold > 0:
            print(f"holding {held / MIB:.0f} MB for {args.hold:g} s", flush=True)
            await _wait(stop, args.hold)
        if stop.is_set():
            print("interrupted", flush=True)
    finally:
        blocks.clear()
        _remove_stop_handlers(loop, handlers)
    level = await manager.check_pressure()
    print(
        f"released {held / MIB:.0f} MB; level {level.level_name}"
        " (a level steps down only after the calm dwell)",
        flush=True,
    )
    return stop.exit_code()


def cmd_stress(args: argparse.Namespace) -> int:
    return asyncio.run(_stress(args))


# --- serve ---------------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _serve(args: argparse.Namespace) -> int:
    from ironcliw_mem.capture import MultiSpaceCaptureEngine
    from ironcliw_mem.tools import dashboard
    from ironcliw_mem.tools.profiler import vision_workload

    if not _is_loopback(args.host) and not args.allow_remote:
        raise UsageError(
            f"--host {args.host} is not a loopback address; the dashboard has no authentication,"
            " so pass --allow-remote to serve it beyond this machine"
        )
    backend, reason = _make_backend(args)
    manager = _make_manager()
    await manager.check_pressure()
    await manager.start_monitoring()
    engine = MultiSpaceCaptureEngine(memory_manager=manager, backend=backend)
    state = dashboard.DashboardState()
    state.publish(manager.get_stats_summary(), dashboard.cache_stats_of(engine))
    try:
        server = dashboard.DashboardServer(state, args.host, args.port)
    except OSError as exc:
        await engine.close()
        await manager.stop_monitoring()
        raise UsageError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from None
    server.start()
    loop = asyncio.get_running_loop()
    stop = StopRequest()
    handlers = _install_stop_handlers(loop, stop)
    tasks = [asyncio.create_task(dashboard.sample_forever(state, manager, engine))]
    if args.workload == "vision":
        workload: asyncio.Task[None] = asyncio.ensure_future(vision_workload(engine)())

        def report_failure(task: asyncio.Task[None]) -> None:
            if not task.cancelled() and task.exception() is not None:
                print(f"vision workload stopped: {task.exception()}", file=sys.stderr, flush=True)

        workload.add_done_callback(report_failure)
        tasks.append(workload)
    print(
        f"serving {server.url} (/stats /metrics /history /healthz), backend {backend.name}"
        f" ({reason}), workload {args.workload}; Ctrl-C stops",
        flush=True,
    )
    try:
        await _wait(stop, args.duration)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        _remove_stop_handlers(loop, handlers)
        await asyncio.to_thread(server.close)
        await engine.close()
        await manager.stop_monitoring()
    print("stopped", flush=True)
    return stop.exit_code()


def cmd_serve(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(args))


# --- arguments -----------------------------------------------------------------------------------


def _number(unit: str, *, allow_zero: bool) -> Callable[[str], float]:
    """An argparse type for a finite number of `unit` above (or from) zero, with a clear error."""
    bound = ">= 0" if allow_zero else "> 0"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            raise argparse.ArgumentTypeError(f"expected a number of {unit} {bound}, got {text!r}")
        return value

    parse.__name__ = f"{unit} {bound}"
    return parse


_positive_seconds = _number("seconds", allow_zero=False)
_non_negative_seconds = _number("seconds", allow_zero=True)
_positive_mb = _number("MB", allow_zero=False)


def _step_mb(text: str) -> float:
    value = _positive_mb(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 MB per step, got {text!r}")
    return value


_non_negative_mb = _number("MB", allow_zero=True)


def _space_count(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of spaces from 1 to 64, got {text!r}"
        )
    return int(text)


def _screen_size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 2880x1800, got {text!r}")
    width, height = (int(p) for p in parts)
    if not (64 <= width <= 16384 and 64 <= height <= 16384):
        raise argparse.ArgumentTypeError(
            f"expected each side from 64 to 16384 pixels, got {width}x{height}"
        )
    return width, height


def _port(text: str) -> int:
    if not text.strip().isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(
            f"expected a port from 0 to 65535 (0: any free), got {text!r}"
        )
    return int(text)


def _add_capture_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=("auto", "synthetic", "x11", "macos"),
        default=None,
        help="capture backend (default: $IRONCLIW_CAPTURE_BACKEND, else auto: the real screen"
        " where there is one, else synthetic screens)",
    )
    parser.add_argument(
        "--spaces", type=_space_count, default=9, help="synthetic spaces (default 9)"
    )
    parser.add_argument(
        "--size",
        type=_screen_size,
        default=(2880, 1800),
        metavar="WxH",
        help="synthetic screen size (default 2880x1800)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ironcliw-mem",
        description="Memory-pressure layer for screen-vision agents. Without a command: info.",
        epilog="Exit codes: 0 ok; 1 a check or target failed; 2 bad arguments or configuration;"
        " 130 interrupted (Ctrl-C; SIGTERM stops stress and serve cleanly with 0; an interrupted"
        " profile still writes its report, marked partial); 141 stdout was closed (| head).",
    )
    parser.add_argument("--version", action="version", version=_native.__version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = commands.add_parser("info", help="version, build features and a cache self-check")
    info.add_argument("--json", action="store_true", help="print the report as JSON")
    info.set_defaults(handler=cmd_info)

    status = commands.add_parser(
        "status",
        help="one pressure reading: level, reasons, signals, recommended budget and quality",
        description="Takes one reading of the memory signals and prints the level, why, and what"
        " the level recommends (cache budget, capture quality, spaces).",
    )
    status.add_argument("--json", action="store_true", help="print the stats summary as JSON")
    status.set_defaults(handler=cmd_status)

    profile = commands.add_parser(
        "profile",
        help="profile the vision and cache workloads; JSON report + PNG plot",
        description="Measures a baseline, then the multi-space vision workload and a cache"
        " workload for --duration seconds each, sampling RSS, USS, cache bytes and the level."
        " Writes memory_profile_<timestamp>.json and .png to --output-dir. Exit 1 when a"
        " workload failed or a target was missed.",
    )
    profile.add_argument(
        "--duration", type=_positive_seconds, default=60.0, help="seconds per workload (default 60)"
    )
    profile.add_argument(
        "--interval",
        type=_positive_seconds,
        default=1.0,
        help="seconds between samples (default 1)",
    )
    profile.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="where the report and plot go (default ~/.jarvis/profiling)",
    )
    profile.add_argument("--no-plot", action="store_true", help="write the JSON report only")
    profile.add_argument(
        "--allowance-mb",
        type=_non_negative_mb,
        default=None,
        help="growth allowed over a workload's start beyond its cache budget (default 160)",
    )
    _add_capture_arguments(profile)
    profile.set_defaults(handler=cmd_profile)

    stress = commands.add_parser(
        "stress",
        help="create memory pressure step by step, print the level, release on exit",
        description="Allocates and touches memory in steps up to a safety cap (default half of"
        " the memory available to this process, never closer than a margin of 10 % of the"
        " total, at least 256 MB, to all of it), printing the level after each step; holds,"
        " then releases everything, also on Ctrl-C or SIGTERM.",
    )
    stress.add_argument(
        "--step-mb", type=_step_mb, default=256.0, help="MB per step, >= 1 (default 256)"
    )
    stress.add_argument(
        "--max-mb", type=_positive_mb, default=None, help="MB to reach (default: the safety cap)"
    )
    stress.add_argument(
        "--hold",
        type=_non_negative_seconds,
        default=10.0,
        help="seconds to hold the peak (default 10)",
    )
    stress.add_argument(
        "--interval",
        type=_non_negative_seconds,
        default=1.0,
        help="seconds between steps (default 1)",
    )
    stress.set_defaults(handler=cmd_stress)

    serve = commands.add_parser(
        "serve",
        help="the live dashboard: /, /stats, /metrics (Prometheus), /history, /healthz",
        description="Serves a live dashboard on localhost: / (a page charting memory and the"
        " level), /stats (JSON), /metrics (Prometheus text format), /history, /healthz.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (the dashboard has no authentication)",
    )
    serve.add_argument(
        "--port", type=_port, default=8765, help="port (default 8765; 0 picks a free one)"
    )
    serve.add_argument(
        "--duration", type=_positive_seconds, default=None, help="stop after this many seconds"
    )
    serve.add_argument(
        "--workload",
        choices=("none", "vision"),
        default="none",
        help="also run the vision workload, so the cache and capture figures move (default none)",
    )
    _add_capture_arguments(serve)
    serve.set_defaults(handler=cmd_serve)
    return parser


def _closed_pipe() -> int:
    """The reader of stdout went away (`... | head`): exit quietly, as `cat` does. Python would
    otherwise print a traceback, and another error when it flushes stdout at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_CLOSED_PIPE


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _run(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:
        return _closed_pipe()


def _run(arguments: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
        if args.command is None:
            args = parser.parse_args(["info", *arguments])
    except SystemExit as done:  # --help, --version, a usage error: flushed here, not at exit
        sys.stdout.flush()
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        code = handler(args)
        sys.stdout.flush()  # here, not at exit, where a closed pipe could not be caught
        return code
    except (ConfigError, UsageError) as exc:
        print(f"ironcliw-mem {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"ironcliw-mem {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
