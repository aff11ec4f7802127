//! The Python face of `crate::pressure::gpu`: `GpuProbe`, `GpuReading`, `GpuDevice`,
//! `GpuClassifier`, `GpuVerdict`. Conversions and GIL release only; reads run without the GIL.

use std::time::Duration;

use parking_lot::Mutex;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::pressure::Thresholds;
use super::repr;
use crate::pressure::gpu::{self as core, GpuKind};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<GpuDevice>()?;
    m.add_class::<GpuReading>()?;
    m.add_class::<GpuProbe>()?;
    m.add_class::<GpuClassifier>()?;
    m.add_class::<GpuVerdict>()?;
    Ok(())
}

/// One GPU's memory in bytes (Metal: total = recommended working set, used = process =
/// current allocation, no reserved figure).
#[pyclass(frozen, module = "ironcliw_mem._native")]
pub struct GpuDevice {
    inner: core::GpuDevice,
}

#[pymethods]
impl GpuDevice {
    /// "nvidia" or "metal".
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind.name()
    }

    /// The device's index among those of its kind (NVML index; 0 for Metal).
    #[getter]
    fn index(&self) -> u32 {
        self.inner.index
    }

    /// The device's name as the driver reports it.
    #[getter]
    fn name(&self) -> String {
        self.inner.name.clone()
    }

    /// Memory of the device, bytes (Metal: the recommended working set).
    #[getter]
    fn total_bytes(&self) -> u64 {
        self.inner.total
    }

    /// Memory in use, bytes (NVIDIA: every process; Metal: this process's current allocation).
    #[getter]
    fn used_bytes(&self) -> u64 {
        self.inner.used
    }

    /// Memory free, bytes.
    #[getter]
    fn free_bytes(&self) -> u64 {
        self.inner.free
    }

    /// Memory the driver reserves, bytes; None where not reported (Metal, older NVIDIA drivers).
    #[getter]
    fn reserved_bytes(&self) -> Option<u64> {
        self.inner.reserved
    }

    /// This process's memory on the device, bytes; None where not reported.
    #[getter]
    fn process_bytes(&self) -> Option<u64> {
        self.inner.process
    }

    /// True when the GPU shares the system's memory (Apple silicon); None when unknown.
    #[getter]
    fn unified_memory(&self) -> Option<bool> {
        self.inner.unified_memory
    }

    /// used / total, percent 0-100; `None` when the device reports no total.
    #[getter]
    fn used_percent(&self) -> Option<f64> {
        self.inner.used_percent()
    }

    /// The device's figures by name (bytes as ints), as `GpuReading(devices=[...])` takes them.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("kind", self.kind())?;
        d.set_item("index", self.inner.index)?;
        d.set_item("name", &self.inner.name)?;
        d.set_item("total_bytes", self.inner.total)?;
        d.set_item("used_bytes", self.inner.used)?;
        d.set_item("free_bytes", self.inner.free)?;
        d.set_item("reserved_bytes", self.inner.reserved)?;
        d.set_item("process_bytes", self.inner.process)?;
        d.set_item("unified_memory", self.inner.unified_memory)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "<GpuDevice kind={} index={} name={} used_bytes={} total_bytes={}>",
            repr::str_literal(self.kind()),
            self.inner.index,
            repr::str_literal(&self.inner.name),
            self.inner.used,
            self.inner.total
        )
    }
}

/// A device as the dict literal `GpuReading(devices=[...])` takes back.
fn device_literal(d: &core::GpuDevice) -> String {
    let bytes = |v: Option<u64>| repr::optional(v, |b| b.to_string());
    format!(
        "{{'kind': {}, 'index': {}, 'name': {}, 'total_bytes': {}, 'used_bytes': {}, \
         'free_bytes': {}, 'reserved_bytes': {}, 'process_bytes': {}, 'unified_memory': {}}}",
        repr::str_literal(d.kind.name()),
        d.index,
        repr::str_literal(&d.name),
        d.total,
        d.used,
        d.free,
        bytes(d.reserved),
        bytes(d.process),
        repr::optional(d.unified_memory, |u| repr::bool_literal(u).to_owned())
    )
}

const DEVICE_KEYS: &str = "kind, index, name, total_bytes, used_bytes, free_bytes, \
                           reserved_bytes, process_bytes, unified_memory";

fn device_from_dict(d: &Bound<'_, PyAny>) -> PyResult<core::GpuDevice> {
    let d = d.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err(format!(
            "GpuReading devices must be dicts with {DEVICE_KEYS}"
        ))
    })?;
    for key in d.keys() {
        let key: String = key.extract()?;
        if !DEVICE_KEYS.split(", ").any(|k| k == key) {
            return Err(PyTypeError::new_err(format!(
                "GPU device has no field '{key}'; known: {DEVICE_KEYS}"
            )));
        }
    }
    fn get<'py, T: FromPyObjectOwned<'py>>(
        d: &Bound<'py, PyDict>,
        key: &str,
        accepted: &str,
    ) -> PyResult<Option<T>> {
        match d.get_item(key)? {
            None => Ok(None),
            Some(v) if v.is_none() => Ok(None),
            Some(v) => v
                .extract::<T>()
                .map(Some)
                .map_err(|_| PyTypeError::new_err(format!("GPU device {key} must be {accepted}"))),
        }
    }
    let bytes = "an int >= 0 or None";
    let required = |key: &str| -> PyResult<u64> {
        get::<u64>(d, key, bytes)?
            .ok_or_else(|| PyValueError::new_err(format!("GPU device needs {key}")))
    };
    let kind_name: String =
        get(d, "kind", "'nvidia' or 'metal'")?.unwrap_or_else(|| "nvidia".into());
    let kind = GpuKind::from_name(&kind_name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "GPU device kind must be 'nvidia' or 'metal', got {kind_name:?}"
        ))
    })?;
    let total = required("total_bytes")?;
    let used = required("used_bytes")?;
    let index: u32 = get(d, "index", "an int >= 0")?.unwrap_or(0);
    Ok(core::GpuDevice {
        kind,
        index,
        name: get(d, "name", "a str")?.unwrap_or_else(|| format!("GPU {index}")),
        total,
        used,
        free: get(d, "free_bytes", bytes)?.unwrap_or(total.saturating_sub(used)),
        reserved: get(d, "reserved_bytes", bytes)?,
        process: get(d, "process_bytes", bytes)?,
        unified_memory: get(d, "unified_memory", "a bool or None")?,
    })
}

/// One reading of every GPU; `devices` is empty when there is none, and `problems` says why.
/// `GpuReading(devices=[{...}], problems=[...])` builds one from values (fixtures, other readers).
#[pyclass(frozen, module = "ironcliw_mem._native")]
pub struct GpuReading {
    inner: core::GpuReading,
}

#[pymethods]
impl GpuReading {
    #[new]
    #[pyo3(
        signature = (devices=Vec::new(), problems=Vec::new()),
        text_signature = "(devices=(), problems=())"
    )]
    fn new(devices: Vec<Bound<'_, PyAny>>, problems: Vec<String>) -> PyResult<Self> {
        let devices = devices
            .iter()
            .map(device_from_dict)
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Self {
            inner: core::GpuReading { devices, problems },
        })
    }

    /// Every device read, in the driver's order.
    #[getter]
    fn devices(&self) -> Vec<GpuDevice> {
        self.inner
            .devices
            .iter()
            .map(|d| GpuDevice { inner: d.clone() })
            .collect()
    }

    /// What could not be read, one line each (no driver, no device, a failed call).
    #[getter]
    fn problems(&self) -> Vec<String> {
        self.inner.problems.clone()
    }

    /// True when at least one device was read.
    #[getter]
    fn available(&self) -> bool {
        !self.inner.devices.is_empty()
    }

    fn __repr__(&self) -> String {
        let devices: Vec<String> = self.inner.devices.iter().map(device_literal).collect();
        format!(
            "GpuReading(devices=[{}], problems={})",
            devices.join(", "),
            repr::str_list_literal(&self.inner.problems)
        )
    }
}

/// Reads the GPUs (NVML on Linux, Metal on macOS), at most once per `refresh_s` seconds (>= 0):
/// a read within that time returns the previous reading.
#[pyclass(frozen, module = "ironcliw_mem._native")]
pub struct GpuProbe {
    inner: Mutex<core::GpuProbe>,
    refresh_s: f64,
}

#[pymethods]
impl GpuProbe {
    #[new]
    #[pyo3(signature = (refresh_s=1.0))]
    fn new(refresh_s: f64) -> PyResult<Self> {
        if !refresh_s.is_finite() || refresh_s < 0.0 {
            return Err(PyValueError::new_err(format!(
                "refresh_s must be a finite number of seconds >= 0, got {refresh_s}"
            )));
        }
        Ok(Self {
            inner: Mutex::new(core::GpuProbe::system(Duration::from_secs_f64(refresh_s))),
            refresh_s,
        })
    }

    /// One reading (GIL released while reading); within `refresh_s` seconds of the last one,
    /// that reading again. Never raises: what failed is in the reading's `problems`.
    fn read(&self, py: Python<'_>) -> GpuReading {
        let inner = py.detach(|| self.inner.lock().read());
        GpuReading { inner }
    }

    fn __repr__(&self) -> String {
        format!(
            "<GpuProbe refresh_s={}>",
            repr::float_literal(self.refresh_s)
        )
    }
}

/// One device's level change or hold: `kind`, `index`, and the verdict's fields.
#[pyclass(frozen, get_all, module = "ironcliw_mem._native")]
pub struct GpuVerdict {
    /// "nvidia" or "metal".
    kind: &'static str,
    /// The device's index among those of its kind.
    index: u32,
    /// The device's level after this reading: "green", "yellow", "red" or "unknown".
    level: &'static str,
    /// The level before this reading.
    previous: &'static str,
    /// True when `level` differs from `previous`.
    changed: bool,
    /// Why the level is what it is (memory used in percent against the threshold).
    reasons: Vec<String>,
}

#[pymethods]
impl GpuVerdict {
    fn __repr__(&self) -> String {
        format!(
            "<GpuVerdict kind={} index={} level={} previous={} changed={} reasons={}>",
            repr::str_literal(self.kind),
            self.index,
            repr::str_literal(self.level),
            repr::str_literal(self.previous),
            repr::bool_literal(self.changed),
            repr::str_list_literal(&self.reasons)
        )
    }
}

/// Per-device GPU levels with the memory level's hysteresis and dwell (`gpu_*` thresholds).
#[pyclass(frozen, module = "ironcliw_mem._native")]
pub struct GpuClassifier {
    inner: Mutex<core::GpuClassifier>,
    /// Whether it runs on the default thresholds, for its repr.
    default_thresholds: bool,
}

#[pymethods]
impl GpuClassifier {
    #[new]
    #[pyo3(signature = (thresholds=None))]
    fn new(thresholds: Option<PyRef<'_, Thresholds>>) -> PyResult<Self> {
        let t = thresholds.map_or_else(Default::default, |t| t.inner.clone());
        let default_thresholds = t == Default::default();
        let inner =
            core::GpuClassifier::new(t).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Self {
            inner: Mutex::new(inner),
            default_thresholds,
        })
    }

    /// One verdict per device of `reading`, in its order; `now` in monotonic seconds.
    fn update(&self, reading: &GpuReading, now: f64) -> PyResult<Vec<GpuVerdict>> {
        if !now.is_finite() {
            return Err(PyValueError::new_err(format!(
                "now must be finite seconds, got {now}"
            )));
        }
        let verdicts = self.inner.lock().update(&reading.inner, now);
        Ok(verdicts
            .into_iter()
            .map(|g| GpuVerdict {
                kind: g.kind.name(),
                index: g.index,
                level: g.verdict.level.name(),
                previous: g.verdict.previous.name(),
                changed: g.verdict.changed,
                reasons: g.verdict.reasons.iter().map(ToString::to_string).collect(),
            })
            .collect())
    }

    fn __repr__(&self) -> String {
        let thresholds = if self.default_thresholds {
            "default"
        } else {
            "custom"
        };
        format!("<GpuClassifier thresholds={thresholds}>")
    }
}
