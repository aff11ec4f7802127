//! Event-driven wake-ups: block until the kernel signals memory pressure or a timeout passes.
//!
//! - Linux, PSI trigger (preferred): write `some <threshold> <window>` (microseconds) to the
//!   process's cgroup v2 `memory.pressure`, or to `/proc/pressure/memory`, and `poll()` for
//!   POLLPRI. Without CAP_SYS_RESOURCE the kernel accepts only windows that are multiples of 2 s,
//!   so a refused window is rounded up to the next multiple of 2 s and tried once more.
//! - Linux, cgroup v1: `memory.pressure_level` registered through `cgroup.event_control` with an
//!   eventfd (level "medium"), where that is what the kernel offers.
//! - macOS: a dispatch memory-pressure source (warn | critical) whose handler writes a byte into
//!   a pipe, so waiting is the same `poll()` as on Linux.
//! - Otherwise: no mechanism; `wait` just sleeps until the timeout.
//!
//! Every watcher also polls a private "cancel" pipe, so `close()` from another thread ends a wait
//! at once. Waiting takes `&self`: one watcher may be shared between threads.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// How a watcher learns about pressure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    PsiTrigger,
    CgroupV1PressureLevel,
    Dispatch,
    None,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::PsiTrigger => "psi-trigger",
            Mechanism::CgroupV1PressureLevel => "cgroup-v1-pressure-level",
            Mechanism::Dispatch => "dispatch",
            Mechanism::None => "none",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [
            Mechanism::PsiTrigger,
            Mechanism::CgroupV1PressureLevel,
            Mechanism::Dispatch,
            Mechanism::None,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }
}

/// How a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The kernel signalled pressure.
    Signalled,
    Timeout,
    /// A signal interrupted the wait (the caller should check for KeyboardInterrupt).
    Interrupted,
    /// `close()` was called.
    Closed,
}

/// PSI window limits from the kernel (psi.rst): 500 ms to 10 s.
const PSI_MIN_WINDOW_US: u64 = 500_000;
const PSI_MAX_WINDOW_US: u64 = 10_000_000;
/// Unprivileged triggers need a window that is a multiple of 2 s.
const PSI_UNPRIVILEGED_QUANTUM_US: u64 = 2_000_000;
/// Stall threshold as a share of the window: 10 % (`some 200000 2000000` for a 2 s window),
/// the same share as the yellow some10 threshold.
const PSI_THRESHOLD_SHARE: f64 = 0.10;
/// The cgroup v1 vmpressure level that wakes the watcher ("low" fires on every reclaim).
#[cfg(target_os = "linux")]
const V1_PRESSURE_LEVEL: &str = "medium";

/// A pressure watcher. Construct with `Watcher::open`.
#[derive(Debug)]
pub struct Watcher {
    mechanism: Mechanism,
    /// What was set up, for humans ("some 200000 2000000 on /proc/pressure/memory").
    detail: String,
    /// Kept open for the registration's lifetime (v1 `memory.pressure_level`, dispatch source).
    /// Declared before `event` so it is dropped first: the dispatch source is cancelled before
    /// the read end of its pipe closes.
    _keep: Option<Keep>,
    /// The fd to poll: the PSI trigger file, the v1 eventfd, or the dispatch pipe's read end.
    event: Option<OwnedFd>,
    event_flags: libc::c_short,
    cancel_read: OwnedFd,
    cancel_write: OwnedFd,
    closed: AtomicBool,
}

#[derive(Debug)]
#[allow(dead_code)] // held for their Drop only
enum Keep {
    Fd(OwnedFd),
    #[cfg(any(target_os = "macos", feature = "check-macos-ffi"))]
    Dispatch(dispatch::Source),
}

/// True when this process's memory cgroup is v1 with a limit set.
fn in_limited_v1_cgroup(proc_root: &Path, cgroup_root: &Path) -> bool {
    let super::linux::CgroupLocation::V1(dir) = super::linux::locate_cgroup(proc_root, cgroup_root)
    else {
        return false;
    };
    super::linux::read_once(&dir.join("memory.limit_in_bytes"), super::linux::SMALL_FILE)
        .ok()
        .and_then(|text| super::linux::parse_v1_limit("memory.limit_in_bytes", &text).ok())
        .flatten()
        .is_some()
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return pipe2_cloexec_nonblock();
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    return pipe_then_fcntl();
}

/// Close-on-exec from birth (pipe2), so a fork+exec on another thread cannot inherit them.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn pipe2_cloexec_nonblock() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2() writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// macOS has no pipe2: plain pipe(), then close-on-exec and non-blocking set by fcntl (a
/// fork+exec racing in between could inherit them; nothing in this crate forks). POSIX only,
/// so `check-macos-ffi` type-checks it on Linux too.
#[cfg(any(
    not(any(target_os = "linux", target_os = "android")),
    feature = "check-macos-ffi"
))]
#[cfg_attr(any(target_os = "linux", target_os = "android"), allow(dead_code))]
fn pipe_then_fcntl() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe() writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    for fd in [&read, &write] {
        // SAFETY: plain fcntl on descriptors we own.
        let ok = unsafe {
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) == 0 && {
                let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
                flags >= 0
                    && libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) == 0
            }
        };
        if !ok {
            return Err(io::Error::last_os_error());
        }
    }
    Ok((read, write))
}

/// Reads and discards whatever is pending on a non-blocking fd.
fn drain(fd: &OwnedFd) {
    let mut buf = [0u8; 64];
    // SAFETY: `buf` is writable for its length; the fd is non-blocking so this ends.
    while unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

impl Watcher {
    /// Sets up the best mechanism available (or `prefer`, which fails if it cannot be set up).
    /// `window_s` is the PSI trigger window (0.5 s to 10 s; rounded up to a multiple of 2 s when
    /// the kernel refuses it).
    pub fn open(
        proc_root: &Path,
        cgroup_root: &Path,
        window_s: f64,
        prefer: Option<Mechanism>,
    ) -> io::Result<Self> {
        let (cancel_read, cancel_write) = pipe()?;
        let mut w = Watcher {
            mechanism: Mechanism::None,
            detail: "no kernel pressure notification available: waits sleep until the timeout"
                .into(),
            event: None,
            event_flags: 0,
            _keep: None,
            cancel_read,
            cancel_write,
            closed: AtomicBool::new(false),
        };
        let mut failures = Vec::new();
        // In a memory-limited v1 cgroup the host's PSI says nothing about the cgroup's limit
        // (v1 has no PSI of its own); its memory.pressure_level does.
        let candidates: &[Mechanism] = match prefer {
            Some(m) => &[m][..],
            None if in_limited_v1_cgroup(proc_root, cgroup_root) => &[
                Mechanism::CgroupV1PressureLevel,
                Mechanism::PsiTrigger,
                Mechanism::Dispatch,
            ][..],
            None => &[
                Mechanism::PsiTrigger,
                Mechanism::CgroupV1PressureLevel,
                Mechanism::Dispatch,
            ][..],
        };
        for &m in candidates {
            let attempt = match m {
                Mechanism::PsiTrigger => w.setup_psi(proc_root, cgroup_root, window_s),
                Mechanism::CgroupV1PressureLevel => w.setup_v1(proc_root, cgroup_root),
                Mechanism::Dispatch => w.setup_dispatch(),
                Mechanism::None => Ok(()),
            };
            match attempt {
                Ok(()) => {
                    w.mechanism = m;
                    return Ok(w);
                }
                Err(e) => failures.push(format!("{}: {e}", m.name())),
            }
        }
        if prefer.is_some() {
            return Err(io::Error::other(failures.join("; ")));
        }
        w.detail = format!("{} ({})", w.detail, failures.join("; "));
        Ok(w)
    }

    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }

    fn setup_psi(&mut self, proc_root: &Path, cgroup_root: &Path, window_s: f64) -> io::Result<()> {
        if !window_s.is_finite() || window_s <= 0.0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("window_s must be a positive number of seconds, got {window_s}"),
            ));
        }
        let mut targets = Vec::new();
        if let super::linux::CgroupLocation::V2(dir) =
            super::linux::locate_cgroup(proc_root, cgroup_root)
        {
            targets.push(dir.join("memory.pressure"));
        }
        targets.push(proc_root.join("pressure/memory"));
        let window_us =
            ((window_s * 1e6).round() as u64).clamp(PSI_MIN_WINDOW_US, PSI_MAX_WINDOW_US);
        let mut errors = Vec::new();
        for path in targets {
            match psi_trigger(&path, window_us) {
                Ok((fd, spec)) => {
                    self.detail = format!("{spec} on {}", path.display());
                    self.event = Some(fd);
                    self.event_flags = libc::POLLPRI;
                    return Ok(());
                }
                Err(e) => errors.push(format!("{}: {e}", path.display())),
            }
        }
        Err(io::Error::other(errors.join("; ")))
    }

    #[cfg(target_os = "linux")]
    fn setup_v1(&mut self, proc_root: &Path, cgroup_root: &Path) -> io::Result<()> {
        let super::linux::CgroupLocation::V1(dir) =
            super::linux::locate_cgroup(proc_root, cgroup_root)
        else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no cgroup v1 memory controller",
            ));
        };
        let level_path = dir.join("memory.pressure_level");
        // Regular files only, opened without blocking: a FIFO here would hang the setup.
        let level = super::linux::open_regular(&level_path).map_err(io::Error::other)?;
        // SAFETY: eventfd has no memory preconditions.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if efd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: just created, owned here.
        let efd = unsafe { OwnedFd::from_raw_fd(efd) };
        let control_path = dir.join("cgroup.event_control");
        let registration = format!(
            "{} {} {V1_PRESSURE_LEVEL}",
            efd.as_raw_fd(),
            level.as_raw_fd()
        );
        super::linux::open_regular_for(&control_path, false, true)
            .map_err(io::Error::other)?
            .write_all(registration.as_bytes())
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", control_path.display())))?;
        self.detail = format!("level {V1_PRESSURE_LEVEL} on {}", level_path.display());
        self.event = Some(efd);
        self.event_flags = libc::POLLIN;
        self._keep = Some(Keep::Fd(level.into()));
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn setup_v1(&mut self, _proc_root: &Path, _cgroup_root: &Path) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "cgroups exist only on Linux",
        ))
    }

    fn setup_dispatch(&mut self) -> io::Result<()> {
        #[cfg(target_os = "macos")]
        return self.attach_dispatch_source();
        #[cfg(not(target_os = "macos"))]
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "dispatch sources exist only on macOS",
        ))
    }

    /// The macOS set-up; compiled (not called) elsewhere under `check-macos-ffi`.
    #[cfg(any(target_os = "macos", feature = "check-macos-ffi"))]
    #[cfg_attr(not(target_os = "macos"), allow(dead_code))]
    fn attach_dispatch_source(&mut self) -> io::Result<()> {
        let (read, write) = pipe()?;
        let source = dispatch::Source::new(write)?;
        self.detail = "DISPATCH_SOURCE_TYPE_MEMORYPRESSURE (warn | critical)".into();
        self.event = Some(read);
        self.event_flags = libc::POLLIN;
        self._keep = Some(Keep::Dispatch(source));
        Ok(())
    }

    /// Blocks until the kernel signals pressure, `timeout_s` passes (infinite: no timeout), a
    /// signal arrives, or `close()` is called. Call without holding any lock the closer needs.
    pub fn wait(&self, timeout_s: f64) -> io::Result<Wake> {
        if self.closed.load(Ordering::Acquire) {
            return Ok(Wake::Closed);
        }
        let timeout_ms: libc::c_int = if timeout_s.is_nan() || timeout_s <= 0.0 {
            0
        } else if timeout_s.is_infinite() {
            -1
        } else {
            (timeout_s * 1000.0).ceil().min(libc::c_int::MAX as f64) as libc::c_int
        };
        let mut fds = [
            libc::pollfd {
                fd: self.cancel_read.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.event.as_ref().map_or(-1, |f| f.as_raw_fd()),
                events: self.event_flags,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a valid array of two pollfd; a negative fd is ignored by poll().
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(Wake::Interrupted)
            } else {
                Err(e)
            };
        }
        if fds[0].revents != 0 || self.closed.load(Ordering::Acquire) {
            return Ok(Wake::Closed);
        }
        let revents = fds[1].revents;
        if revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
            return Err(io::Error::other(format!(
                "the {} source failed (revents {revents:#x}): {}",
                self.mechanism.name(),
                self.detail
            )));
        }
        if revents & self.event_flags != 0 {
            if self.mechanism != Mechanism::PsiTrigger {
                if let Some(fd) = &self.event {
                    drain(fd);
                }
            }
            return Ok(Wake::Signalled);
        }
        Ok(Wake::Timeout)
    }

    /// Ends every current and future wait at once. Descriptors are released on drop.
    pub fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            let byte = 1u8;
            // SAFETY: writes one byte from a valid buffer to our own non-blocking pipe.
            unsafe {
                libc::write(
                    self.cancel_write.as_raw_fd(),
                    (&byte as *const u8).cast(),
                    1,
                )
            };
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// Opens a PSI trigger on `path`; returns the fd and the accepted spec.
fn psi_trigger(path: &Path, window_us: u64) -> io::Result<(OwnedFd, String)> {
    let mut windows = vec![window_us];
    let rounded = window_us.div_ceil(PSI_UNPRIVILEGED_QUANTUM_US) * PSI_UNPRIVILEGED_QUANTUM_US;
    if rounded != window_us && rounded <= PSI_MAX_WINDOW_US {
        windows.push(rounded);
    }
    let mut last = io::Error::other("no window tried");
    for window in windows {
        let threshold = ((window as f64) * PSI_THRESHOLD_SHARE) as u64;
        let spec = format!("some {threshold} {window}");
        let file = open_rw_nonblocking(path)?;
        let mut payload = spec.clone().into_bytes();
        payload.push(0);
        match (&file).write_all(&payload) {
            Ok(()) => return Ok((file.into(), spec)),
            Err(e) => last = io::Error::new(e.kind(), format!("{spec}: {e}")),
        }
    }
    Err(last)
}

/// A regular file only: a FIFO in place of a PSI file would take the trigger and never fire.
fn open_rw_nonblocking(path: &Path) -> io::Result<std::fs::File> {
    super::linux::open_regular_for(path, true, true).map_err(io::Error::other)
}

// `--features check-macos-ffi` type-checks this leaf with `cargo check` on any OS.
#[cfg(any(target_os = "macos", feature = "check-macos-ffi"))]
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
mod dispatch {
    //! The macOS leaf: a dispatch memory-pressure source on a global queue whose handler writes
    //! one byte into a pipe. Declared by hand (libdispatch is part of libSystem).
    use std::ffi::c_void;
    use std::io;
    use std::os::fd::{IntoRawFd, OwnedFd};

    type Object = *mut c_void;
    const DISPATCH_MEMORYPRESSURE_WARN: usize = 0x02;
    const DISPATCH_MEMORYPRESSURE_CRITICAL: usize = 0x04;
    const QOS_CLASS_UTILITY: isize = 0x11;

    extern "C" {
        static _dispatch_source_type_memorypressure: c_void;
        fn dispatch_get_global_queue(identifier: isize, flags: usize) -> Object;
        fn dispatch_source_create(
            kind: *const c_void,
            handle: usize,
            mask: usize,
            queue: Object,
        ) -> Object;
        fn dispatch_set_context(object: Object, context: *mut c_void);
        fn dispatch_source_set_event_handler_f(source: Object, handler: extern "C" fn(*mut c_void));
        fn dispatch_source_set_cancel_handler_f(
            source: Object,
            handler: extern "C" fn(*mut c_void),
        );
        fn dispatch_resume(object: Object);
        fn dispatch_source_cancel(source: Object);
        fn dispatch_release(object: Object);
    }

    extern "C" fn on_pressure(context: *mut c_void) {
        let fd = context as usize as libc::c_int;
        let byte = 1u8;
        // SAFETY: the source owns the write end and closes it only in its cancel handler,
        // which libdispatch runs after any event handler has returned.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }

    extern "C" fn on_cancel(context: *mut c_void) {
        // SAFETY: the source's own descriptor, closed exactly once, after the last event.
        unsafe { libc::close(context as usize as libc::c_int) };
    }

    /// The dispatch source; it owns the pipe's write end and closes it when cancelled. (Closing
    /// it from Rust after `dispatch_source_cancel` could race a handler still running, which
    /// would then write into whatever file reused the descriptor number.)
    #[derive(Debug)]
    pub struct Source {
        source: Object,
    }

    // SAFETY: dispatch objects are thread-safe reference-counted handles.
    unsafe impl Send for Source {}
    unsafe impl Sync for Source {}

    impl Source {
        pub fn new(write: OwnedFd) -> io::Result<Self> {
            // SAFETY: documented libdispatch calls with valid arguments; the context is the raw
            // fd number, valid while `write` lives in the returned struct.
            unsafe {
                let queue = dispatch_get_global_queue(QOS_CLASS_UTILITY, 0);
                let source = dispatch_source_create(
                    &_dispatch_source_type_memorypressure,
                    0,
                    DISPATCH_MEMORYPRESSURE_WARN | DISPATCH_MEMORYPRESSURE_CRITICAL,
                    queue,
                );
                if source.is_null() {
                    return Err(io::Error::other("dispatch_source_create returned NULL"));
                }
                let fd = write.into_raw_fd();
                dispatch_set_context(source, fd as usize as *mut c_void);
                dispatch_source_set_event_handler_f(source, on_pressure);
                dispatch_source_set_cancel_handler_f(source, on_cancel);
                dispatch_resume(source);
                Ok(Source { source })
            }
        }
    }

    impl Drop for Source {
        fn drop(&mut self) {
            // The cancel handler closes the write end once no event handler can run any more.
            // SAFETY: the source was created and resumed by `new` and is released once here.
            unsafe {
                dispatch_source_cancel(self.source);
                dispatch_release(self.source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanism_names_round_trip() {
        for m in [
            Mechanism::PsiTrigger,
            Mechanism::CgroupV1PressureLevel,
            Mechanism::Dispatch,
            Mechanism::None,
        ] {
            assert_eq!(Mechanism::from_name(m.name()), Some(m));
        }
    }

    #[test]
    fn no_mechanism_times_out_and_close_ends_waits() {
        let dir = std::env::temp_dir().join(format!("ironcliw-watch-{}", std::process::id()));
        let w = Watcher::open(&dir, &dir, 2.0, None).unwrap();
        assert_eq!(w.mechanism(), Mechanism::None);
        assert!(w.detail().contains("psi-trigger"));
        assert_eq!(w.wait(0.01).unwrap(), Wake::Timeout);
        w.close();
        assert_eq!(w.wait(10.0).unwrap(), Wake::Closed);
    }

    #[test]
    fn preferring_an_unavailable_mechanism_fails() {
        let dir = Path::new("/nonexistent-ironcliw");
        let err = Watcher::open(dir, dir, 2.0, Some(Mechanism::PsiTrigger)).unwrap_err();
        assert!(err.to_string().contains("pressure/memory"), "{err}");
    }
}
