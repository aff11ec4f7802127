//! The pure pressure classifier: a state machine from `(Sample, now)` to a `Verdict`.
//!
//! Rules (every number is a field of `Thresholds`; defaults from DESIGN.md):
//! - One rule set per kind of sample, chosen by what the sample holds: the macOS kernel level when
//!   present (1 green, 2 yellow, 4 red, anything else unknown); else the macOS compressor share
//!   (xnu's base and, on Macs of 3 GB or less, xnu's small-memory thresholds);
//!   else, for a psutil sample, Chromium's available-MB rule; else the Linux signals (PSI, headroom
//!   H = min(system, cgroup), cgroup event counters). No usable signal at all: `Unknown`, never
//!   green.
//! - A process known to sit in a memory cgroup whose limit, or whose usage under a limit, could
//!   not be read (`Sample::cgroup_unreadable`) is never green: the host's figures cannot show how
//!   close the cgroup is to its limit. Signals that enter yellow or red still count (pressure the
//!   host or the cgroup's own PSI shows is real); when none does, the level is `Unknown`.
//! - Separate enter and exit thresholds per signal. Upgrades are immediate. A downgrade needs every
//!   signal past its exit threshold continuously for `downgrade_dwell` seconds, and then steps one
//!   level only; the next step needs another full dwell.

use std::fmt;

use super::{HeadroomScope, Level, Sample, Sources};

/// The most a dwell may be: longer than a day, a level would outlast the pressure all day.
pub const MAX_DOWNGRADE_DWELL_SECONDS: f64 = 86_400.0;
/// The most a fallback floor of available memory may be (1 TiB): above it every machine this
/// runs on would read as under pressure for good.
pub const MAX_FALLBACK_AVAILABLE_MB: f64 = 1_048_576.0;

/// Every tunable of the classifier. Percentages are 0-100; `downgrade_dwell` is in seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    pub yellow_some10_enter: f64,
    pub yellow_some10_exit: f64,
    pub yellow_headroom_enter: f64,
    pub yellow_headroom_exit: f64,
    pub red_full10_enter: f64,
    pub red_full10_exit: f64,
    pub red_some10_enter: f64,
    pub red_some10_exit: f64,
    pub red_headroom_enter: f64,
    pub red_headroom_exit: f64,
    pub downgrade_dwell: f64,
    pub macos_compressor_warn_enter: f64,
    pub macos_compressor_warn_exit: f64,
    pub macos_compressor_critical_enter: f64,
    pub macos_compressor_critical_exit: f64,
    pub fallback_yellow_available_mb: f64,
    pub fallback_red_available_mb: f64,
    pub gpu_nvidia_yellow_enter: f64,
    pub gpu_nvidia_yellow_exit: f64,
    pub gpu_nvidia_red_enter: f64,
    pub gpu_nvidia_red_exit: f64,
    pub gpu_metal_yellow_enter: f64,
    pub gpu_metal_yellow_exit: f64,
    pub gpu_metal_red_enter: f64,
    pub gpu_metal_red_exit: f64,
}

impl Default for Thresholds {
    /// DESIGN.md's starting thresholds: yellow at some10 >= 10 % or H <= 25 % (leaves below 5 %
    /// and above 30 %); red at full10 >= 10 %, some10 >= 40 % or H <= 15 % (leaves when full10
    /// < 5 %, some10 < 20 % and H > 20 %); 10 s dwell; xnu's compressor 50/40 and 66/60 %;
    /// Chromium's Windows rule of 1000/400 MB available; GPU memory used of total (NVIDIA) 80/95 %
    /// (nvitop calls 80 % "heavy") and allocated of the recommended working set (Metal) 80/100 %,
    /// each left 5 points lower.
    fn default() -> Self {
        Self {
            yellow_some10_enter: 10.0,
            yellow_some10_exit: 5.0,
            yellow_headroom_enter: 25.0,
            yellow_headroom_exit: 30.0,
            red_full10_enter: 10.0,
            red_full10_exit: 5.0,
            red_some10_enter: 40.0,
            red_some10_exit: 20.0,
            red_headroom_enter: 15.0,
            red_headroom_exit: 20.0,
            downgrade_dwell: 10.0,
            macos_compressor_warn_enter: 50.0,
            macos_compressor_warn_exit: 40.0,
            macos_compressor_critical_enter: 66.0,
            macos_compressor_critical_exit: 60.0,
            fallback_yellow_available_mb: 1000.0,
            fallback_red_available_mb: 400.0,
            gpu_nvidia_yellow_enter: 80.0,
            gpu_nvidia_yellow_exit: 75.0,
            gpu_nvidia_red_enter: 95.0,
            gpu_nvidia_red_exit: 90.0,
            gpu_metal_yellow_enter: 80.0,
            gpu_metal_yellow_exit: 75.0,
            gpu_metal_red_enter: 100.0,
            gpu_metal_red_exit: 95.0,
        }
    }
}

/// An invalid threshold: the offending field and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThresholdError {
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for ThresholdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ThresholdError {}

impl Thresholds {
    /// Every field's name and value, in declaration order.
    pub fn fields(&self) -> [(&'static str, f64); 25] {
        [
            ("yellow_some10_enter", self.yellow_some10_enter),
            ("yellow_some10_exit", self.yellow_some10_exit),
            ("yellow_headroom_enter", self.yellow_headroom_enter),
            ("yellow_headroom_exit", self.yellow_headroom_exit),
            ("red_full10_enter", self.red_full10_enter),
            ("red_full10_exit", self.red_full10_exit),
            ("red_some10_enter", self.red_some10_enter),
            ("red_some10_exit", self.red_some10_exit),
            ("red_headroom_enter", self.red_headroom_enter),
            ("red_headroom_exit", self.red_headroom_exit),
            ("downgrade_dwell", self.downgrade_dwell),
            (
                "macos_compressor_warn_enter",
                self.macos_compressor_warn_enter,
            ),
            (
                "macos_compressor_warn_exit",
                self.macos_compressor_warn_exit,
            ),
            (
                "macos_compressor_critical_enter",
                self.macos_compressor_critical_enter,
            ),
            (
                "macos_compressor_critical_exit",
                self.macos_compressor_critical_exit,
            ),
            (
                "fallback_yellow_available_mb",
                self.fallback_yellow_available_mb,
            ),
            ("fallback_red_available_mb", self.fallback_red_available_mb),
            ("gpu_nvidia_yellow_enter", self.gpu_nvidia_yellow_enter),
            ("gpu_nvidia_yellow_exit", self.gpu_nvidia_yellow_exit),
            ("gpu_nvidia_red_enter", self.gpu_nvidia_red_enter),
            ("gpu_nvidia_red_exit", self.gpu_nvidia_red_exit),
            ("gpu_metal_yellow_enter", self.gpu_metal_yellow_enter),
            ("gpu_metal_yellow_exit", self.gpu_metal_yellow_exit),
            ("gpu_metal_red_enter", self.gpu_metal_red_enter),
            ("gpu_metal_red_exit", self.gpu_metal_red_exit),
        ]
    }

    /// Sets one field by name; `false` when there is no such field.
    pub fn set(&mut self, name: &str, value: f64) -> bool {
        let slot = match name {
            "yellow_some10_enter" => &mut self.yellow_some10_enter,
            "yellow_some10_exit" => &mut self.yellow_some10_exit,
            "yellow_headroom_enter" => &mut self.yellow_headroom_enter,
            "yellow_headroom_exit" => &mut self.yellow_headroom_exit,
            "red_full10_enter" => &mut self.red_full10_enter,
            "red_full10_exit" => &mut self.red_full10_exit,
            "red_some10_enter" => &mut self.red_some10_enter,
            "red_some10_exit" => &mut self.red_some10_exit,
            "red_headroom_enter" => &mut self.red_headroom_enter,
            "red_headroom_exit" => &mut self.red_headroom_exit,
            "downgrade_dwell" => &mut self.downgrade_dwell,
            "macos_compressor_warn_enter" => &mut self.macos_compressor_warn_enter,
            "macos_compressor_warn_exit" => &mut self.macos_compressor_warn_exit,
            "macos_compressor_critical_enter" => &mut self.macos_compressor_critical_enter,
            "macos_compressor_critical_exit" => &mut self.macos_compressor_critical_exit,
            "fallback_yellow_available_mb" => &mut self.fallback_yellow_available_mb,
            "fallback_red_available_mb" => &mut self.fallback_red_available_mb,
            "gpu_nvidia_yellow_enter" => &mut self.gpu_nvidia_yellow_enter,
            "gpu_nvidia_yellow_exit" => &mut self.gpu_nvidia_yellow_exit,
            "gpu_nvidia_red_enter" => &mut self.gpu_nvidia_red_enter,
            "gpu_nvidia_red_exit" => &mut self.gpu_nvidia_red_exit,
            "gpu_metal_yellow_enter" => &mut self.gpu_metal_yellow_enter,
            "gpu_metal_yellow_exit" => &mut self.gpu_metal_yellow_exit,
            "gpu_metal_red_enter" => &mut self.gpu_metal_red_enter,
            "gpu_metal_red_exit" => &mut self.gpu_metal_red_exit,
            _ => return false,
        };
        *slot = value;
        true
    }

    /// Checks every field: finite, non-negative, percentages at most 100, each exit threshold on
    /// the calm side of its enter threshold, red at least as severe as yellow.
    pub fn validate(&self) -> Result<(), ThresholdError> {
        for (field, value) in self.fields() {
            if !value.is_finite() || value < 0.0 {
                return Err(ThresholdError {
                    field,
                    message: format!("must be a finite number >= 0, got {value}"),
                });
            }
            let (limit, kind) = match field {
                "downgrade_dwell" => (MAX_DOWNGRADE_DWELL_SECONDS, "a dwell in seconds"),
                "fallback_yellow_available_mb" | "fallback_red_available_mb" => {
                    (MAX_FALLBACK_AVAILABLE_MB, "an amount of MB")
                }
                _ => (100.0, "a percentage"),
            };
            if value > limit {
                return Err(ThresholdError {
                    field,
                    message: format!("is {kind} and must be <= {limit}, got {value}"),
                });
            }
        }
        // (field that must not exceed, its value, the bound's name, the bound)
        let at_most = [
            // Rising signals: the exit threshold must be at or below the enter threshold.
            (
                "yellow_some10_exit",
                self.yellow_some10_exit,
                "yellow_some10_enter",
                self.yellow_some10_enter,
            ),
            (
                "red_full10_exit",
                self.red_full10_exit,
                "red_full10_enter",
                self.red_full10_enter,
            ),
            (
                "red_some10_exit",
                self.red_some10_exit,
                "red_some10_enter",
                self.red_some10_enter,
            ),
            (
                "macos_compressor_warn_exit",
                self.macos_compressor_warn_exit,
                "macos_compressor_warn_enter",
                self.macos_compressor_warn_enter,
            ),
            (
                "macos_compressor_critical_exit",
                self.macos_compressor_critical_exit,
                "macos_compressor_critical_enter",
                self.macos_compressor_critical_enter,
            ),
            // Falling signal (headroom): the exit threshold must be at or above the enter one.
            (
                "yellow_headroom_enter",
                self.yellow_headroom_enter,
                "yellow_headroom_exit",
                self.yellow_headroom_exit,
            ),
            (
                "red_headroom_enter",
                self.red_headroom_enter,
                "red_headroom_exit",
                self.red_headroom_exit,
            ),
            // Red is at least as severe as yellow.
            (
                "yellow_some10_enter",
                self.yellow_some10_enter,
                "red_some10_enter",
                self.red_some10_enter,
            ),
            (
                "red_headroom_enter",
                self.red_headroom_enter,
                "yellow_headroom_enter",
                self.yellow_headroom_enter,
            ),
            (
                "macos_compressor_warn_enter",
                self.macos_compressor_warn_enter,
                "macos_compressor_critical_enter",
                self.macos_compressor_critical_enter,
            ),
            (
                "fallback_red_available_mb",
                self.fallback_red_available_mb,
                "fallback_yellow_available_mb",
                self.fallback_yellow_available_mb,
            ),
            // GPU: rising signals, and red at least as severe as yellow.
            (
                "gpu_nvidia_yellow_exit",
                self.gpu_nvidia_yellow_exit,
                "gpu_nvidia_yellow_enter",
                self.gpu_nvidia_yellow_enter,
            ),
            (
                "gpu_nvidia_red_exit",
                self.gpu_nvidia_red_exit,
                "gpu_nvidia_red_enter",
                self.gpu_nvidia_red_enter,
            ),
            (
                "gpu_nvidia_yellow_enter",
                self.gpu_nvidia_yellow_enter,
                "gpu_nvidia_red_enter",
                self.gpu_nvidia_red_enter,
            ),
            (
                "gpu_metal_yellow_exit",
                self.gpu_metal_yellow_exit,
                "gpu_metal_yellow_enter",
                self.gpu_metal_yellow_enter,
            ),
            (
                "gpu_metal_red_exit",
                self.gpu_metal_red_exit,
                "gpu_metal_red_enter",
                self.gpu_metal_red_enter,
            ),
            (
                "gpu_metal_yellow_enter",
                self.gpu_metal_yellow_enter,
                "gpu_metal_red_enter",
                self.gpu_metal_red_enter,
            ),
        ];
        for (field, value, bound_name, bound) in at_most {
            if value > bound {
                return Err(ThresholdError {
                    field,
                    message: format!("must be <= {bound_name} ({bound}), got {value}"),
                });
            }
        }
        Ok(())
    }
}

/// Comparison shown in a reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    AtLeast,
    AtMost,
    Below,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::AtLeast => ">=",
            Op::AtMost => "<=",
            Op::Below => "<",
        }
    }
}

/// Why the verdict is what it is: one signal and the threshold it sits past, or a state note.
#[derive(Clone, Debug, PartialEq)]
pub enum Reason {
    /// `signal value op threshold`, e.g. "psi some avg10 12.3% >= 10.0%".
    Crossed {
        signal: String,
        value: f64,
        op: Op,
        threshold: f64,
        unit: &'static str,
    },
    /// A cumulative counter grew since the previous sample, e.g. "cgroup memory events max +3".
    Event { counter: &'static str, delta: u64 },
    /// The macOS kernel's own level.
    KernelLevel { value: u32 },
    /// Every signal is calm but the dwell has not passed yet.
    Calming {
        elapsed: f64,
        dwell: f64,
        from: Level,
    },
    /// The level stepped down after a full dwell.
    SteppedDown { dwell: f64 },
    /// No signal could be used.
    NoSignal { detail: String },
    /// The process's memory cgroup has (or may have) a limit, but how close to it the cgroup
    /// is could not be read; `detail` lists what failed.
    CgroupUnreadable { detail: String },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Crossed {
                signal,
                value,
                op,
                threshold,
                unit,
            } => write!(
                f,
                "{signal} {value:.1}{unit} {} {threshold:.1}{unit}",
                op.symbol()
            ),
            Reason::Event { counter, delta } => write!(f, "{counter} +{delta}"),
            Reason::KernelLevel { value } => {
                let name = match value {
                    1 => "normal",
                    2 => "warn",
                    4 => "critical",
                    _ => "not a known level",
                };
                write!(f, "macOS kernel pressure level {value} ({name})")
            }
            Reason::Calming {
                elapsed,
                dwell,
                from,
            } => write!(
                f,
                "calm for {elapsed:.1}s of the {dwell:.1}s dwell before leaving {}",
                from.name()
            ),
            Reason::SteppedDown { dwell } => {
                write!(
                    f,
                    "every signal calm for the {dwell:.1}s dwell: one level down"
                )
            }
            Reason::NoSignal { detail } => write!(f, "no memory signal could be read: {detail}"),
            Reason::CgroupUnreadable { detail } => write!(
                f,
                "memory cgroup limit in force but its figures could not be read ({detail}); \
                 the host's figures alone cannot say green"
            ),
        }
    }
}

/// The classifier's answer to one sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub level: Level,
    pub previous: Level,
    pub changed: bool,
    pub reasons: Vec<Reason>,
}

/// What one sample says, before the state machine applies hysteresis and dwell.
#[derive(Debug, Default)]
pub(in crate::pressure) struct Assessment {
    pub(in crate::pressure) red_enter: Vec<Reason>,
    pub(in crate::pressure) yellow_enter: Vec<Reason>,
    /// Signals not yet past their red exit thresholds.
    pub(in crate::pressure) red_hold: Vec<Reason>,
    /// Signals not yet past their yellow exit thresholds.
    pub(in crate::pressure) yellow_hold: Vec<Reason>,
}

/// A value crossing rule for one signal: enter and exit thresholds for one level.
pub(in crate::pressure) struct Rule<'a> {
    pub(in crate::pressure) signal: &'a str,
    pub(in crate::pressure) value: f64,
    pub(in crate::pressure) unit: &'static str,
    /// true: pressure when the value is high (PSI, compressor); false: when low (headroom, MB).
    pub(in crate::pressure) rising: bool,
}

impl Rule<'_> {
    fn reason(&self, op: Op, threshold: f64) -> Reason {
        Reason::Crossed {
            signal: self.signal.to_owned(),
            value: self.value,
            op,
            threshold,
            unit: self.unit,
        }
    }

    /// Reason when the value is past `enter` (>= for rising, <= for falling).
    fn enters(&self, enter: f64) -> Option<Reason> {
        if self.rising && self.value >= enter {
            Some(self.reason(Op::AtLeast, enter))
        } else if !self.rising && self.value <= enter {
            Some(self.reason(Op::AtMost, enter))
        } else {
            None
        }
    }

    /// Reason when the value has not yet passed `exit` (not < for rising, not > for falling).
    fn holds(&self, exit: f64) -> Option<Reason> {
        if self.rising && self.value >= exit {
            Some(self.reason(Op::AtLeast, exit))
        } else if !self.rising && self.value <= exit {
            Some(self.reason(Op::AtMost, exit))
        } else {
            None
        }
    }

    /// Feeds one level's enter/hold lists.
    pub(in crate::pressure) fn apply(
        &self,
        enter: f64,
        exit: f64,
        enters: &mut Vec<Reason>,
        holds: &mut Vec<Reason>,
    ) {
        enters.extend(self.enters(enter));
        holds.extend(self.holds(exit));
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counters {
    high: Option<u64>,
    max: Option<u64>,
    oom: Option<u64>,
}

impl Counters {
    fn of(sample: &Sample) -> Self {
        Counters {
            high: sample.cgroup_events_high,
            max: sample.cgroup_events_max,
            oom: sample.cgroup_events_oom,
        }
    }
}

/// Growth of a counter since the previous reading; a counter that went down (a new cgroup) or was
/// not read either time is no event.
fn growth(before: Option<u64>, now: Option<u64>) -> u64 {
    match (before, now) {
        (Some(b), Some(n)) if n > b => n - b,
        _ => 0,
    }
}

fn finite(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite())
}

const BYTES_PER_MB: f64 = 1024.0 * 1024.0;

/// The state machine. Feed it samples with a monotonic `now` in seconds.
#[derive(Clone, Debug)]
pub struct Classifier {
    thresholds: Thresholds,
    machine: LevelMachine,
    counters: Option<Counters>,
}

impl Classifier {
    pub fn new(thresholds: Thresholds) -> Result<Self, ThresholdError> {
        thresholds.validate()?;
        Ok(Self {
            thresholds,
            machine: LevelMachine::default(),
            counters: None,
        })
    }

    pub fn level(&self) -> Level {
        self.machine.level
    }

    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// Classifies `sample` taken at `now` (seconds, any monotonic origin) and moves the state.
    pub fn update(&mut self, sample: &Sample, now: f64) -> Verdict {
        let counters = Counters::of(sample);
        let before = self.counters.replace(counters);
        let assessment = self.assess(sample, before.unwrap_or(counters));
        self.machine
            .step(assessment, now, self.thresholds.downgrade_dwell)
    }

    fn assess(&self, s: &Sample, before: Counters) -> Result<Assessment, Reason> {
        let t = &self.thresholds;
        let mut a = Assessment::default();
        if let Some(value) = s.macos_pressure_level {
            let reason = Reason::KernelLevel { value };
            match value {
                1 => {}
                2 => {
                    a.yellow_enter.push(reason.clone());
                    a.yellow_hold.push(reason);
                }
                4 => {
                    a.red_enter.push(reason.clone());
                    a.red_hold.push(reason.clone());
                    a.yellow_hold.push(reason);
                }
                _ => {
                    return Err(Reason::NoSignal {
                        detail: reason.to_string(),
                    })
                }
            }
            return Ok(a);
        }
        if s.sources.contains(Sources::MACOS_VM_STATISTICS) {
            if let Some(share) = finite(s.compressor_share()) {
                let rule = Rule {
                    signal: "compressor share of available memory",
                    value: share,
                    unit: "%",
                    rising: true,
                };
                // The thresholds are xnu's for Macs over 3 GB; smaller ones get the shares of
                // their own divisors, as the kernel does (`CompressorDivisors`).
                let (warn_enter, warn_exit, critical_enter, critical_exit) = match s.total {
                    Some(total) if total <= super::macos::SMALL_MAC_MEMSIZE => {
                        super::macos::CompressorDivisors::for_memsize(total).shares()
                    }
                    _ => (
                        t.macos_compressor_warn_enter,
                        t.macos_compressor_warn_exit,
                        t.macos_compressor_critical_enter,
                        t.macos_compressor_critical_exit,
                    ),
                };
                rule.apply(
                    critical_enter,
                    critical_exit,
                    &mut a.red_enter,
                    &mut a.red_hold,
                );
                rule.apply(
                    warn_enter,
                    warn_exit,
                    &mut a.yellow_enter,
                    &mut a.yellow_hold,
                );
                return Ok(a);
            }
        }
        if s.sources.contains(Sources::PSUTIL) {
            if let Some(available) = s.available {
                let rule = Rule {
                    signal: "available memory",
                    value: available as f64 / BYTES_PER_MB,
                    unit: " MB",
                    rising: false,
                };
                rule.apply(
                    t.fallback_red_available_mb,
                    t.fallback_red_available_mb,
                    &mut a.red_enter,
                    &mut a.red_hold,
                );
                rule.apply(
                    t.fallback_yellow_available_mb,
                    t.fallback_yellow_available_mb,
                    &mut a.yellow_enter,
                    &mut a.yellow_hold,
                );
                return Ok(a);
            }
        }
        let some10 = finite(s.psi_some_avg10);
        let full10 = finite(s.psi_full_avg10);
        let headroom = s.headroom().filter(|(h, _)| h.is_finite());
        if some10.is_none() && full10.is_none() && headroom.is_none() {
            let detail = if s.problems.is_empty() {
                "the sample holds no PSI, headroom, kernel level or available figure".to_owned()
            } else {
                s.problems.join("; ")
            };
            return Err(Reason::NoSignal { detail });
        }
        if let Some(v) = full10 {
            let rule = Rule {
                signal: "psi full avg10",
                value: v,
                unit: "%",
                rising: true,
            };
            rule.apply(
                t.red_full10_enter,
                t.red_full10_exit,
                &mut a.red_enter,
                &mut a.red_hold,
            );
        }
        if let Some(v) = some10 {
            let rule = Rule {
                signal: "psi some avg10",
                value: v,
                unit: "%",
                rising: true,
            };
            rule.apply(
                t.red_some10_enter,
                t.red_some10_exit,
                &mut a.red_enter,
                &mut a.red_hold,
            );
            rule.apply(
                t.yellow_some10_enter,
                t.yellow_some10_exit,
                &mut a.yellow_enter,
                &mut a.yellow_hold,
            );
        }
        if let Some((h, scope)) = headroom {
            let rule = Rule {
                signal: match scope {
                    HeadroomScope::System => "headroom (system)",
                    HeadroomScope::Cgroup => "headroom (cgroup)",
                },
                value: h,
                unit: "%",
                rising: false,
            };
            rule.apply(
                t.red_headroom_enter,
                t.red_headroom_exit,
                &mut a.red_enter,
                &mut a.red_hold,
            );
            rule.apply(
                t.yellow_headroom_enter,
                t.yellow_headroom_exit,
                &mut a.yellow_enter,
                &mut a.yellow_hold,
            );
        }
        let now = Counters::of(s);
        let counters = [
            (
                "cgroup memory events oom",
                growth(before.oom, now.oom),
                true,
            ),
            (
                "cgroup memory events max",
                growth(before.max, now.max),
                true,
            ),
            (
                "cgroup memory events high",
                growth(before.high, now.high),
                false,
            ),
        ];
        for (counter, delta, red) in counters {
            if delta > 0 {
                let reason = Reason::Event { counter, delta };
                if red {
                    a.red_enter.push(reason.clone());
                    a.red_hold.push(reason);
                } else {
                    a.yellow_enter.push(reason.clone());
                    a.yellow_hold.push(reason);
                }
            }
        }
        if s.cgroup_unreadable && a.red_enter.is_empty() && a.yellow_enter.is_empty() {
            let detail = if s.problems.is_empty() {
                "no detail in the sample".to_owned()
            } else {
                s.problems.join("; ")
            };
            return Err(Reason::CgroupUnreadable { detail });
        }
        Ok(a)
    }
}

/// Hysteresis and dwell over a stream of assessments: the part of the classifier that any
/// level (memory, each GPU) shares. Upgrades are immediate; a downgrade needs `dwell` seconds of
/// every signal past its exit threshold and steps one level.
#[derive(Clone, Debug)]
pub(in crate::pressure) struct LevelMachine {
    level: Level,
    /// Since when every signal has been past the exit thresholds of the current level.
    calm_since: Option<f64>,
    /// The last known level, kept across unknown readings so that a glitch (one unreadable
    /// sample) does not let the level skip the dwell on its way down.
    last_known: Level,
}

impl Default for LevelMachine {
    fn default() -> Self {
        Self {
            level: Level::Unknown,
            calm_since: None,
            last_known: Level::Unknown,
        }
    }
}

impl LevelMachine {
    pub(in crate::pressure) fn level(&self) -> Level {
        self.level
    }

    /// Moves the state by one assessment (`Err`: no usable signal, the level is unknown).
    pub(in crate::pressure) fn step(
        &mut self,
        assessment: Result<Assessment, Reason>,
        now: f64,
        dwell: f64,
    ) -> Verdict {
        let previous = self.level;
        let assessment = match assessment {
            Ok(a) => a,
            Err(reason) => {
                self.level = Level::Unknown;
                self.calm_since = None;
                return Verdict {
                    level: Level::Unknown,
                    previous,
                    changed: previous != Level::Unknown,
                    reasons: vec![reason],
                };
            }
        };
        let (entered, enter_reasons) = if !assessment.red_enter.is_empty() {
            (Level::Red, assessment.red_enter)
        } else if !assessment.yellow_enter.is_empty() {
            (Level::Yellow, assessment.yellow_enter)
        } else {
            (Level::Green, Vec::new())
        };
        let mut reasons = enter_reasons;
        // The rules start from the last known level: after an unknown reading the level comes
        // back where it was and steps down only by the dwell rule.
        let basis = if previous == Level::Unknown {
            self.last_known
        } else {
            previous
        };
        let level = match basis.rank() {
            // The first known reading, or upwards: at once.
            None => {
                self.calm_since = None;
                entered
            }
            Some(rank) if entered.rank() > Some(rank) => {
                self.calm_since = None;
                entered
            }
            Some(_) => {
                let holds = match basis {
                    Level::Red => assessment.red_hold,
                    Level::Yellow => assessment.yellow_hold,
                    _ => Vec::new(),
                };
                if basis == Level::Green {
                    Level::Green
                } else if !holds.is_empty() {
                    self.calm_since = None;
                    for h in holds {
                        if !reasons.contains(&h) {
                            reasons.push(h);
                        }
                    }
                    basis
                } else {
                    let since = match self.calm_since {
                        Some(s) if s <= now => s,
                        _ => now,
                    };
                    self.calm_since = Some(since);
                    let elapsed = now - since;
                    if elapsed >= dwell {
                        self.calm_since = Some(now);
                        reasons.push(Reason::SteppedDown { dwell });
                        if basis == Level::Red {
                            Level::Yellow
                        } else {
                            Level::Green
                        }
                    } else {
                        reasons.push(Reason::Calming {
                            elapsed,
                            dwell,
                            from: basis,
                        });
                        basis
                    }
                }
            }
        };
        self.level = level;
        self.last_known = level;
        Verdict {
            level,
            previous,
            changed: level != previous,
            reasons,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(some10: f64, full10: f64, available_pct: u64) -> Sample {
        Sample {
            total: Some(100),
            available: Some(available_pct),
            psi_some_avg10: Some(some10),
            psi_full_avg10: Some(full10),
            sources: {
                let mut s = Sources::MEMINFO;
                s.insert(Sources::PSI);
                s
            },
            ..Sample::default()
        }
    }

    fn classifier() -> Classifier {
        Classifier::new(Thresholds::default()).unwrap()
    }

    fn texts(v: &Verdict) -> Vec<String> {
        v.reasons.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn an_unreadable_limited_cgroup_is_never_green() {
        let mut c = classifier();
        let mut calm = linux(0.0, 0.0, 80);
        calm.cgroup_unreadable = true;
        calm.problems
            .push("cgroup memory.current: not found".into());
        let v = c.update(&calm, 0.0);
        assert_eq!(v.level, Level::Unknown);
        assert!(texts(&v)[0].contains("cgroup memory.current: not found"));
        assert!(texts(&v)[0].contains("cannot say green"));
        // Host pressure is still seen.
        let mut pressed = linux(50.0, 0.0, 80);
        pressed.cgroup_unreadable = true;
        assert_eq!(c.update(&pressed, 1.0).level, Level::Red);
        // Once readable again, the usual rules (and the dwell) apply.
        assert_eq!(c.update(&linux(0.0, 0.0, 80), 2.0).level, Level::Red);
    }

    #[test]
    fn defaults_are_valid() {
        Thresholds::default().validate().unwrap();
    }

    #[test]
    fn empty_sample_is_unknown_never_green() {
        let mut c = classifier();
        let v = c.update(&Sample::default(), 0.0);
        assert_eq!(v.level, Level::Unknown);
        assert!(texts(&v)[0].starts_with("no memory signal could be read"));
        let mut broken = Sample::default();
        broken.problems.push("psi: garbage".into());
        let v = c.update(&broken, 1.0);
        assert_eq!(v.level, Level::Unknown);
        assert!(texts(&v)[0].contains("psi: garbage"));
    }

    #[test]
    fn calm_linux_sample_is_green() {
        let mut c = classifier();
        let v = c.update(&linux(0.0, 0.0, 80), 0.0);
        assert_eq!(
            (v.level, v.previous, v.changed),
            (Level::Green, Level::Unknown, true)
        );
        assert!(v.reasons.is_empty());
    }

    #[test]
    fn yellow_enters_on_some10_and_reason_names_it() {
        let mut c = classifier();
        c.update(&linux(0.0, 0.0, 80), 0.0);
        let v = c.update(&linux(12.3, 0.0, 80), 1.0);
        assert_eq!(v.level, Level::Yellow);
        assert_eq!(texts(&v), ["psi some avg10 12.3% >= 10.0%"]);
    }

    #[test]
    fn yellow_enters_on_headroom() {
        let mut c = classifier();
        let v = c.update(&linux(0.0, 0.0, 25), 0.0);
        assert_eq!(v.level, Level::Yellow);
        assert_eq!(texts(&v), ["headroom (system) 25.0% <= 25.0%"]);
    }

    #[test]
    fn red_enters_on_each_red_signal() {
        for (s, expect) in [
            (linux(0.0, 10.0, 80), "psi full avg10 10.0% >= 10.0%"),
            (linux(40.0, 0.0, 80), "psi some avg10 40.0% >= 40.0%"),
            (linux(0.0, 0.0, 15), "headroom (system) 15.0% <= 15.0%"),
        ] {
            let mut c = classifier();
            c.update(&linux(0.0, 0.0, 80), 0.0);
            let v = c.update(&s, 1.0);
            assert_eq!(v.level, Level::Red, "{expect}");
            assert!(texts(&v).contains(&expect.to_owned()), "{:?}", texts(&v));
        }
    }

    #[test]
    fn upgrade_is_immediate_even_from_green_to_red() {
        let mut c = classifier();
        c.update(&linux(0.0, 0.0, 80), 0.0);
        let v = c.update(&linux(0.0, 50.0, 80), 0.1);
        assert_eq!((v.previous, v.level), (Level::Green, Level::Red));
    }

    #[test]
    fn downgrade_waits_for_dwell_and_steps_one_level() {
        let mut c = classifier();
        c.update(&linux(50.0, 20.0, 80), 0.0);
        assert_eq!(c.level(), Level::Red);
        // Calm from t=1 on; nothing changes before t=11.
        for t in 1..11 {
            let v = c.update(&linux(0.0, 0.0, 80), t as f64);
            assert_eq!(v.level, Level::Red, "t={t}");
        }
        let v = c.update(&linux(0.0, 0.0, 80), 11.0);
        assert_eq!((v.previous, v.level), (Level::Red, Level::Yellow));
        // The next step needs another full dwell.
        let v = c.update(&linux(0.0, 0.0, 80), 20.9);
        assert_eq!(v.level, Level::Yellow);
        assert!(texts(&v)[0].starts_with("calm for 9.9s"));
        let v = c.update(&linux(0.0, 0.0, 80), 21.0);
        assert_eq!(v.level, Level::Green);
    }

    #[test]
    fn hysteresis_holds_between_exit_and_enter() {
        let mut c = classifier();
        c.update(&linux(12.0, 0.0, 80), 0.0);
        assert_eq!(c.level(), Level::Yellow);
        // some10 7 %: below enter (10) but not below exit (5): stays yellow however long.
        for t in 1..100 {
            let v = c.update(&linux(7.0, 0.0, 80), t as f64);
            assert_eq!(v.level, Level::Yellow);
            assert_eq!(texts(&v), ["psi some avg10 7.0% >= 5.0%"]);
        }
        // Headroom 28 % (between 25 and 30) holds as well.
        let v = c.update(&linux(0.0, 0.0, 28), 200.0);
        assert_eq!(v.level, Level::Yellow);
        assert_eq!(texts(&v), ["headroom (system) 28.0% <= 30.0%"]);
    }

    #[test]
    fn red_exit_needs_every_signal_calm() {
        let mut c = classifier();
        c.update(&linux(0.0, 12.0, 80), 0.0);
        // full10 at 6 % (not < 5): red holds even with everything else calm.
        let v = c.update(&linux(0.0, 6.0, 80), 50.0);
        assert_eq!(v.level, Level::Red);
        // some10 at 25 % (not < 20) holds too.
        let v = c.update(&linux(25.0, 0.0, 80), 100.0);
        assert_eq!(v.level, Level::Red);
        // headroom 18 % (not > 20) holds.
        let v = c.update(&linux(0.0, 0.0, 18), 150.0);
        assert_eq!(v.level, Level::Red);
    }

    #[test]
    fn cgroup_headroom_uses_working_set() {
        let mut c = classifier();
        let mut s = linux(0.0, 0.0, 90);
        s.cgroup_limit = Some(1000);
        s.cgroup_working_set = Some(800);
        let v = c.update(&s, 0.0);
        assert_eq!(v.level, Level::Yellow);
        assert_eq!(texts(&v), ["headroom (cgroup) 20.0% <= 25.0%"]);
        s.cgroup_working_set = Some(900);
        let v = c.update(&s, 1.0);
        assert_eq!(v.level, Level::Red);
    }

    #[test]
    fn new_max_or_oom_event_is_red_and_high_is_yellow() {
        let mut c = classifier();
        let mut s = linux(0.0, 0.0, 90);
        s.cgroup_events_max = Some(5);
        s.cgroup_events_oom = Some(0);
        s.cgroup_events_high = Some(0);
        // The first reading is the baseline, not an event.
        assert_eq!(c.update(&s, 0.0).level, Level::Green);
        s.cgroup_events_high = Some(2);
        let v = c.update(&s, 1.0);
        assert_eq!(v.level, Level::Yellow);
        assert_eq!(texts(&v), ["cgroup memory events high +2"]);
        s.cgroup_events_oom = Some(1);
        let v = c.update(&s, 2.0);
        assert_eq!(v.level, Level::Red);
        assert_eq!(texts(&v), ["cgroup memory events oom +1"]);
        // No further growth: calm, then down after the dwell.
        assert_eq!(c.update(&s, 3.0).level, Level::Red);
        assert_eq!(c.update(&s, 13.0).level, Level::Yellow);
        // A counter going backwards (a new cgroup) is no event.
        s.cgroup_events_max = Some(0);
        assert_eq!(c.update(&s, 14.0).reasons.len(), 1);
    }

    #[test]
    fn macos_kernel_level_wins_and_unknown_values_are_unknown() {
        let mut c = classifier();
        let mut s = Sample {
            macos_pressure_level: Some(1),
            // Compressor share would say critical; the kernel level wins.
            compressed: Some(90),
            available: Some(10),
            sources: Sources::MACOS_VM_STATISTICS,
            ..Sample::default()
        };
        assert_eq!(c.update(&s, 0.0).level, Level::Green);
        s.macos_pressure_level = Some(4);
        let v = c.update(&s, 1.0);
        assert_eq!(v.level, Level::Red);
        assert_eq!(texts(&v), ["macOS kernel pressure level 4 (critical)"]);
        s.macos_pressure_level = Some(2);
        assert_eq!(
            c.update(&s, 2.0).level,
            Level::Red,
            "dwell applies to kernel levels"
        );
        assert_eq!(c.update(&s, 12.0).level, Level::Yellow);
        s.macos_pressure_level = Some(3);
        let v = c.update(&s, 13.0);
        assert_eq!(v.level, Level::Unknown);
        assert!(texts(&v)[0].contains("level 3 (not a known level)"));
        s.macos_pressure_level = Some(0);
        assert_eq!(c.update(&s, 14.0).level, Level::Unknown);
    }

    #[test]
    fn macos_compressor_fallback_has_hysteresis() {
        let mut c = classifier();
        let mut s = Sample {
            compressed: Some(30),
            active: Some(0),
            available: Some(70),
            sources: Sources::MACOS_VM_STATISTICS,
            ..Sample::default()
        };
        assert_eq!(c.update(&s, 0.0).level, Level::Green);
        s.compressed = Some(50);
        s.available = Some(50);
        assert_eq!(c.update(&s, 1.0).level, Level::Yellow);
        s.compressed = Some(67);
        s.available = Some(33);
        let v = c.update(&s, 2.0);
        assert_eq!(v.level, Level::Red);
        assert_eq!(
            texts(&v),
            ["compressor share of available memory 67.0% >= 66.0%"]
        );
        s.compressed = Some(62);
        s.available = Some(38);
        assert_eq!(
            c.update(&s, 100.0).level,
            Level::Red,
            "62 % is not below 60 %"
        );
        s.compressed = Some(45);
        s.available = Some(55);
        c.update(&s, 101.0);
        assert_eq!(c.update(&s, 111.0).level, Level::Yellow);
        assert_eq!(
            c.update(&s, 200.0).level,
            Level::Yellow,
            "45 % is not below 40 %"
        );
    }

    #[test]
    fn psutil_fallback_uses_available_megabytes() {
        let mb = 1024 * 1024;
        let mut c = classifier();
        let mut s = Sample {
            total: Some(8000 * mb),
            available: Some(2000 * mb),
            sources: Sources::PSUTIL,
            ..Sample::default()
        };
        assert_eq!(c.update(&s, 0.0).level, Level::Green);
        s.available = Some(999 * mb);
        assert_eq!(c.update(&s, 1.0).level, Level::Yellow);
        s.available = Some(399 * mb);
        let v = c.update(&s, 2.0);
        assert_eq!(v.level, Level::Red);
        assert_eq!(texts(&v), ["available memory 399.0 MB <= 400.0 MB"]);
    }

    #[test]
    fn an_unknown_glitch_does_not_skip_the_dwell() {
        let mut c = classifier();
        c.update(&linux(50.0, 0.0, 80), 0.0);
        assert_eq!(c.update(&Sample::default(), 1.0).level, Level::Unknown);
        let v = c.update(&linux(0.0, 0.0, 80), 2.0);
        assert_eq!(
            (v.previous, v.level, v.changed),
            (Level::Unknown, Level::Red, true)
        );
        assert!(texts(&v)[0].starts_with("calm for 0.0s"));
        assert_eq!(c.update(&linux(0.0, 0.0, 80), 11.9).level, Level::Red);
        assert_eq!(c.update(&linux(0.0, 0.0, 80), 12.0).level, Level::Yellow);
        // Upwards after a glitch is immediate as always.
        c.update(&Sample::default(), 13.0);
        assert_eq!(c.update(&linux(0.0, 50.0, 80), 13.1).level, Level::Red);
    }

    #[test]
    fn nan_signals_count_as_missing() {
        let mut c = classifier();
        let s = Sample {
            psi_some_avg10: Some(f64::NAN),
            ..Sample::default()
        };
        assert_eq!(c.update(&s, 0.0).level, Level::Unknown);
    }

    #[test]
    fn time_going_backwards_does_not_shortcut_the_dwell() {
        let mut c = classifier();
        c.update(&linux(12.0, 0.0, 80), 100.0);
        assert_eq!(c.update(&linux(0.0, 0.0, 80), 101.0).level, Level::Yellow);
        assert_eq!(c.update(&linux(0.0, 0.0, 80), 50.0).level, Level::Yellow);
        assert_eq!(c.update(&linux(0.0, 0.0, 80), 59.0).level, Level::Yellow);
        assert_eq!(c.update(&linux(0.0, 0.0, 80), 60.0).level, Level::Green);
    }

    #[test]
    fn invalid_thresholds_name_the_field() {
        let with = |name: &str, value: f64| {
            let mut t = Thresholds::default();
            assert!(t.set(name, value), "{name}");
            t.validate().unwrap_err().field
        };
        assert_eq!(with("yellow_some10_exit", 11.0), "yellow_some10_exit");
        assert_eq!(with("red_headroom_exit", 10.0), "red_headroom_enter");
        assert_eq!(with("downgrade_dwell", f64::NAN), "downgrade_dwell");
        assert_eq!(
            with("fallback_red_available_mb", -1.0),
            "fallback_red_available_mb"
        );
        assert_eq!(with("red_full10_enter", 150.0), "red_full10_enter");
        assert_eq!(with("yellow_some10_enter", 45.0), "yellow_some10_enter");
        assert_eq!(with("gpu_nvidia_red_exit", 96.0), "gpu_nvidia_red_exit");
        assert_eq!(
            with("gpu_metal_yellow_enter", 100.5),
            "gpu_metal_yellow_enter"
        );
        assert_eq!(
            with("gpu_nvidia_yellow_enter", 96.0),
            "gpu_nvidia_yellow_enter"
        );
        assert_eq!(with("downgrade_dwell", 86_401.0), "downgrade_dwell");
        assert_eq!(
            with("fallback_yellow_available_mb", 2e6),
            "fallback_yellow_available_mb"
        );
        let mut t = Thresholds::default();
        assert!(!t.set("nope", 1.0));
        t.set("downgrade_dwell", -1.0);
        assert!(Classifier::new(t).is_err());
    }
}
