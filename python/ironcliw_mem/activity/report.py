"""The user's activity as the tools show it: a status line and metric rows.

From the dict `get_stats_summary()["activity"]` gives, so the tools need nothing else of the
package (as `gpu.status_lines` and `gpu.metric_rows` for the GPU).
"""

from __future__ import annotations

from typing import Any

from ironcliw_mem.levels import ActivityState

# (name without the tools' prefix, type, help, [(labels, value)])
MetricRows = list[tuple[str, str, str, list[tuple[dict[str, str], float]]]]


def status_line(activity: dict[str, Any] | None) -> str:
    """`user: idle (idle 312 s, frontmost pid 812, from x11)`."""
    if not activity:
        return "user: unknown (not read)"
    details = []
    if activity.get("idle_seconds") is not None:
        details.append(f"idle {activity['idle_seconds']:.0f} s")
    if activity.get("screen_locked"):
        details.append("screen locked")
    if activity.get("frontmost_pid") is not None:
        details.append(f"frontmost pid {activity['frontmost_pid']}")
    details.append(f"from {activity.get('source', 'none')}")
    if activity.get("problem"):
        details.append(str(activity["problem"]))
    state = activity.get("state", ActivityState.UNKNOWN.value)
    acts = " (acts as active)" if state == ActivityState.UNKNOWN.value else ""
    return f"user: {state}{acts} ({', '.join(details)})"


def metric_rows(activity: dict[str, Any] | None) -> MetricRows:
    """`user_idle_seconds` (when the idle time is known) and the `user_activity` state set."""
    if not activity:
        return []
    state = activity.get("state", ActivityState.UNKNOWN.value)
    rows: MetricRows = []
    idle = activity.get("idle_seconds")
    if isinstance(idle, int | float):
        rows.append(
            ("user_idle_seconds", "gauge", "Seconds since the user's last input", [({}, idle)])
        )
    rows.append(
        (
            "user_activity",
            "gauge",
            "1 for the user's current activity state (active, idle, away, unknown), else 0",
            [({"state": s.value}, float(s.value == state)) for s in ActivityState],
        )
    )
    return rows
