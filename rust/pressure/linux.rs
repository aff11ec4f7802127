//! The Linux probe: `/proc/meminfo`, PSI, and the process's own cgroup (v2 or v1).
//!
//! Pure parsers for each file format come first and are tested with fixture strings; `LinuxProbe`
//! finds the files once (both roots are injectable, so tests point it at fixture trees), keeps them
//! open and re-reads them with `pread` at offset 0, which makes procfs and kernfs regenerate the
//! contents without a new `open`. Every failure becomes a line in `Sample::problems` and a missing
//! source flag; nothing panics on bad input.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Sample, Sources};

/// v1 reports "no limit" as a huge page-rounded number; anything at or above 2^62 is no limit.
pub const V1_UNLIMITED: u64 = 1 << 62;
const KIB: u64 = 1024;

/// A parse failure: which item of which format, and what was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn parse_u64(what: &str, text: &str) -> Result<u64, ParseError> {
    parse_u64_in(what, "", text)
}

/// `parse_u64` for item `key` of file `what`; the message is built only on failure.
fn parse_u64_in(what: &str, key: &str, text: &str) -> Result<u64, ParseError> {
    text.trim().parse::<u64>().map_err(|_| {
        let sep = if key.is_empty() { "" } else { " " };
        ParseError(format!(
            "{what}{sep}{key}: expected an integer, found {:?}",
            short(text)
        ))
    })
}

fn short(text: &str) -> String {
    text.trim().chars().take(40).collect()
}

/// The figures of `/proc/meminfo` the probe uses, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meminfo {
    pub total: u64,
    pub available: Option<u64>,
    pub swap_total: Option<u64>,
    pub swap_free: Option<u64>,
    /// Compressed size of the zswap pool, when the kernel reports it.
    pub zswap: Option<u64>,
}

/// Parses `/proc/meminfo` ("MemTotal:  16314480 kB" lines). `MemTotal` is required.
pub fn parse_meminfo(text: &str) -> Result<Meminfo, ParseError> {
    let mut total = None;
    let mut info = Meminfo::default();
    for line in text.lines() {
        // The kernel prints a fixed order: MemTotal, MemFree, MemAvailable, ..., SwapTotal,
        // SwapFree, Zswap, Zswapped, Dirty, ... Nothing needed comes after "Dirty", so stop there
        // instead of parsing the other ~35 lines on every reading.
        if line.starts_with("Dirty:") {
            break;
        }
        if !matches!(line.as_bytes().first(), Some(b'M' | b'S' | b'Z')) {
            continue;
        }
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "MemTotal" => &mut total,
            "MemAvailable" => &mut info.available,
            "SwapTotal" => &mut info.swap_total,
            "SwapFree" => &mut info.swap_free,
            "Zswap" => &mut info.zswap,
            _ => continue,
        };
        let number = rest.trim().trim_end_matches("kB");
        *slot = Some(parse_u64_in("meminfo", key, number)?.saturating_mul(KIB));
    }
    info.total = total.ok_or_else(|| ParseError("meminfo: no MemTotal line".into()))?;
    if info.total == 0 {
        return Err(ParseError("meminfo: MemTotal is 0".into()));
    }
    Ok(info)
}

/// One PSI line: averages in percent, total stall in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PsiLine {
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    pub total: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Psi {
    pub some: PsiLine,
    /// Absent on kernels that report only "some".
    pub full: Option<PsiLine>,
}

fn parse_psi_line(kind: &str, fields: &str) -> Result<PsiLine, ParseError> {
    let mut line = PsiLine::default();
    let (mut a10, mut a60, mut a300, mut tot) = (false, false, false, false);
    for field in fields.split_ascii_whitespace() {
        let Some((key, value)) = field.split_once('=') else {
            return Err(ParseError(format!(
                "psi {kind}: malformed field {:?}",
                short(field)
            )));
        };
        let bad = || {
            ParseError(format!(
                "psi {kind} {key}: not a number: {:?}",
                short(value)
            ))
        };
        match key {
            "avg10" => (line.avg10, a10) = (value.parse().map_err(|_| bad())?, true),
            "avg60" => (line.avg60, a60) = (value.parse().map_err(|_| bad())?, true),
            "avg300" => (line.avg300, a300) = (value.parse().map_err(|_| bad())?, true),
            "total" => (line.total, tot) = (value.parse().map_err(|_| bad())?, true),
            _ => {}
        }
    }
    if !(a10 && a60 && a300 && tot) {
        return Err(ParseError(format!(
            "psi {kind}: missing avg10/avg60/avg300/total"
        )));
    }
    for v in [line.avg10, line.avg60, line.avg300] {
        if !(0.0..=100.0).contains(&v) {
            return Err(ParseError(format!("psi {kind}: average out of range: {v}")));
        }
    }
    Ok(line)
}

/// Parses a PSI file (`/proc/pressure/memory` or a cgroup v2 `memory.pressure`).
pub fn parse_psi(text: &str) -> Result<Psi, ParseError> {
    let mut some = None;
    let mut full = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("some ") {
            some = Some(parse_psi_line("some", rest)?);
        } else if let Some(rest) = line.strip_prefix("full ") {
            full = Some(parse_psi_line("full", rest)?);
        } else if !line.is_empty() {
            return Err(ParseError(format!(
                "psi: unexpected line {:?}",
                short(line)
            )));
        }
    }
    Ok(Psi {
        some: some.ok_or_else(|| ParseError("psi: no \"some\" line".into()))?,
        full,
    })
}

/// Where the process sits in each hierarchy, from `/proc/self/cgroup`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Membership {
    /// The unified (v2) path, from the `0::/path` line.
    pub v2: Option<String>,
    /// The v1 memory controller's path, from the `N:...memory...:/path` line.
    pub v1_memory: Option<String>,
}

pub fn parse_proc_cgroup(text: &str) -> Result<Membership, ParseError> {
    if text.trim().is_empty() {
        return Err(ParseError("/proc/self/cgroup: empty".into()));
    }
    let mut m = Membership::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(ParseError(format!(
                "/proc/self/cgroup: malformed line {:?}",
                short(line)
            )));
        };
        if !path.starts_with('/') {
            return Err(ParseError(format!(
                "/proc/self/cgroup: path not absolute: {:?}",
                short(path)
            )));
        }
        // The kernel prints canonical paths; a ".." would lead out of the cgroup root.
        if path.split('/').any(|part| part == "..") {
            return Err(ParseError(format!(
                "/proc/self/cgroup: path with \"..\" refused: {:?}",
                short(path)
            )));
        }
        if controllers.is_empty() {
            m.v2 = Some(path.to_owned());
        } else if controllers.split(',').any(|c| c == "memory") {
            m.v1_memory = Some(path.to_owned());
        }
    }
    Ok(m)
}

/// A v2 limit file (`memory.max`, `memory.high`): "max" means no limit. A limit of 0 is an
/// error: no process could run in such a cgroup, so the file is not telling the truth.
pub fn parse_v2_limit(what: &str, text: &str) -> Result<Option<u64>, ParseError> {
    if text.trim() == "max" {
        Ok(None)
    } else {
        parse_u64(what, text)
            .and_then(|l| nonzero_limit(what, l))
            .map(Some)
    }
}

/// A v1 limit: at or above 2^62 means no limit; 0 is an error, as for v2.
pub fn parse_v1_limit(what: &str, text: &str) -> Result<Option<u64>, ParseError> {
    parse_u64(what, text).and_then(|l| check_v1_limit(what, l))
}

/// A v1 limit value: `None` (no limit) at or above 2^62, an error at 0.
pub fn check_v1_limit(what: &str, value: u64) -> Result<Option<u64>, ParseError> {
    nonzero_limit(what, value).map(v1_limit)
}

fn nonzero_limit(what: &str, value: u64) -> Result<u64, ParseError> {
    if value == 0 {
        return Err(ParseError(format!(
            "{what}: the limit is 0, which no running process could be under; not used"
        )));
    }
    Ok(value)
}

/// A v1 limit value: `None` at or above 2^62.
pub fn v1_limit(value: u64) -> Option<u64> {
    (value < V1_UNLIMITED).then_some(value)
}

/// Every line of a flat-keyed file ("key value" per line: memory.stat, memory.events,
/// memory.oom_control). A line that is not a key and an integer is an error, so garbage is never
/// read as zeros.
pub fn keyed_lines<'t>(what: &str, text: &'t str) -> Result<Vec<(&'t str, u64)>, ParseError> {
    let mut lines = Vec::with_capacity(64);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut it = line.split_ascii_whitespace();
        let (Some(key), Some(value), None) = (it.next(), it.next(), it.next()) else {
            return Err(ParseError(format!(
                "{what}: expected \"key value\" lines, found {:?}",
                short(line)
            )));
        };
        lines.push((key, parse_u64_in(what, key, value)?));
    }
    Ok(lines)
}

/// The value of `key`, which the kernel always writes.
pub fn required(what: &str, lines: &[(&str, u64)], key: &str) -> Result<u64, ParseError> {
    optional(lines, key).ok_or_else(|| ParseError(format!("{what}: no {key} line")))
}

/// The value of `key`, which not every kernel writes.
pub fn optional(lines: &[(&str, u64)], key: &str) -> Option<u64> {
    lines.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// The most bytes read from a file of one value or a few lines (memory.current, a PSI file,
/// memory.events): the real ones are under 200 bytes.
pub(crate) const SMALL_FILE: usize = 4 * 1024;
/// The most bytes read from `/proc/meminfo`, `memory.stat` and `/proc/self/cgroup`: the real
/// ones are 1-3 KiB.
const LARGE_FILE: usize = 64 * 1024;

/// Opens `path` for reading without ever blocking, and only if it is a regular file: procfs,
/// sysfs and cgroupfs files are regular files (of size 0 or 4096, whatever they hold), while a
/// FIFO would block the reader and a device such as /dev/zero never ends.
pub(crate) fn open_regular(path: &Path) -> Result<File, String> {
    open_regular_for(path, true, false)
}

/// `open_regular` with the access asked for (a PSI trigger is read and written, a cgroup
/// control file only written).
pub(crate) fn open_regular_for(path: &Path, read: bool, write: bool) -> Result<File, String> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(read)
        .write(write)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| describe(path, &e))?;
    let kind = file.metadata().map_err(|e| describe(path, &e))?.file_type();
    if kind.is_file() {
        return Ok(file);
    }
    let what = if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a plain file"
    };
    Err(format!(
        "{}: not a regular file ({what}); refused",
        path.display()
    ))
}

/// The text of a file read once (no more than `limit` bytes), with the same checks as `Kept`.
pub(crate) fn read_once(path: &Path, limit: usize) -> Result<String, String> {
    let kept = Kept {
        label: "",
        path: path.to_path_buf(),
        file: open_regular(path),
        limit,
    };
    let mut buf = Vec::new();
    kept.read(&mut buf).map(str::to_owned)
}

/// A file kept open and re-read from offset 0 each time.
#[derive(Debug)]
struct Kept {
    label: &'static str,
    path: PathBuf,
    file: Result<File, String>,
    /// The most bytes the real file could hold; a longer one is refused, not read on.
    limit: usize,
}

impl Kept {
    fn open(label: &'static str, path: PathBuf) -> Self {
        Self::open_bounded(label, path, SMALL_FILE)
    }

    fn open_bounded(label: &'static str, path: PathBuf, limit: usize) -> Self {
        let file = open_regular(&path);
        Kept {
            label,
            path,
            file,
            limit,
        }
    }

    fn exists(&self) -> bool {
        self.file.is_ok()
    }

    /// Reads the whole file with `pread` from offset 0 into `buf`, which stays initialised at its
    /// full length between calls (no zeroing per read) and doubles when a file does not fit.
    /// A short read ends the file: procfs and kernfs generate the whole text in one go, and a
    /// second `pread` past the end would cost another system call for nothing.
    /// At most `limit + 1` bytes are read: one more than the limit means the file is too long.
    fn read<'b>(&self, buf: &'b mut Vec<u8>) -> Result<&'b str, String> {
        let file = self.file.as_ref().map_err(Clone::clone)?;
        if buf.is_empty() {
            buf.resize(SCRATCH_BYTES, 0);
        }
        let mut filled = 0;
        loop {
            if filled > self.limit {
                return Err(format!(
                    "{}: more than {} bytes, far beyond the real file; not read on",
                    self.path.display(),
                    self.limit
                ));
            }
            if filled == buf.len() {
                buf.resize((buf.len() * 2).min(self.limit + 1), 0);
            }
            let want = buf.len().min(self.limit + 1);
            match file.read_at(&mut buf[filled..want], filled as u64) {
                Ok(0) => break,
                Ok(n) => {
                    filled += n;
                    if filled < want {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(describe(&self.path, &e)),
            }
        }
        std::str::from_utf8(&buf[..filled])
            .map_err(|_| format!("{}: not UTF-8", self.path.display()))
    }

    /// Reads the file and parses its text; both failures become one message.
    fn parse<T>(
        &self,
        buf: &mut Vec<u8>,
        parse: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Result<T, String> {
        self.read(buf).and_then(|t| parse(t).map_err(|e| e.0))
    }
}

/// What a read could not get, one "label: why" line each.
#[derive(Clone, Debug, Default)]
struct Problems(Vec<String>);

impl Problems {
    /// The value, or `None` with the failure noted.
    fn take<T>(&mut self, label: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|e| self.note(label, &e)).ok()
    }

    fn note(&mut self, label: &str, why: &str) {
        self.0.push(format!("{label}: {why}"));
    }
}

/// Initial read buffer: every file the probe reads is well under this (v2 memory.stat ~1.5 KiB).
const SCRATCH_BYTES: usize = 16 * 1024;

fn describe(path: &Path, e: &io::Error) -> String {
    let what = match e.kind() {
        io::ErrorKind::NotFound => "not found".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    };
    format!("{}: {what}", path.display())
}

/// The cgroup files found for this process.
#[derive(Debug)]
enum Cgroup {
    V2 {
        dir: PathBuf,
        current: Kept,
        max: Kept,
        high: Kept,
        stat: Kept,
        events: Kept,
        pressure: Kept,
        /// `memory.max` and `memory.high` of each ancestor that has them (nearest first): a
        /// limit set on a parent (a slice, a container's root) binds this cgroup too.
        ancestors: Vec<(Kept, Kept)>,
    },
    V1 {
        dir: PathBuf,
        usage: Kept,
        limit: Kept,
        stat: Kept,
        failcnt: Kept,
        oom_control: Kept,
    },
    None(String),
    /// `/proc/self/cgroup` could not be used: a problem on every reading.
    Unusable(String),
}

/// Where the process's cgroup lives, as found from the roots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupLocation {
    V2(PathBuf),
    V1(PathBuf),
    /// No memory cgroup files to read (the root cgroup, or no memory controller): the system
    /// figures are the truth.
    None(String),
    /// `/proc/self/cgroup` could not be used, so whether a limit binds is not known.
    Unusable(String),
}

/// Whether `dir` holds any of `names`, whatever their type (a broken one is then a problem of
/// the reading, not a reason to look elsewhere).
fn present(dir: &Path, names: &[&str]) -> bool {
    names
        .iter()
        .any(|name| dir.join(name).symlink_metadata().is_ok())
}

fn join(root: &Path, cgroup_path: &str) -> PathBuf {
    root.join(cgroup_path.trim_start_matches('/'))
}

/// Finds the process's memory cgroup directory: v2 (at the root or under `unified/`) when it has
/// `memory.current`, else v1 under `memory/` when it has `memory.usage_in_bytes`. When the path
/// from `/proc/self/cgroup` is not visible (a container without a cgroup namespace mounts its own
/// cgroup at the root), the hierarchy's root is used if it holds the files.
pub fn locate_cgroup(proc_root: &Path, cgroup_root: &Path) -> CgroupLocation {
    let membership_path = proc_root.join("self/cgroup");
    let text = match read_once(&membership_path, LARGE_FILE) {
        Ok(t) => t,
        Err(e) => return CgroupLocation::Unusable(e),
    };
    let membership = match parse_proc_cgroup(&text) {
        Ok(m) => m,
        Err(e) => return CgroupLocation::Unusable(e.0),
    };
    if let Some(path) = &membership.v2 {
        for base in [cgroup_root.to_path_buf(), cgroup_root.join("unified")] {
            for dir in [join(&base, path), base.clone()] {
                if present(&dir, &["memory.current", "memory.max"]) {
                    return CgroupLocation::V2(dir);
                }
            }
        }
    }
    if let Some(path) = &membership.v1_memory {
        let base = cgroup_root.join("memory");
        for dir in [join(&base, path), base.clone()] {
            if present(&dir, &["memory.usage_in_bytes", "memory.limit_in_bytes"]) {
                return CgroupLocation::V1(dir);
            }
        }
    }
    CgroupLocation::None(format!(
        "cgroup: no memory controller files for {membership:?} under {}",
        cgroup_root.display()
    ))
}

/// Reads the Linux signals. Construct once; call `read` as often as needed.
#[derive(Debug)]
pub struct LinuxProbe {
    meminfo: Kept,
    psi: Kept,
    cgroup: Cgroup,
    buf: Vec<u8>,
    refresh: Duration,
    /// The last cgroup reading and when it was taken.
    last_cgroup: Option<(Instant, CgroupPart)>,
    /// The v2 ancestors' effective limit and when it was read.
    last_ancestor_limit: Option<(Instant, AncestorLimit, Problems)>,
    /// The last PSI reading, its source, and when it was taken.
    last_psi: Option<(Instant, Psi, Sources)>,
    /// The figures of a limited cgroup's slow (kernel-assembled) files and when they were read.
    last_slow: Option<(Instant, SlowFigures)>,
    /// The last `/proc/meminfo` reading, when it was taken and the free memory at that moment.
    last_meminfo: Option<(Instant, Meminfo, FreeMemory)>,
    /// Where free memory is read cheaply between `/proc/meminfo` reads: `sysinfo(2)` when the
    /// probe reads the kernel's own meminfo, none (meminfo on every call) for any other file.
    free_memory: Option<fn() -> Option<FreeMemory>>,
}

/// Free RAM and free swap in bytes: what `sysinfo(2)` reports in one cheap system call (the
/// same kernel counters as meminfo's MemFree and SwapFree, without assembling the other lines).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FreeMemory {
    pub free: u64,
    pub swap_free: u64,
}

// c_ulong is u64 here but u32 on 32-bit targets.
#[allow(clippy::useless_conversion)]
fn sysinfo_free_memory() -> Option<FreeMemory> {
    // SAFETY: sysinfo fills the struct it is given; all-zero is a valid value of it.
    let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: a valid, writable pointer to a sysinfo struct.
    if unsafe { libc::sysinfo(&mut info) } != 0 {
        return None;
    }
    let unit = u64::from(info.mem_unit.max(1));
    Some(FreeMemory {
        free: u64::from(info.freeram).saturating_mul(unit),
        swap_free: u64::from(info.freeswap).saturating_mul(unit),
    })
}

/// Whether `file` is the kernel's procfs (not a fixture, not an LXCFS view of another
/// machine's figures): only then does `sysinfo(2)` describe the same memory.
fn is_procfs(file: &Result<File, String>) -> bool {
    use std::os::fd::AsRawFd;
    const PROC_SUPER_MAGIC: i64 = 0x9fa0;
    let Ok(file) = file else { return false };
    // SAFETY: fstatfs writes into the struct it is given; all-zero is a valid value of it.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid open descriptor and a writable pointer.
    if unsafe { libc::fstatfs(file.as_raw_fd(), &mut fs) } != 0 {
        return false;
    }
    // f_type's integer type differs between architectures.
    #[allow(clippy::unnecessary_cast)]
    let magic = fs.f_type as i64;
    magic == PROC_SUPER_MAGIC
}

/// `then` less what free memory fell by since (`then_free - now_free`); a rise is not credited.
fn lowered(then: u64, then_free: u64, now_free: u64) -> u64 {
    then.saturating_sub(then_free.saturating_sub(now_free))
}

/// The meminfo figures estimated from a reading taken earlier and the free memory now: what
/// was taken from free memory since is taken from MemAvailable and SwapFree; what became free
/// is credited only at the next reading. So the estimate errs low (more pressure than there
/// is: by a page cache that grew, or memory freed since) except in one case: the kernel
/// reclaiming page cache to serve new allocations leaves free memory where it was while
/// MemAvailable falls, and the estimate is then too high by what was reclaimed since the
/// reading, at most `refresh` old.
pub fn estimate_meminfo(then: &Meminfo, then_free: FreeMemory, now_free: FreeMemory) -> Meminfo {
    Meminfo {
        available: then
            .available
            .map(|a| lowered(a, then_free.free, now_free.free)),
        swap_free: then
            .swap_free
            .map(|f| lowered(f, then_free.swap_free, now_free.swap_free)),
        ..*then
    }
}

/// How long slow-moving cgroup figures may be reused; see `LinuxProbe::set_refresh`.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(1);

/// The cgroup half of a sample.
#[derive(Clone, Debug, Default)]
struct CgroupPart {
    usage: Option<u64>,
    working_set: Option<u64>,
    high: Option<u64>,
    limit: Option<u64>,
    events_high: Option<u64>,
    events_max: Option<u64>,
    events_oom: Option<u64>,
    /// A limit binds (or may) but how close the cgroup is to it cannot be read.
    unreadable: bool,
    sources: Sources,
    problems: Problems,
}

impl CgroupPart {
    fn apply(&self, s: &mut Sample, problems: &mut Problems) {
        s.cgroup_usage = self.usage;
        s.cgroup_working_set = self.working_set;
        s.cgroup_high = self.high;
        s.cgroup_limit = self.limit;
        s.cgroup_events_high = self.events_high;
        s.cgroup_events_max = self.events_max;
        s.cgroup_events_oom = self.events_oom;
        s.cgroup_unreadable = self.unreadable;
        s.sources.insert(self.sources);
        problems.0.extend(self.problems.0.iter().cloned());
    }
}

/// The v2 ancestors of `dir` below the hierarchy root (which has no `memory.max`), nearest first.
fn v2_ancestors(dir: &Path, cgroup_root: &Path) -> Vec<(Kept, Kept)> {
    let mut out = Vec::new();
    let mut at = dir.parent();
    while let Some(parent) = at {
        if !parent.starts_with(cgroup_root) || !present(parent, &["memory.max"]) {
            break;
        }
        out.push((
            Kept::open("ancestor memory.max", parent.join("memory.max")),
            Kept::open("ancestor memory.high", parent.join("memory.high")),
        ));
        at = parent.parent();
    }
    out
}

fn min_limit(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl LinuxProbe {
    pub fn new(proc_root: impl AsRef<Path>, cgroup_root: impl AsRef<Path>) -> Self {
        let proc_root = proc_root.as_ref();
        let cgroup_root = cgroup_root.as_ref();
        let cgroup = match locate_cgroup(proc_root, cgroup_root) {
            CgroupLocation::V2(dir) => Cgroup::V2 {
                current: Kept::open("cgroup memory.current", dir.join("memory.current")),
                max: Kept::open("cgroup memory.max", dir.join("memory.max")),
                high: Kept::open("cgroup memory.high", dir.join("memory.high")),
                stat: Kept::open_bounded("cgroup memory.stat", dir.join("memory.stat"), LARGE_FILE),
                events: Kept::open("cgroup memory.events", dir.join("memory.events")),
                pressure: Kept::open("cgroup memory.pressure", dir.join("memory.pressure")),
                ancestors: v2_ancestors(&dir, cgroup_root),
                dir,
            },
            CgroupLocation::V1(dir) => Cgroup::V1 {
                usage: Kept::open(
                    "cgroup memory.usage_in_bytes",
                    dir.join("memory.usage_in_bytes"),
                ),
                limit: Kept::open(
                    "cgroup memory.limit_in_bytes",
                    dir.join("memory.limit_in_bytes"),
                ),
                stat: Kept::open_bounded("cgroup memory.stat", dir.join("memory.stat"), LARGE_FILE),
                failcnt: Kept::open("cgroup memory.failcnt", dir.join("memory.failcnt")),
                oom_control: Kept::open(
                    "cgroup memory.oom_control",
                    dir.join("memory.oom_control"),
                ),
                dir,
            },
            CgroupLocation::None(why) => Cgroup::None(why),
            CgroupLocation::Unusable(why) => Cgroup::Unusable(why),
        };
        let meminfo = Kept::open_bounded("meminfo", proc_root.join("meminfo"), LARGE_FILE);
        let free_memory = is_procfs(&meminfo.file).then_some(sysinfo_free_memory as fn() -> _);
        LinuxProbe {
            meminfo,
            psi: Kept::open("psi", proc_root.join("pressure/memory")),
            cgroup,
            buf: vec![0; SCRATCH_BYTES],
            refresh: DEFAULT_REFRESH,
            last_cgroup: None,
            last_ancestor_limit: None,
            last_psi: None,
            last_slow: None,
            last_meminfo: None,
            free_memory,
        }
    }

    /// Where free memory is read between meminfo readings (tests give a fake one; `None` reads
    /// `/proc/meminfo` on every call).
    pub fn set_free_memory_source(&mut self, source: Option<fn() -> Option<FreeMemory>>) {
        self.free_memory = source;
        self.last_meminfo = None;
    }

    /// `/proc/meminfo`, read at most once per refresh period while free memory can be read
    /// cheaply, and estimated from that reading in between (see [`estimate_meminfo`]).
    fn meminfo_at(&mut self, now: Instant, problems: &mut Problems) -> Option<Meminfo> {
        let free_now = self.free_memory.and_then(|read| read());
        if let (Some((at, then, then_free)), Some(free_now)) = (&self.last_meminfo, free_now) {
            if now
                .checked_duration_since(*at)
                .is_some_and(|d| d < self.refresh)
            {
                return Some(estimate_meminfo(then, *then_free, free_now));
            }
        }
        let read = problems.take(
            self.meminfo.label,
            self.meminfo.parse(&mut self.buf, parse_meminfo),
        );
        self.last_meminfo = match (read, free_now) {
            (Some(m), Some(free)) => Some((now, m, free)),
            _ => None,
        };
        read
    }

    /// Slow-moving figures are reused for up to `refresh` (default 1 s; zero reads everything
    /// every time): the limits of v2 ancestors; while the cgroup has no limit at all, its usage,
    /// working set and event counters, which then cannot move the level (the headroom is the
    /// system's); a limited cgroup's `memory.stat` and limits ([`SlowFigures`]: its usage and
    /// event counters are read on every call); and `/proc/meminfo` where `sysinfo(2)` can say
    /// how free memory moved since ([`estimate_meminfo`]).
    pub fn set_refresh(&mut self, refresh: Duration) {
        self.refresh = refresh;
    }

    /// The cgroup directory in use and its version, if any.
    pub fn cgroup(&self) -> Option<(u8, &Path)> {
        match &self.cgroup {
            Cgroup::V2 { dir, .. } => Some((2, dir)),
            Cgroup::V1 { dir, .. } => Some((1, dir)),
            Cgroup::None(_) | Cgroup::Unusable(_) => None,
        }
    }

    /// Why no cgroup is read, when none is (not a problem in itself: the root cgroup has no
    /// memory files, and then the system figures are the truth).
    pub fn no_cgroup_reason(&self) -> Option<&str> {
        match &self.cgroup {
            Cgroup::None(why) | Cgroup::Unusable(why) => Some(why),
            _ => None,
        }
    }

    /// One reading of every signal; what failed is listed in `problems`.
    pub fn read(&mut self) -> Sample {
        self.read_at(Instant::now())
    }

    /// `read` with the time given (tests step it by hand).
    pub fn read_at(&mut self, now: Instant) -> Sample {
        let mut s = Sample::default();
        let mut problems = Problems::default();

        if let Some(m) = self.meminfo_at(now, &mut problems) {
            s.total = Some(m.total);
            s.available = m.available;
            s.used = m.available.map(|a| m.total.saturating_sub(a));
            s.compressed = m.zswap;
            s.swap_total = m.swap_total;
            s.swap_used = match (m.swap_total, m.swap_free) {
                (Some(t), Some(f)) => Some(t.saturating_sub(f)),
                _ => None,
            };
            s.sources.insert(Sources::MEMINFO);
            if m.available.is_none() {
                problems.note("meminfo", "no MemAvailable line (kernel older than 3.14)");
            }
        }

        let buf = &mut self.buf;
        let fresh = |at: Instant| {
            now.checked_duration_since(at)
                .is_some_and(|d| d < self.refresh)
        };
        let reuse = matches!(&self.last_cgroup,
            Some((at, part)) if part.limit.is_none() && !part.unreadable && fresh(*at));
        if !reuse {
            let (ancestors, ancestor_problems) = match &self.last_ancestor_limit {
                Some((at, limit, problems)) if fresh(*at) => (*limit, problems.clone()),
                _ => {
                    let mut problems = Problems::default();
                    let limit = ancestor_limit(&self.cgroup, buf, &mut problems);
                    self.last_ancestor_limit = Some((now, limit, problems.clone()));
                    (limit, problems)
                }
            };
            let kept_slow = match &self.last_slow {
                Some((at, slow)) if fresh(*at) => Some(slow),
                _ => None,
            };
            let (mut part, slow_read) = read_cgroup(&self.cgroup, buf, ancestors, kept_slow);
            if let Some(slow) = slow_read {
                self.last_slow = Some((now, slow));
            }
            part.problems.0.extend(ancestor_problems.0);
            self.last_cgroup = Some((now, part));
        }
        if let Some((_, part)) = &self.last_cgroup {
            part.apply(&mut s, &mut problems);
        }

        // The kernel recomputes PSI averages every 2 s (PSI_FREQ), so a reading younger than
        // the refresh period holds the same averages; re-reading only costs ~2 us, and very
        // frequent reads were measured to keep PSI triggers from firing (docs/pressure.md).
        let cached_psi = match self.last_psi {
            Some((at, psi, source)) if fresh(at) => Some((psi, source)),
            _ => None,
        };
        let psi = cached_psi.or_else(|| {
            let read = read_psi(&self.cgroup, &self.psi, buf, &mut problems);
            self.last_psi = read.map(|(psi, source)| (now, psi, source));
            read
        });
        if let Some((p, source)) = psi {
            apply_psi(&mut s, &p);
            s.sources.insert(source);
        }
        s.page_size = Some(page_size());
        s.problems = problems.0;
        s
    }
}

/// PSI from the cgroup v2 `memory.pressure` when there is one, else the system's.
fn read_psi(
    cgroup: &Cgroup,
    system: &Kept,
    buf: &mut Vec<u8>,
    problems: &mut Problems,
) -> Option<(Psi, Sources)> {
    if let Cgroup::V2 { pressure, .. } = cgroup {
        if pressure.exists() {
            if let Some(p) = problems.take(pressure.label, pressure.parse(buf, parse_psi)) {
                return Some((p, Sources::CGROUP_PSI));
            }
        }
    }
    problems
        .take(system.label, system.parse(buf, parse_psi))
        .map(|p| (p, Sources::PSI))
}

/// The tightest v2 ancestor limit, and whether some ancestor's limit could not be read.
#[derive(Clone, Copy, Debug, Default)]
struct AncestorLimit {
    limit: Option<u64>,
    unreadable: bool,
}

/// A limited cgroup's figures from the files that cost the most to read and change the least
/// between readings: `memory.stat` (the kernel assembles all ~60 lines of it on each read; on v1
/// it also walks the hierarchy) and the limits (changed only by an administrator). They are
/// read at most once per refresh period, and again at once when the cgroup's event counters
/// move: reclaim at `memory.high` / `memory.max` (v2) or a failed charge (v1 `failcnt`) is what
/// changes `inactive_file` fastest, and it is counted there first.
#[derive(Clone, Debug, Default)]
struct SlowFigures {
    /// `inactive_file` (v2) or `total_inactive_file` (v1): usage minus this is the working set.
    inactive: Option<u64>,
    high: Option<u64>,
    limit: Option<u64>,
    limit_unknown: bool,
    /// v1 `memory.oom_control`'s `oom_kill` (v2 has it in `memory.events`, read every call).
    oom_kills: Option<Result<u64, String>>,
    /// The event counters (high, max, oom) when these figures were read.
    counters: Option<(u64, u64, u64)>,
    /// The usage when these figures were read.
    usage: Option<u64>,
    problems: Problems,
}

/// The working set from the usage now and the slow figures: usage minus the `inactive_file`
/// last read. A fall in usage since that read is credited only at the next one (it may be
/// page cache dropped, which was never working set), so the estimate errs high (more pressure
/// than there is) but for file pages the kernel activated since, at most `refresh` ago.
fn working_set(usage: Option<u64>, slow: &SlowFigures) -> Option<u64> {
    let usage = match (usage, slow.usage) {
        (Some(now), Some(then)) => Some(now.max(then)),
        (now, _) => now,
    };
    usage.zip(slow.inactive).map(|(u, i)| u.saturating_sub(i))
}

/// `kept` while the event counters have not moved since it was read, else `None` (read again).
fn still_valid(
    kept: Option<&SlowFigures>,
    counters: Option<(u64, u64, u64)>,
) -> Option<&SlowFigures> {
    kept.filter(|k| counters.is_some() && k.counters == counters)
}

fn read_v2_slow(
    max: &Kept,
    high: &Kept,
    stat: &Kept,
    buf: &mut Vec<u8>,
    counters: Option<(u64, u64, u64)>,
) -> SlowFigures {
    let mut f = SlowFigures {
        counters,
        ..SlowFigures::default()
    };
    let max_v = f
        .problems
        .take(max.label, max.parse(buf, |t| parse_v2_limit(max.label, t)));
    let high_v = f.problems.take(
        high.label,
        high.parse(buf, |t| parse_v2_limit(high.label, t)),
    );
    f.limit_unknown = max_v.is_none() || high_v.is_none();
    f.high = high_v.flatten();
    f.limit = min_limit(max_v.flatten(), high_v.flatten());
    let inactive = stat.parse(buf, |t| {
        keyed_lines("cgroup memory.stat", t)
            .and_then(|lines| required("cgroup memory.stat", &lines, "inactive_file"))
    });
    f.inactive = f.problems.take(stat.label, inactive);
    f
}

fn read_v1_slow(
    stat: &Kept,
    limit: &Kept,
    oom_control: &Kept,
    buf: &mut Vec<u8>,
    counters: Option<(u64, u64, u64)>,
) -> SlowFigures {
    let mut f = SlowFigures {
        counters,
        ..SlowFigures::default()
    };
    let stats = stat.parse(buf, |t| {
        let lines = keyed_lines("cgroup memory.stat", t)?;
        let inactive = required("cgroup memory.stat", &lines, "total_inactive_file")?;
        let hierarchical = optional(&lines, "hierarchical_memory_limit")
            .map(|h| check_v1_limit("cgroup memory.stat hierarchical_memory_limit", h))
            .transpose()?;
        Ok((inactive, hierarchical))
    });
    let mut hierarchical = None;
    if let Some((inactive, hier)) = f.problems.take(stat.label, stats) {
        f.inactive = Some(inactive);
        hierarchical = hier;
    }
    // hierarchical_memory_limit is already the minimum over this cgroup and its ancestors;
    // memory.limit_in_bytes is read only where memory.stat lacks it.
    f.limit = match hierarchical {
        Some(h) => h,
        None => {
            let own = f.problems.take(
                limit.label,
                limit.parse(buf, |t| parse_v1_limit(limit.label, t)),
            );
            f.limit_unknown = own.is_none();
            own.flatten()
        }
    };
    f.oom_kills = Some(oom_control.parse(buf, |t| {
        keyed_lines("cgroup memory.oom_control", t)
            .and_then(|lines| required("cgroup memory.oom_control", &lines, "oom_kill"))
    }));
    f
}

/// Reads the cgroup's own figures and combines them with the v2 ancestors' limit. The cheap
/// files (usage, event counters) are read on every call; the slow ones come from `kept` while
/// it is valid (see [`SlowFigures`]), and when they are read now they are returned to be kept.
///
/// `unreadable` is set when the process is known to sit in a memory cgroup but cannot tell how
/// close to its limit it is: a limit file that cannot be read, or a limit without a readable
/// usage or working set. The classifier then never says green from the host's figures alone.
fn read_cgroup(
    cgroup: &Cgroup,
    buf: &mut Vec<u8>,
    ancestors: AncestorLimit,
    kept: Option<&SlowFigures>,
) -> (CgroupPart, Option<SlowFigures>) {
    let mut part = CgroupPart::default();
    let mut limit_unknown = false;
    let mut read_now = None;
    match cgroup {
        Cgroup::V2 {
            current,
            max,
            high,
            stat,
            events,
            ..
        } => {
            part.sources.insert(Sources::CGROUP_V2);
            part.usage = part.problems.take(
                current.label,
                current.parse(buf, |t| parse_u64(current.label, t)),
            );
            let counters = events.parse(buf, |t| {
                let lines = keyed_lines("cgroup memory.events", t)?;
                Ok((
                    required("cgroup memory.events", &lines, "high")?,
                    required("cgroup memory.events", &lines, "max")?,
                    required("cgroup memory.events", &lines, "oom")?,
                ))
            });
            let counters = part.problems.take(events.label, counters);
            if let Some((h, m, o)) = counters {
                part.events_high = Some(h);
                part.events_max = Some(m);
                part.events_oom = Some(o);
                part.sources.insert(Sources::CGROUP_EVENTS);
            }
            let valid = still_valid(kept, counters);
            if valid.is_none() {
                let mut f = read_v2_slow(max, high, stat, buf, counters);
                f.usage = part.usage;
                read_now = Some(f);
            }
            if let Some(f) = read_now.as_ref().or(valid) {
                part.high = f.high;
                part.limit = min_limit(f.limit, ancestors.limit);
                limit_unknown = f.limit_unknown || ancestors.unreadable;
                part.working_set = working_set(part.usage, f);
                part.problems.0.extend(f.problems.0.iter().cloned());
            }
        }
        Cgroup::V1 {
            usage,
            limit,
            stat,
            failcnt,
            oom_control,
            ..
        } => {
            part.sources.insert(Sources::CGROUP_V1);
            part.usage = part
                .problems
                .take(usage.label, usage.parse(buf, |t| parse_u64(usage.label, t)));
            let fails = failcnt.parse(buf, |t| parse_u64(failcnt.label, t));
            let counters = fails.as_ref().ok().map(|&f| (0, f, 0));
            let valid = still_valid(kept, counters);
            if valid.is_none() {
                let mut f = read_v1_slow(stat, limit, oom_control, buf, counters);
                f.usage = part.usage;
                read_now = Some(f);
            }
            if let Some(f) = read_now.as_ref().or(valid) {
                part.working_set = working_set(part.usage, f);
                part.limit = f.limit;
                limit_unknown = f.limit_unknown;
                part.problems.0.extend(f.problems.0.iter().cloned());
                let kills = f
                    .oom_kills
                    .clone()
                    .unwrap_or_else(|| Err("not read".into()));
                if let Some((f, k)) = part
                    .problems
                    .take("cgroup events", fails.and_then(|f| Ok((f, kills?))))
                {
                    part.events_max = Some(f);
                    part.events_oom = Some(k);
                    part.sources.insert(Sources::CGROUP_EVENTS);
                }
            }
        }
        // No cgroup files (the root cgroup, or none visible): the system figures are the truth.
        Cgroup::None(_) => {}
        Cgroup::Unusable(why) => part.problems.note("cgroup", why),
    }
    part.unreadable = limit_unknown || (part.limit.is_some() && part.working_set.is_none());
    (part, read_now)
}

/// The tightest `memory.max` / `memory.high` among the v2 ancestors; one that cannot be read
/// is a problem and leaves the limit unknown.
fn ancestor_limit(cgroup: &Cgroup, buf: &mut Vec<u8>, problems: &mut Problems) -> AncestorLimit {
    let mut found = AncestorLimit::default();
    let Cgroup::V2 { ancestors, .. } = cgroup else {
        return found;
    };
    for (max, high) in ancestors {
        for k in [max, high] {
            match problems.take(k.label, k.parse(buf, |t| parse_v2_limit(k.label, t))) {
                Some(l) => found.limit = min_limit(found.limit, l),
                None => found.unreadable = true,
            }
        }
    }
    found
}

fn apply_psi(s: &mut Sample, p: &Psi) {
    s.psi_some_avg10 = Some(p.some.avg10);
    s.psi_some_avg60 = Some(p.some.avg60);
    s.psi_some_total = Some(p.some.total);
    if let Some(full) = p.full {
        s.psi_full_avg10 = Some(full.avg10);
        s.psi_full_avg60 = Some(full.avg60);
        s.psi_full_total = Some(full.total);
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "MemTotal:       16314480 kB\nMemFree:         1000000 kB\n\
        MemAvailable:    8157240 kB\nSwapTotal:       2097148 kB\nSwapFree:        1048574 kB\n\
        Zswap:             10240 kB\nDirty:                 0 kB\nMemTotal:  1 kB\n";

    #[test]
    fn meminfo_in_bytes() {
        let m = parse_meminfo(MEMINFO).unwrap();
        assert_eq!(m.total, 16314480 * 1024);
        assert_eq!(m.available, Some(8157240 * 1024));
        assert_eq!(m.swap_total, Some(2097148 * 1024));
        assert_eq!(m.swap_free, Some(1048574 * 1024));
        assert_eq!(m.zswap, Some(10240 * 1024));
    }

    #[test]
    fn meminfo_broken_inputs() {
        assert!(parse_meminfo("").unwrap_err().0.contains("no MemTotal"));
        assert!(parse_meminfo("MemTotal: lots kB\n")
            .unwrap_err()
            .0
            .contains("MemTotal"));
        assert!(parse_meminfo("MemTotal: 0 kB\n")
            .unwrap_err()
            .0
            .contains("is 0"));
        let m = parse_meminfo("MemTotal: 100 kB\n").unwrap();
        assert_eq!(m.available, None);
    }

    const PSI: &str = "some avg10=12.34 avg60=5.00 avg300=1.00 total=123456\n\
        full avg10=3.21 avg60=1.00 avg300=0.50 total=6543\n";

    #[test]
    fn psi_lines() {
        let p = parse_psi(PSI).unwrap();
        assert_eq!(p.some.avg10, 12.34);
        assert_eq!(p.some.total, 123456);
        assert_eq!(p.full.unwrap().avg10, 3.21);
        let some_only = parse_psi("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n").unwrap();
        assert!(some_only.full.is_none());
    }

    #[test]
    fn psi_broken_inputs() {
        assert!(parse_psi("").unwrap_err().0.contains("no \"some\""));
        assert!(parse_psi("some avg10=x avg60=0 avg300=0 total=0")
            .unwrap_err()
            .0
            .contains("avg10"));
        assert!(parse_psi("some avg10=1 total=0")
            .unwrap_err()
            .0
            .contains("missing"));
        assert!(parse_psi("garbage\n")
            .unwrap_err()
            .0
            .contains("unexpected line"));
        assert!(parse_psi("some avg10=101 avg60=0 avg300=0 total=0")
            .unwrap_err()
            .0
            .contains("range"));
    }

    #[test]
    fn proc_cgroup_hybrid_and_unified() {
        let m = parse_proc_cgroup("5:devices:/\n4:memory:/process_api/abc\n0::/\n").unwrap();
        assert_eq!(m.v1_memory.as_deref(), Some("/process_api/abc"));
        assert_eq!(m.v2.as_deref(), Some("/"));
        let m = parse_proc_cgroup("0::/user.slice/app.scope\n").unwrap();
        assert_eq!(m.v2.as_deref(), Some("/user.slice/app.scope"));
        assert_eq!(m.v1_memory, None);
        let m = parse_proc_cgroup("3:cpu,memory:/x\n").unwrap();
        assert_eq!(m.v1_memory.as_deref(), Some("/x"));
        assert!(parse_proc_cgroup("garbage\n").is_err());
        assert!(parse_proc_cgroup("0::relative\n").is_err());
        assert!(parse_proc_cgroup("").unwrap_err().0.contains("empty"));
        assert!(parse_proc_cgroup("0::/a/../../etc\n")
            .unwrap_err()
            .0
            .contains(".."));
        assert!(parse_proc_cgroup("4:memory:/..\n").is_err());
        assert!(parse_proc_cgroup("0::/a..b/c\n").is_ok());
    }

    #[test]
    fn limits() {
        assert_eq!(parse_v2_limit("max", "max\n").unwrap(), None);
        assert_eq!(
            parse_v2_limit("max", "268435456\n").unwrap(),
            Some(268435456)
        );
        assert!(parse_v2_limit("max", "lots\n").is_err());
        assert!(parse_v2_limit("max", "0\n").unwrap_err().0.contains("is 0"));
        assert!(parse_v1_limit("l", "0\n").unwrap_err().0.contains("is 0"));
        assert_eq!(parse_v1_limit("l", "9223372036854771712\n").unwrap(), None);
        assert_eq!(parse_v1_limit("l", "4611686018427387904\n").unwrap(), None);
        assert_eq!(
            parse_v1_limit("l", "4611686018427387903\n").unwrap(),
            Some(V1_UNLIMITED - 1)
        );
    }

    #[test]
    fn keyed_files() {
        let stat = "anon 100\nfile 200\ninactive_file 150\n";
        let lines = keyed_lines("stat", stat).unwrap();
        assert_eq!(required("stat", &lines, "inactive_file").unwrap(), 150);
        assert_eq!(optional(&lines, "active_file"), None);
        assert!(required("stat", &lines, "active_file")
            .unwrap_err()
            .0
            .contains("no active_file line"));
        assert!(keyed_lines("stat", "inactive_file x\n").is_err());
        assert!(keyed_lines("stat", "inactive_file\n").is_err());
        assert!(keyed_lines("stat", "garbage\n").is_err());
        assert!(keyed_lines("stat", "anon 1 2\n").is_err());
        assert_eq!(keyed_lines("stat", "\n").unwrap(), vec![]);
    }

    /// A fixture tree under the temp dir, removed on drop.
    struct Tree(PathBuf);

    impl Tree {
        fn new(name: &str, files: &[(&str, &str)]) -> Self {
            let root =
                std::env::temp_dir().join(format!("ironcliw-linux-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            let tree = Tree(root);
            for (rel, text) in files {
                tree.write(rel, text);
            }
            tree
        }

        fn write(&self, rel: &str, text: &str) {
            let path = self.0.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            // In place (same inode), as the kernel would change it.
            std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(&path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
                .unwrap();
        }

        fn probe(&self) -> LinuxProbe {
            LinuxProbe::new(self.0.join("proc"), self.0.join("cgroup"))
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const PSI_CALM: &str = "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";

    fn v1_tree(name: &str, limit: &str) -> Tree {
        Tree::new(
            name,
            &[
                ("proc/meminfo", MEMINFO),
                ("proc/pressure/memory", PSI_CALM),
                ("proc/self/cgroup", "4:memory:/job\n"),
                ("cgroup/memory/job/memory.usage_in_bytes", "1000\n"),
                ("cgroup/memory/job/memory.limit_in_bytes", limit),
                ("cgroup/memory/job/memory.stat", "total_inactive_file 100\n"),
                ("cgroup/memory/job/memory.failcnt", "0\n"),
                ("cgroup/memory/job/memory.oom_control", "oom_kill 0\n"),
            ],
        )
    }

    #[test]
    fn unlimited_cgroup_figures_are_reused_within_the_refresh() {
        let tree = v1_tree("unlimited", "9223372036854771712\n");
        let mut probe = tree.probe();
        let t0 = Instant::now();
        let s = probe.read_at(t0);
        assert_eq!((s.cgroup_usage, s.cgroup_limit), (Some(1000), None));
        tree.write("cgroup/memory/job/memory.usage_in_bytes", "2000\n");
        tree.write(
            "proc/pressure/memory",
            "some avg10=7.00 avg60=0 avg300=0 total=1\n",
        );
        let s = probe.read_at(t0 + Duration::from_millis(500));
        assert_eq!(s.cgroup_usage, Some(1000), "reused within the refresh");
        assert_eq!(
            s.psi_some_avg10,
            Some(0.0),
            "PSI averages reused within the refresh"
        );
        let s = probe.read_at(t0 + Duration::from_millis(1001));
        assert_eq!(s.cgroup_usage, Some(2000));
        assert_eq!(
            s.psi_some_avg10,
            Some(7.0),
            "PSI read again after the refresh"
        );
        // A limit set meanwhile is seen at the next refresh, and then every read is fresh.
        tree.write("cgroup/memory/job/memory.limit_in_bytes", "4000\n");
        let s = probe.read_at(t0 + Duration::from_millis(2002));
        assert_eq!(s.cgroup_limit, Some(4000));
        tree.write("cgroup/memory/job/memory.usage_in_bytes", "3000\n");
        let s = probe.read_at(t0 + Duration::from_millis(2003));
        assert_eq!(s.cgroup_usage, Some(3000));
        assert_eq!(s.cgroup_working_set, Some(2900));
    }

    #[test]
    fn zero_refresh_reads_everything_every_time() {
        let tree = v1_tree("zero-refresh", "9223372036854771712\n");
        let mut probe = tree.probe();
        probe.set_refresh(Duration::ZERO);
        let t0 = Instant::now();
        probe.read_at(t0);
        tree.write("cgroup/memory/job/memory.usage_in_bytes", "2000\n");
        assert_eq!(probe.read_at(t0).cgroup_usage, Some(2000));
    }

    #[test]
    fn special_files_are_refused_without_blocking() {
        let tree = Tree::new("special", &[("proc/pressure/memory", PSI_CALM)]);
        std::os::unix::fs::symlink("/dev/zero", tree.0.join("proc/meminfo")).unwrap();
        let fifo = std::ffi::CString::new(tree.0.join("proc/fifo").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let zero = open_regular(&tree.0.join("proc/meminfo")).unwrap_err();
        assert!(
            zero.contains("not a regular file (a character device)"),
            "{zero}"
        );
        let fifo = open_regular(&tree.0.join("proc/fifo")).unwrap_err();
        assert!(fifo.contains("not a regular file (a FIFO)"), "{fifo}");
        let dir = open_regular(&tree.0.join("proc")).unwrap_err();
        assert!(dir.contains("(a directory)"), "{dir}");
        let s = tree.probe().read();
        assert!(!s.sources.contains(Sources::MEMINFO));
        assert!(s.problems[0].starts_with("meminfo: "), "{:?}", s.problems);
    }

    #[test]
    fn reads_stop_at_the_bound() {
        let tree = Tree::new(
            "bound",
            &[("f", &"x".repeat(SMALL_FILE + 1)), ("g", "12\n")],
        );
        let mut buf = Vec::new();
        let long = Kept::open("f", tree.0.join("f"));
        assert!(long
            .read(&mut buf)
            .unwrap_err()
            .contains("more than 4096 bytes"));
        tree.write("f", &"x".repeat(SMALL_FILE));
        assert_eq!(long.read(&mut buf).unwrap().len(), SMALL_FILE);
        // A buffer grown by a larger file still reads a small one only to its bound.
        let big = Kept::open_bounded("big", tree.0.join("f"), LARGE_FILE);
        tree.write("f", &"y".repeat(LARGE_FILE));
        assert_eq!(big.read(&mut buf).unwrap().len(), LARGE_FILE);
        assert_eq!(
            Kept::open("g", tree.0.join("g")).read(&mut buf).unwrap(),
            "12\n"
        );
        assert!(read_once(&tree.0.join("f"), 10)
            .unwrap_err()
            .contains("more than 10"));
    }

    fn v2_tree(name: &str, overrides: &[(&str, &str)]) -> Tree {
        let mut files = vec![
            ("proc/meminfo", MEMINFO),
            ("proc/pressure/memory", PSI_CALM),
            ("proc/self/cgroup", "0::/app\n"),
            ("cgroup/app/memory.current", "980\n"),
            ("cgroup/app/memory.max", "1000\n"),
            ("cgroup/app/memory.high", "max\n"),
            ("cgroup/app/memory.stat", "anon 1\ninactive_file 0\n"),
            ("cgroup/app/memory.events", "low 0\nhigh 0\nmax 0\noom 0\n"),
        ];
        files.retain(|(rel, _)| !overrides.iter().any(|(o, _)| o == rel));
        files.extend(overrides.iter().filter(|(_, text)| !text.is_empty()));
        Tree::new(name, &files)
    }

    #[test]
    fn a_limited_cgroup_without_its_figures_is_flagged_unreadable() {
        let healthy = v2_tree("healthy", &[]).probe().read();
        assert!(!healthy.cgroup_unreadable);
        assert_eq!(healthy.cgroup_limit, Some(1000));
        for (name, rel, text) in [
            ("no-current", "cgroup/app/memory.current", ""),
            ("bad-current", "cgroup/app/memory.current", "x\n"),
            ("bad-stat", "cgroup/app/memory.stat", "garbage\n"),
            ("bad-max", "cgroup/app/memory.max", "lots\n"),
            ("zero-max", "cgroup/app/memory.max", "0\n"),
            ("zero-high", "cgroup/app/memory.high", "0\n"),
        ] {
            let s = v2_tree(name, &[(rel, text)]).probe().read();
            assert!(s.cgroup_unreadable, "{name}: {s:?}");
            assert!(!s.problems.is_empty(), "{name}");
        }
        // Unlimited and unreadable usage: nothing to be close to, so nothing hidden.
        let s = v2_tree(
            "unlimited",
            &[
                ("cgroup/app/memory.max", "max\n"),
                ("cgroup/app/memory.current", ""),
            ],
        )
        .probe()
        .read();
        assert!(!s.cgroup_unreadable);
        assert!(s.problems[0].starts_with("cgroup memory.current: "));
    }

    #[test]
    fn an_unusable_proc_self_cgroup_is_a_problem_on_every_reading() {
        for (name, text) in [
            ("garbage", "garbage\n"),
            ("empty", ""),
            ("dotdot", "0::/../x\n"),
        ] {
            let tree = v2_tree(name, &[("proc/self/cgroup", text)]);
            if text.is_empty() {
                tree.write("proc/self/cgroup", "");
            }
            let mut probe = tree.probe();
            assert!(probe.cgroup().is_none());
            for _ in 0..2 {
                let s = probe.read();
                assert!(
                    s.problems.iter().any(|p| p.starts_with("cgroup: ")),
                    "{name}: {:?}",
                    s.problems
                );
            }
        }
    }

    #[test]
    fn v2_ancestor_limits_bind_the_cgroup() {
        let tree = Tree::new(
            "ancestors",
            &[
                ("proc/meminfo", MEMINFO),
                ("proc/self/cgroup", "0::/slice/app\n"),
                ("cgroup/cgroup.controllers", "memory\n"),
                ("cgroup/slice/memory.max", "5000\n"),
                ("cgroup/slice/memory.high", "max\n"),
                ("cgroup/slice/app/memory.current", "1000\n"),
                ("cgroup/slice/app/memory.max", "max\n"),
                ("cgroup/slice/app/memory.high", "8000\n"),
                ("cgroup/slice/app/memory.stat", "inactive_file 0\n"),
                ("cgroup/slice/app/memory.events", "high 0\nmax 0\noom 0\n"),
            ],
        );
        let mut probe = tree.probe();
        let t0 = Instant::now();
        let s = probe.read_at(t0);
        assert_eq!(s.cgroup_high, Some(8000));
        assert_eq!(s.cgroup_limit, Some(5000), "the slice's memory.max binds");
        // Ancestor limits are re-read once per refresh.
        tree.write("cgroup/slice/memory.max", "3000\n");
        assert_eq!(
            probe.read_at(t0 + Duration::from_millis(10)).cgroup_limit,
            Some(5000)
        );
        assert_eq!(
            probe.read_at(t0 + Duration::from_secs(2)).cgroup_limit,
            Some(3000)
        );
    }
    #[test]
    fn a_limited_cgroups_memory_stat_is_read_once_per_refresh_or_when_counters_move() {
        let tree = v2_tree(
            "slow-v2",
            &[("cgroup/app/memory.stat", "inactive_file 100\n")],
        );
        let mut probe = tree.probe();
        let t0 = Instant::now();
        let s = probe.read_at(t0);
        assert_eq!(
            (s.cgroup_usage, s.cgroup_working_set),
            (Some(980), Some(880))
        );
        tree.write("cgroup/app/memory.current", "990\n");
        tree.write("cgroup/app/memory.stat", "inactive_file 300\n");
        tree.write("cgroup/app/memory.max", "2000\n");
        let s = probe.read_at(t0 + Duration::from_millis(500));
        assert_eq!(s.cgroup_usage, Some(990), "usage is read on every call");
        assert_eq!(
            (s.cgroup_working_set, s.cgroup_limit),
            (Some(890), Some(1000)),
            "memory.stat and the limit are kept within the refresh"
        );
        // A fall in usage (page cache dropped, maybe) is credited at the next memory.stat read.
        tree.write("cgroup/app/memory.current", "700\n");
        let s = probe.read_at(t0 + Duration::from_millis(550));
        assert_eq!(
            (s.cgroup_usage, s.cgroup_working_set),
            (Some(700), Some(880))
        );
        tree.write("cgroup/app/memory.current", "990\n");
        // Reclaim at the limit moves the event counters: memory.stat is read again at once.
        tree.write("cgroup/app/memory.events", "low 0\nhigh 0\nmax 1\noom 0\n");
        let s = probe.read_at(t0 + Duration::from_millis(600));
        assert_eq!(
            (s.cgroup_working_set, s.cgroup_limit),
            (Some(690), Some(2000))
        );
        tree.write("cgroup/app/memory.stat", "inactive_file 400\n");
        let s = probe.read_at(t0 + Duration::from_millis(1700));
        assert_eq!(
            s.cgroup_working_set,
            Some(590),
            "read again after the refresh"
        );
    }

    #[test]
    fn a_limited_v1_cgroup_rereads_memory_stat_when_failcnt_moves() {
        let tree = v1_tree("slow-v1", "4000\n");
        let mut probe = tree.probe();
        let t0 = Instant::now();
        assert_eq!(probe.read_at(t0).cgroup_working_set, Some(900));
        tree.write("cgroup/memory/job/memory.usage_in_bytes", "1500\n");
        tree.write("cgroup/memory/job/memory.stat", "total_inactive_file 700\n");
        tree.write("cgroup/memory/job/memory.oom_control", "oom_kill 1\n");
        let s = probe.read_at(t0 + Duration::from_millis(100));
        assert_eq!(
            (s.cgroup_usage, s.cgroup_working_set),
            (Some(1500), Some(1400))
        );
        assert_eq!(s.cgroup_events_oom, Some(0));
        tree.write("cgroup/memory/job/memory.failcnt", "3\n");
        let s = probe.read_at(t0 + Duration::from_millis(200));
        assert_eq!(
            (s.cgroup_working_set, s.cgroup_limit),
            (Some(800), Some(4000))
        );
        assert_eq!(
            (s.cgroup_events_max, s.cgroup_events_oom),
            (Some(3), Some(1))
        );
    }

    #[test]
    fn meminfo_estimates_follow_free_memory_and_stay_in_range() {
        let then = parse_meminfo(MEMINFO).unwrap();
        let free = |free, swap_free| FreeMemory { free, swap_free };
        let e = estimate_meminfo(&then, free(5000, 400), free(3000, 100));
        assert_eq!(e.available, Some(8157240 * 1024 - 2000));
        assert_eq!(e.swap_free, Some(1048574 * 1024 - 300));
        assert_eq!((e.total, e.swap_total), (then.total, then.swap_total));
        assert_eq!(e.zswap, then.zswap);
        // What became free is credited only at the next reading.
        let e = estimate_meminfo(&then, free(0, 0), free(u64::MAX / 2, u64::MAX / 2));
        assert_eq!((e.available, e.swap_free), (then.available, then.swap_free));
        let e = estimate_meminfo(&then, free(u64::MAX / 2, u64::MAX / 2), free(0, 0));
        assert_eq!((e.available, e.swap_free), (Some(0), Some(0)));
    }

    static FAKE_FREE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

    fn fake_free() -> Option<FreeMemory> {
        Some(FreeMemory {
            free: FAKE_FREE.load(std::sync::atomic::Ordering::SeqCst),
            swap_free: 0,
        })
    }

    #[test]
    fn meminfo_is_read_once_per_refresh_where_free_memory_is_cheap() {
        let tree = v1_tree("meminfo-cache", "9223372036854771712\n");
        let mut probe = tree.probe();
        assert!(
            probe.free_memory.is_none(),
            "a fixture meminfo is not the kernel's"
        );
        probe.set_free_memory_source(Some(fake_free));
        FAKE_FREE.store(1 << 30, std::sync::atomic::Ordering::SeqCst);
        let t0 = Instant::now();
        let available = probe.read_at(t0).available.unwrap();
        tree.write("proc/meminfo", &MEMINFO.replace("8157240", "1"));
        FAKE_FREE.store((1 << 30) - 4096, std::sync::atomic::Ordering::SeqCst);
        let s = probe.read_at(t0 + Duration::from_millis(500));
        assert_eq!(
            s.available,
            Some(available - 4096),
            "estimated from free memory"
        );
        assert_eq!(s.used, Some(s.total.unwrap() - available + 4096));
        let s = probe.read_at(t0 + Duration::from_millis(1001));
        assert_eq!(s.available, Some(1024), "read again after the refresh");
        probe.set_free_memory_source(None);
        tree.write("proc/meminfo", MEMINFO);
        assert_eq!(
            probe.read_at(t0 + Duration::from_millis(1002)).available,
            Some(available)
        );
    }

    #[test]
    fn only_the_kernels_procfs_counts_as_procfs() {
        assert!(is_procfs(&open_regular(Path::new("/proc/meminfo"))));
        let tree = Tree::new("procfs", &[("proc/meminfo", MEMINFO)]);
        assert!(!is_procfs(&open_regular(&tree.0.join("proc/meminfo"))));
        assert!(!is_procfs(&Err("missing".into())));
        assert!(LinuxProbe::new("/proc", "/sys/fs/cgroup")
            .free_memory
            .is_some());
    }
}
