//! Memory pressure: what the machine's own signals say, as one platform-neutral `Sample`, and a
//! classifier that turns a stream of samples into `Green | Yellow | Red | Unknown` with reasons.
//!
//! Chromium-style separation: the probes (`linux`, `macos`) only read, the `classifier` only
//! decides, and `watch` only wakes the caller when the kernel signals pressure. The pure parsers
//! and decoders compile and are tested on every platform; the system calls live in thin leaves.

pub mod classifier;
pub mod gpu;
pub mod linux;
pub mod macos;
pub mod watch;

pub use classifier::{Classifier, Reason, ThresholdError, Thresholds, Verdict};

/// The classifier's answer. Ordered by severity; `Unknown` sorts first but is not "better" than
/// green: it means no signal could be read, and it is never reported as green.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    Unknown,
    Green,
    Yellow,
    Red,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Unknown => "unknown",
            Level::Green => "green",
            Level::Yellow => "yellow",
            Level::Red => "red",
        }
    }

    /// Severity rank of a known level (green 0, yellow 1, red 2); `None` for unknown.
    pub fn rank(self) -> Option<u8> {
        match self {
            Level::Unknown => None,
            Level::Green => Some(0),
            Level::Yellow => Some(1),
            Level::Red => Some(2),
        }
    }
}

/// Which sources a sample was read from: a small bit set with stable names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Sources(u32);

impl Sources {
    pub const MEMINFO: Sources = Sources(1 << 0);
    pub const PSI: Sources = Sources(1 << 1);
    pub const CGROUP_V1: Sources = Sources(1 << 2);
    pub const CGROUP_V2: Sources = Sources(1 << 3);
    pub const CGROUP_PSI: Sources = Sources(1 << 4);
    pub const CGROUP_EVENTS: Sources = Sources(1 << 5);
    pub const MACOS_PRESSURE_LEVEL: Sources = Sources(1 << 6);
    pub const MACOS_MEMORYSTATUS_LEVEL: Sources = Sources(1 << 7);
    pub const MACOS_VM_STATISTICS: Sources = Sources(1 << 8);
    pub const MACOS_SWAPUSAGE: Sources = Sources(1 << 9);
    pub const MACOS_MEMSIZE: Sources = Sources(1 << 10);
    pub const PSUTIL: Sources = Sources(1 << 11);

    /// Every flag with its public name, in a fixed order.
    pub const NAMES: [(Sources, &'static str); 12] = [
        (Sources::MEMINFO, "meminfo"),
        (Sources::PSI, "psi"),
        (Sources::CGROUP_V1, "cgroup-v1"),
        (Sources::CGROUP_V2, "cgroup-v2"),
        (Sources::CGROUP_PSI, "cgroup-psi"),
        (Sources::CGROUP_EVENTS, "cgroup-events"),
        (Sources::MACOS_PRESSURE_LEVEL, "macos-pressure-level"),
        (
            Sources::MACOS_MEMORYSTATUS_LEVEL,
            "macos-memorystatus-level",
        ),
        (Sources::MACOS_VM_STATISTICS, "macos-vm-statistics"),
        (Sources::MACOS_SWAPUSAGE, "macos-swapusage"),
        (Sources::MACOS_MEMSIZE, "macos-memsize"),
        (Sources::PSUTIL, "psutil"),
    ];

    pub const fn empty() -> Self {
        Sources(0)
    }

    pub fn contains(self, other: Sources) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    pub fn insert(&mut self, other: Sources) {
        self.0 |= other.0;
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn from_name(name: &str) -> Option<Sources> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(s, _)| *s)
    }

    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(s, _)| self.contains(*s))
            .map(|(_, n)| n)
    }
}

/// One reading of every memory signal a platform offers. Bytes are bytes, PSI averages are
/// percentages, PSI totals are microseconds of stall; `None` means "not read" (absent, unreadable
/// or not applicable on this platform), never zero.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    pub total: Option<u64>,
    pub available: Option<u64>,
    pub used: Option<u64>,
    /// Memory in recent use (macOS `active_count`); part of xnu's base for the compressor share.
    pub active: Option<u64>,
    pub wired: Option<u64>,
    pub compressed: Option<u64>,
    pub swap_total: Option<u64>,
    pub swap_used: Option<u64>,
    pub psi_some_avg10: Option<f64>,
    pub psi_some_avg60: Option<f64>,
    pub psi_full_avg10: Option<f64>,
    pub psi_full_avg60: Option<f64>,
    pub psi_some_total: Option<u64>,
    pub psi_full_total: Option<u64>,
    /// The effective cgroup limit (v2: min of `memory.max` and `memory.high`; v1: min of
    /// `memory.limit_in_bytes` and `hierarchical_memory_limit`); `None` when unlimited.
    pub cgroup_limit: Option<u64>,
    pub cgroup_high: Option<u64>,
    pub cgroup_usage: Option<u64>,
    /// Usage minus inactive file cache: what the cgroup cannot give back cheaply.
    pub cgroup_working_set: Option<u64>,
    /// Cumulative counters (v2 `memory.events`; v1 `memory.failcnt` as `max` and the `oom_kill`
    /// of `memory.oom_control` as `oom`); the classifier reacts to their growth.
    pub cgroup_events_high: Option<u64>,
    pub cgroup_events_max: Option<u64>,
    pub cgroup_events_oom: Option<u64>,
    /// `kern.memorystatus_vm_pressure_level`: 1 normal, 2 warn, 4 critical.
    pub macos_pressure_level: Option<u32>,
    /// `kern.memorystatus_level`: the percentage of memory the kernel considers available.
    pub memorystatus_level: Option<u32>,
    pub page_size: Option<u64>,
    /// The process is in a memory cgroup whose limit, or whose usage under a limit, could not be
    /// read: the host's figures alone cannot tell how close to its limit it is.
    pub cgroup_unreadable: bool,
    pub sources: Sources,
    /// What could not be read, and why: one line each ("psi: /proc/pressure/memory: not found").
    pub problems: Vec<String>,
}

/// The value of one named `Sample` field, for generic access (dicts, keyword construction).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FieldValue {
    Bytes(Option<u64>),
    Count(Option<u64>),
    Percent(Option<f64>),
}

/// How a field is typed; drives conversion in the bindings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    Integer,
    Percent,
}

macro_rules! sample_fields {
    ($( $name:ident : $kind:ident ),* $(,)?) => {
        impl Sample {
            /// Every numeric field's name and kind, in declaration order.
            pub const FIELDS: &'static [(&'static str, FieldKind)] = &[
                $( (stringify!($name), sample_fields!(@kind $kind)) ),*
            ];

            /// A numeric field by name (`None` for an unknown name).
            pub fn field(&self, name: &str) -> Option<FieldValue> {
                match name {
                    $( stringify!($name) => Some(sample_fields!(@get self.$name, $kind)), )*
                    _ => None,
                }
            }

            /// Sets a numeric field by name; `Err` names the field when the name or kind is wrong.
            pub fn set_field(&mut self, name: &str, value: FieldValue) -> Result<(), String> {
                match name {
                    $( stringify!($name) => sample_fields!(@set self.$name, $kind, name, value), )*
                    _ => Err(format!("Sample has no field '{name}'")),
                }
            }
        }
    };
    (@kind bytes) => { FieldKind::Integer };
    (@kind count) => { FieldKind::Integer };
    (@kind level) => { FieldKind::Integer };
    (@kind percent) => { FieldKind::Percent };
    (@get $e:expr, bytes) => { FieldValue::Bytes($e) };
    (@get $e:expr, count) => { FieldValue::Count($e) };
    (@get $e:expr, level) => { FieldValue::Count($e.map(u64::from)) };
    (@get $e:expr, percent) => { FieldValue::Percent($e) };
    (@set $e:expr, percent, $name:expr, $value:expr) => {
        match $value {
            FieldValue::Percent(v) => { $e = v; Ok(()) }
            _ => Err(format!("{} is a percentage (float)", $name)),
        }
    };
    (@set $e:expr, level, $name:expr, $value:expr) => {
        match $value {
            FieldValue::Bytes(v) | FieldValue::Count(v) => {
                $e = match v {
                    None => None,
                    Some(v) => Some(u32::try_from(v).map_err(|_| format!("{} is out of range: {v}", $name))?),
                };
                Ok(())
            }
            _ => Err(format!("{} is an integer", $name)),
        }
    };
    (@set $e:expr, $kind:ident, $name:expr, $value:expr) => {
        match $value {
            FieldValue::Bytes(v) | FieldValue::Count(v) => { $e = v; Ok(()) }
            _ => Err(format!("{} is an integer", $name)),
        }
    };
}

sample_fields! {
    total: bytes,
    available: bytes,
    used: bytes,
    active: bytes,
    wired: bytes,
    compressed: bytes,
    swap_total: bytes,
    swap_used: bytes,
    psi_some_avg10: percent,
    psi_some_avg60: percent,
    psi_full_avg10: percent,
    psi_full_avg60: percent,
    psi_some_total: count,
    psi_full_total: count,
    cgroup_limit: bytes,
    cgroup_high: bytes,
    cgroup_usage: bytes,
    cgroup_working_set: bytes,
    cgroup_events_high: count,
    cgroup_events_max: count,
    cgroup_events_oom: count,
    macos_pressure_level: level,
    memorystatus_level: level,
    page_size: bytes,
}

/// Which part of the machine the headroom figure came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadroomScope {
    System,
    Cgroup,
}

impl Sample {
    /// System headroom: available / total, in percent.
    pub fn system_headroom(&self) -> Option<f64> {
        match (self.available, self.total) {
            (Some(a), Some(t)) if t > 0 => Some(100.0 * a.min(t) as f64 / t as f64),
            _ => None,
        }
    }

    /// Cgroup headroom: (limit - working set) / limit, in percent (0 when over the limit).
    pub fn cgroup_headroom(&self) -> Option<f64> {
        match (self.cgroup_limit, self.cgroup_working_set) {
            (Some(l), Some(ws)) if l > 0 => Some(100.0 * l.saturating_sub(ws) as f64 / l as f64),
            _ => None,
        }
    }

    /// H = min(system headroom, cgroup headroom), with the scope that set it.
    pub fn headroom(&self) -> Option<(f64, HeadroomScope)> {
        match (self.system_headroom(), self.cgroup_headroom()) {
            (Some(s), Some(c)) if c < s => Some((c, HeadroomScope::Cgroup)),
            (Some(s), _) => Some((s, HeadroomScope::System)),
            (None, Some(c)) => Some((c, HeadroomScope::Cgroup)),
            (None, None) => None,
        }
    }

    /// macOS compressor share in percent: compressed / (active + available + compressed).
    ///
    /// That base is xnu's `AVAILABLE_MEMORY` (osfmk/vm/vm_page.h: active + inactive + free +
    /// speculative + compressor pages), against which its pressure transitions compare the
    /// compressor (vm_pageout.c `VM_PRESSURE_*`), given that `available` is free (speculative
    /// included) + inactive. `None` without `active`: a share of a smaller base overstates it.
    pub fn compressor_share(&self) -> Option<f64> {
        match (self.compressed, self.active, self.available) {
            // In f64: fixture values near u64::MAX must not wrap around.
            (Some(c), Some(active), Some(a)) if c > 0 || active > 0 || a > 0 => {
                Some(100.0 * c as f64 / (c as f64 + active as f64 + a as f64))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headroom_takes_the_tighter_scope() {
        let mut s = Sample {
            total: Some(1000),
            available: Some(500),
            ..Sample::default()
        };
        assert_eq!(s.headroom(), Some((50.0, HeadroomScope::System)));
        s.cgroup_limit = Some(100);
        s.cgroup_working_set = Some(90);
        let (h, scope) = s.headroom().unwrap();
        assert!((h - 10.0).abs() < 1e-9);
        assert_eq!(scope, HeadroomScope::Cgroup);
        s.cgroup_working_set = Some(200);
        assert_eq!(s.cgroup_headroom(), Some(0.0));
    }

    #[test]
    fn fields_round_trip_by_name() {
        let mut s = Sample::default();
        for (name, kind) in Sample::FIELDS {
            let v = match kind {
                FieldKind::Integer => FieldValue::Count(Some(7)),
                FieldKind::Percent => FieldValue::Percent(Some(1.5)),
            };
            s.set_field(name, v).unwrap();
        }
        assert_eq!(
            s.field("macos_pressure_level"),
            Some(FieldValue::Count(Some(7)))
        );
        assert_eq!(
            s.field("psi_full_avg60"),
            Some(FieldValue::Percent(Some(1.5)))
        );
        assert!(s.set_field("nope", FieldValue::Count(None)).is_err());
        assert!(s
            .set_field("total", FieldValue::Percent(Some(1.0)))
            .is_err());
        assert!(s
            .set_field("memorystatus_level", FieldValue::Count(Some(u64::MAX)))
            .is_err());
    }

    #[test]
    fn source_names_round_trip() {
        let mut s = Sources::empty();
        s.insert(Sources::PSI);
        s.insert(Sources::CGROUP_V1);
        assert_eq!(s.names().collect::<Vec<_>>(), ["psi", "cgroup-v1"]);
        assert_eq!(Sources::from_name("psutil"), Some(Sources::PSUTIL));
        assert!(!Sources::empty().contains(Sources::empty()));
    }
}
