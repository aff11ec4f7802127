"""The ``ironcliw-mem`` command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ironcliw_mem import _native

EXIT_OK = 0
EXIT_FAILED_CHECK = 1
EXIT_USAGE = 2


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ironcliw-mem",
        description="Memory-pressure layer for screen-vision agents.",
    )
    parser.add_argument("--version", action="version", version=_native.__version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = commands.add_parser("info", help="version, build features and a cache self-check")
    info.add_argument("--json", action="store_true", help="print the report as JSON")
    info.set_defaults(handler=cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["info", *(argv or sys.argv[1:])])
    handler = args.handler
    result: int = handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
