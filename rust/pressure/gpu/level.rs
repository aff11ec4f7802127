//! The GPU level: per device green / yellow / red with the memory level's hysteresis and dwell.
//!
//! NVIDIA: used / total against `gpu_nvidia_*`; Metal: current allocated / recommended working
//! set against `gpu_metal_*`. Each device keeps its own state machine; a device that leaves the
//! reading is forgotten, so one that comes back starts from unknown.

use super::{GpuDevice, GpuKind, GpuReading};
use crate::pressure::classifier::{Assessment, LevelMachine, Rule};
use crate::pressure::{Level, Reason, ThresholdError, Thresholds, Verdict};

/// One device's verdict, with the key that names the device.
#[derive(Clone, Debug, PartialEq)]
pub struct GpuVerdict {
    pub kind: GpuKind,
    pub index: u32,
    pub verdict: Verdict,
}

#[derive(Clone, Debug)]
pub struct GpuClassifier {
    thresholds: Thresholds,
    machines: Vec<((GpuKind, u32), LevelMachine)>,
}

impl GpuClassifier {
    pub fn new(thresholds: Thresholds) -> Result<Self, ThresholdError> {
        thresholds.validate()?;
        Ok(Self {
            thresholds,
            machines: Vec::new(),
        })
    }

    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// The level of one device; `None` for a device not in the last reading.
    pub fn level(&self, kind: GpuKind, index: u32) -> Option<Level> {
        self.machines
            .iter()
            .find(|(key, _)| *key == (kind, index))
            .map(|(_, m)| m.level())
    }

    /// Classifies every device of `reading` taken at `now` (seconds, monotonic): one verdict per
    /// device, in the reading's order.
    pub fn update(&mut self, reading: &GpuReading, now: f64) -> Vec<GpuVerdict> {
        let mut kept = Vec::with_capacity(reading.devices.len());
        let mut verdicts = Vec::with_capacity(reading.devices.len());
        for device in &reading.devices {
            let key = (device.kind, device.index);
            let mut machine = match self.machines.iter().position(|(k, _)| *k == key) {
                Some(i) => self.machines.swap_remove(i).1,
                None => LevelMachine::default(),
            };
            let verdict = machine.step(
                assess(&self.thresholds, device),
                now,
                self.thresholds.downgrade_dwell,
            );
            kept.push((key, machine));
            verdicts.push(GpuVerdict {
                kind: device.kind,
                index: device.index,
                verdict,
            });
        }
        self.machines = kept;
        verdicts
    }
}

fn assess(t: &Thresholds, device: &GpuDevice) -> Result<Assessment, Reason> {
    let Some(percent) = device.used_percent() else {
        return Err(Reason::NoSignal {
            detail: format!(
                "GPU {} ({}) reports no total memory",
                device.index, device.name
            ),
        });
    };
    let (signal, yellow, red) = match device.kind {
        GpuKind::Nvidia => (
            "gpu memory used of total",
            (t.gpu_nvidia_yellow_enter, t.gpu_nvidia_yellow_exit),
            (t.gpu_nvidia_red_enter, t.gpu_nvidia_red_exit),
        ),
        GpuKind::Metal => (
            "gpu memory allocated of recommended working set",
            (t.gpu_metal_yellow_enter, t.gpu_metal_yellow_exit),
            (t.gpu_metal_red_enter, t.gpu_metal_red_exit),
        ),
    };
    let rule = Rule {
        signal,
        value: percent,
        unit: "%",
        rising: true,
    };
    let mut a = Assessment::default();
    rule.apply(red.0, red.1, &mut a.red_enter, &mut a.red_hold);
    rule.apply(yellow.0, yellow.1, &mut a.yellow_enter, &mut a.yellow_hold);
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn device(kind: GpuKind, index: u32, used_percent: f64) -> GpuDevice {
        let total = 80 * GIB;
        let used = (total as f64 * used_percent / 100.0) as u64;
        GpuDevice {
            kind,
            index,
            name: format!("fixture {index}"),
            total,
            used,
            free: total - used,
            reserved: None,
            process: None,
            unified_memory: None,
        }
    }

    fn reading(devices: Vec<GpuDevice>) -> GpuReading {
        GpuReading {
            devices,
            problems: Vec::new(),
        }
    }

    fn one(c: &mut GpuClassifier, kind: GpuKind, percent: f64, now: f64) -> Verdict {
        let mut v = c.update(&reading(vec![device(kind, 0, percent)]), now);
        assert_eq!(v.len(), 1);
        v.remove(0).verdict
    }

    fn classifier() -> GpuClassifier {
        GpuClassifier::new(Thresholds::default()).unwrap()
    }

    #[test]
    fn nvidia_levels_enter_at_80_and_95_percent() {
        let mut c = classifier();
        assert_eq!(one(&mut c, GpuKind::Nvidia, 79.0, 0.0).level, Level::Green);
        let v = one(&mut c, GpuKind::Nvidia, 80.0, 1.0);
        assert_eq!((v.previous, v.level), (Level::Green, Level::Yellow));
        let texts: Vec<String> = v.reasons.iter().map(ToString::to_string).collect();
        assert_eq!(texts, ["gpu memory used of total 80.0% >= 80.0%"]);
        assert_eq!(one(&mut c, GpuKind::Nvidia, 94.9, 2.0).level, Level::Yellow);
        assert_eq!(one(&mut c, GpuKind::Nvidia, 95.0, 3.0).level, Level::Red);
    }

    #[test]
    fn nvidia_leaves_five_points_lower_after_the_dwell() {
        let mut c = classifier();
        one(&mut c, GpuKind::Nvidia, 96.0, 0.0);
        // 91 %: under red's enter (95) but not under its exit (90): red however long.
        assert_eq!(one(&mut c, GpuKind::Nvidia, 91.0, 100.0).level, Level::Red);
        assert_eq!(one(&mut c, GpuKind::Nvidia, 89.0, 101.0).level, Level::Red);
        assert_eq!(
            one(&mut c, GpuKind::Nvidia, 89.0, 110.9).level,
            Level::Red,
            "the memory level's 10 s dwell applies"
        );
        assert_eq!(
            one(&mut c, GpuKind::Nvidia, 89.0, 111.0).level,
            Level::Yellow
        );
        // 76 % holds yellow (exit 75).
        assert_eq!(
            one(&mut c, GpuKind::Nvidia, 76.0, 500.0).level,
            Level::Yellow
        );
        one(&mut c, GpuKind::Nvidia, 74.0, 501.0);
        assert_eq!(
            one(&mut c, GpuKind::Nvidia, 74.0, 511.0).level,
            Level::Green
        );
    }

    #[test]
    fn metal_red_is_at_the_recommended_working_set() {
        let mut c = classifier();
        assert_eq!(one(&mut c, GpuKind::Metal, 96.0, 0.0).level, Level::Yellow);
        let v = one(&mut c, GpuKind::Metal, 100.0, 1.0);
        assert_eq!(v.level, Level::Red);
        assert_eq!(
            v.reasons[0].to_string(),
            "gpu memory allocated of recommended working set 100.0% >= 100.0%"
        );
    }

    #[test]
    fn each_device_has_its_own_level() {
        let mut c = classifier();
        let v = c.update(
            &reading(vec![
                device(GpuKind::Nvidia, 0, 10.0),
                device(GpuKind::Nvidia, 1, 97.0),
            ]),
            0.0,
        );
        let levels: Vec<_> = v.iter().map(|g| (g.index, g.verdict.level)).collect();
        assert_eq!(levels, [(0, Level::Green), (1, Level::Red)]);
        assert_eq!(c.level(GpuKind::Nvidia, 1), Some(Level::Red));
        // Device 1 leaves the reading: forgotten, and it starts from unknown when it returns.
        c.update(&reading(vec![device(GpuKind::Nvidia, 0, 10.0)]), 1.0);
        assert_eq!(c.level(GpuKind::Nvidia, 1), None);
        let v = c.update(&reading(vec![device(GpuKind::Nvidia, 1, 10.0)]), 2.0);
        assert_eq!(v[0].verdict.previous, Level::Unknown);
        assert_eq!(v[0].verdict.level, Level::Green);
    }

    #[test]
    fn a_device_without_a_total_is_unknown() {
        let mut c = classifier();
        let mut d = device(GpuKind::Nvidia, 0, 50.0);
        d.total = 0;
        let v = c.update(&reading(vec![d]), 0.0);
        assert_eq!(v[0].verdict.level, Level::Unknown);
        assert!(v[0].verdict.reasons[0]
            .to_string()
            .contains("reports no total memory"));
    }

    #[test]
    fn thresholds_come_from_the_shared_fields() {
        let t = Thresholds {
            gpu_nvidia_yellow_enter: 10.0,
            gpu_nvidia_yellow_exit: 5.0,
            ..Thresholds::default()
        };
        let mut c = GpuClassifier::new(t).unwrap();
        assert_eq!(one(&mut c, GpuKind::Nvidia, 12.0, 0.0).level, Level::Yellow);
        let t = Thresholds {
            gpu_metal_red_exit: 100.5,
            ..Thresholds::default()
        };
        assert!(GpuClassifier::new(t).is_err());
    }
}
