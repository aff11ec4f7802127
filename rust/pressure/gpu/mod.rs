//! GPU memory: what each GPU holds, read beside the memory probes and classified per device.
//!
//! The readers only read (`nvml`: NVIDIA through the driver's own library, loaded at run time;
//! `metal`: the Metal device on macOS), `level` only decides. No driver or no device is not an
//! error: the reading has no devices and its `problems` say why, never zeros.

pub mod level;
pub mod metal;
pub mod nvml;

use std::time::{Duration, Instant};

pub use level::{GpuClassifier, GpuVerdict};

/// Which API a device was read through; it picks the level rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GpuKind {
    Nvidia,
    Metal,
}

impl GpuKind {
    pub fn name(self) -> &'static str {
        match self {
            GpuKind::Nvidia => "nvidia",
            GpuKind::Metal => "metal",
        }
    }

    pub fn from_name(name: &str) -> Option<GpuKind> {
        match name {
            "nvidia" => Some(GpuKind::Nvidia),
            "metal" => Some(GpuKind::Metal),
            _ => None,
        }
    }
}

/// One GPU's memory, in bytes. Metal: `total` is the recommended working set, `used` and
/// `process` the current allocation of this process's device, `free` what is left of the
/// working set; it has no reserved figure.
#[derive(Clone, Debug, PartialEq)]
pub struct GpuDevice {
    pub kind: GpuKind,
    pub index: u32,
    pub name: String,
    pub total: u64,
    pub used: u64,
    pub free: u64,
    pub reserved: Option<u64>,
    /// This process's bytes on the device; `None` when the driver would not tell.
    pub process: Option<u64>,
    pub unified_memory: Option<bool>,
}

impl GpuDevice {
    /// used / total in percent; `None` for a device that reports no total.
    pub fn used_percent(&self) -> Option<f64> {
        (self.total > 0).then(|| 100.0 * self.used as f64 / self.total as f64)
    }
}

/// One reading of every GPU: the devices read, and one line per thing that could not be read.
/// No devices means no GPU part; `problems` then says why.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GpuReading {
    pub devices: Vec<GpuDevice>,
    pub problems: Vec<String>,
}

impl GpuReading {
    pub fn unavailable(problem: String) -> Self {
        Self {
            devices: Vec::new(),
            problems: vec![problem],
        }
    }
}

/// Something that reads the GPUs (the platform's reader, or a fixture).
pub trait GpuSource: Send {
    fn read(&mut self) -> GpuReading;
}

/// The platform's reader behind a refresh interval: a reading is reused for `refresh`, like the
/// other slow signals, so a caller may ask on every memory check.
pub struct GpuProbe {
    source: Box<dyn GpuSource>,
    refresh: Duration,
    last: Option<(Instant, GpuReading)>,
}

impl GpuProbe {
    pub fn new(source: Box<dyn GpuSource>, refresh: Duration) -> Self {
        Self {
            source,
            refresh,
            last: None,
        }
    }

    /// NVML everywhere but macOS, Metal on macOS.
    pub fn system(refresh: Duration) -> Self {
        #[cfg(target_os = "macos")]
        let source: Box<dyn GpuSource> = Box::new(metal::MetalSource);
        #[cfg(not(target_os = "macos"))]
        let source: Box<dyn GpuSource> = Box::new(nvml::NvmlSource::default());
        Self::new(source, refresh)
    }

    pub fn read(&mut self) -> GpuReading {
        self.read_at(Instant::now())
    }

    /// The reading at `now`: the last one while it is younger than the refresh interval.
    pub fn read_at(&mut self, now: Instant) -> GpuReading {
        if let Some((at, reading)) = &self.last {
            if now.saturating_duration_since(*at) < self.refresh {
                return reading.clone();
            }
        }
        let reading = self.source.read();
        self.last = Some((now, reading.clone()));
        reading
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    struct Counting(Arc<AtomicUsize>);

    impl GpuSource for Counting {
        fn read(&mut self) -> GpuReading {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            GpuReading::unavailable(format!("read {n}"))
        }
    }

    #[test]
    fn probe_reads_at_most_once_per_refresh() {
        let reads = Arc::new(AtomicUsize::new(0));
        let mut probe = GpuProbe::new(Box::new(Counting(reads.clone())), Duration::from_secs(2));
        let t0 = Instant::now();
        assert_eq!(probe.read_at(t0).problems, ["read 0"]);
        assert_eq!(
            probe.read_at(t0 + Duration::from_millis(1999)).problems,
            ["read 0"]
        );
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        assert_eq!(
            probe.read_at(t0 + Duration::from_secs(2)).problems,
            ["read 1"]
        );
        let mut every_time = GpuProbe::new(Box::new(Counting(reads.clone())), Duration::ZERO);
        every_time.read_at(t0);
        every_time.read_at(t0);
        assert_eq!(reads.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn used_percent_needs_a_total() {
        let mut d = GpuDevice {
            kind: GpuKind::Nvidia,
            index: 0,
            name: "x".into(),
            total: 200,
            used: 50,
            free: 150,
            reserved: None,
            process: None,
            unified_memory: None,
        };
        assert_eq!(d.used_percent(), Some(25.0));
        d.total = 0;
        assert_eq!(d.used_percent(), None);
    }
}
