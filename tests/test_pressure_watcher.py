"""PressureWatcher: mechanism choice, timeouts, close() from another thread, broken roots.

No timing assertions: waits use short timeouts, and thread joins only guard against a hang.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest

from ironcliw_mem import PressureWatcher

HANG_GUARD_S = 30.0


def empty_roots(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "proc").mkdir()
    (tmp_path / "cgroup").mkdir()
    return str(tmp_path / "proc"), str(tmp_path / "cgroup")


def test_no_mechanism_sleeps_until_the_timeout(tmp_path: Path) -> None:
    w = PressureWatcher(*empty_roots(tmp_path))
    assert w.mechanism == "none"
    assert "psi-trigger:" in w.detail  # says why each mechanism was not available
    assert w.wait(0.05) is False
    assert w.wait(0) is False
    w.close()
    assert w.closed


def test_close_from_another_thread_ends_a_wait(tmp_path: Path) -> None:
    w = PressureWatcher(*empty_roots(tmp_path))
    results: list[bool] = []
    started = threading.Event()

    def waiter() -> None:
        started.set()
        results.append(w.wait(HANG_GUARD_S * 10))

    t = threading.Thread(target=waiter)
    t.start()
    started.wait()
    w.close()
    t.join(HANG_GUARD_S)
    assert not t.is_alive(), "close() did not end the wait"
    assert results == [False]
    with pytest.raises(ValueError, match="closed"):
        w.wait(0.0)
    w.close()  # idempotent


def test_context_manager_closes(tmp_path: Path) -> None:
    with PressureWatcher(*empty_roots(tmp_path)) as w:
        assert not w.closed
    assert w.closed


def test_bad_arguments(tmp_path: Path) -> None:
    roots = empty_roots(tmp_path)
    with pytest.raises(ValueError, match="window_s"):
        PressureWatcher(*roots, window_s=0.0)
    with pytest.raises(ValueError, match="mechanism must be one of"):
        PressureWatcher(*roots, mechanism="inotify")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout_s"):
        PressureWatcher(*roots).wait(-1.0)


def test_a_required_mechanism_that_cannot_be_set_up_is_an_os_error(tmp_path: Path) -> None:
    roots = empty_roots(tmp_path)
    with pytest.raises(OSError, match="pressure/memory"):
        PressureWatcher(*roots, mechanism="psi-trigger")
    with pytest.raises(OSError, match="cgroup"):
        PressureWatcher(*roots, mechanism="cgroup-v1-pressure-level")
    assert PressureWatcher(*roots, mechanism="none").mechanism == "none"


def test_psi_trigger_on_a_regular_file_is_written_as_the_kernel_expects(tmp_path: Path) -> None:
    # A regular file accepts the write, so this checks the trigger text (NUL-terminated).
    proc, cgroup = empty_roots(tmp_path)
    (tmp_path / "proc/pressure").mkdir()
    (tmp_path / "proc/pressure/memory").write_text("")
    w = PressureWatcher(proc, cgroup, window_s=2.0)
    assert w.mechanism == "psi-trigger"
    assert (tmp_path / "proc/pressure/memory").read_bytes() == b"some 200000 2000000\x00"
    w.close()


def test_cgroup_v1_registration_line(tmp_path: Path) -> None:
    proc, cgroup = empty_roots(tmp_path)
    d = tmp_path / "cgroup/memory/job"
    d.mkdir(parents=True)
    (tmp_path / "proc/self").mkdir()
    (tmp_path / "proc/self/cgroup").write_text("4:memory:/job\n")
    (d / "memory.usage_in_bytes").write_text("1\n")
    (d / "memory.pressure_level").write_text("")
    (d / "cgroup.event_control").write_text("")
    w = PressureWatcher(proc, cgroup)
    assert w.mechanism == "cgroup-v1-pressure-level"
    assert re.fullmatch(r"\d+ \d+ medium", (d / "cgroup.event_control").read_text())
    assert w.wait(0.01) is False
    w.close()


@pytest.mark.skipif(
    not os.path.exists("/proc/pressure/memory"), reason="this kernel has no PSI (/proc/pressure)"
)
def test_this_kernel_accepts_a_psi_trigger() -> None:
    try:
        w = PressureWatcher(mechanism="psi-trigger")
    except OSError as exc:
        pytest.skip(f"PSI trigger not permitted here: {exc}")
    # A 1 s window is refused without CAP_SYS_RESOURCE and then rounded up to 2 s.
    one = PressureWatcher(window_s=1.0, mechanism="psi-trigger")
    assert re.match(r"some (100000 1000000|200000 2000000) on ", one.detail)
    assert w.detail.startswith("some 200000 2000000 on ")
    assert w.wait(0.01) in (True, False)
    w.close()
    one.close()
