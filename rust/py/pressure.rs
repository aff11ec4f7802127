//! The Python face of `crate::pressure`: `Sample`, `PressureProbe`, `Thresholds`, `Classifier`,
//! `Verdict`, `PressureWatcher`. Argument checks, conversions and GIL release only; the rules
//! live in the core. Probe reads and watcher waits run with the GIL released.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::args::{self, Real};
use super::repr;
use crate::pressure::watch::{Mechanism, Wake, Watcher};
use crate::pressure::{self as core, FieldKind, FieldValue};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Sample>()?;
    m.add_class::<PressureProbe>()?;
    m.add_class::<Thresholds>()?;
    m.add_class::<Classifier>()?;
    m.add_class::<Verdict>()?;
    m.add_class::<PressureWatcher>()?;
    Ok(())
}

/// One reading of the machine's memory signals (bytes as ints, PSI as percent floats, `None`
/// where not read). Build one from values with `Sample(**fields)` / `Sample.from_values(...)`.
#[pyclass(frozen, module = "ironcliw_mem._native")]
pub struct Sample {
    inner: core::Sample,
}

fn sample_from_kwargs(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<core::Sample> {
    let mut s = core::Sample::default();
    let Some(kwargs) = kwargs else {
        return Ok(s);
    };
    for (key, value) in kwargs.iter() {
        let name: String = key.extract()?;
        match name.as_str() {
            "sources" => {
                for source in value.try_iter()? {
                    let source: String = source?.extract()?;
                    let flag = core::Sources::from_name(&source).ok_or_else(|| {
                        let known: Vec<_> = core::Sources::NAMES.iter().map(|(_, n)| *n).collect();
                        PyValueError::new_err(format!(
                            "sources: unknown source '{source}'; known: {}",
                            known.join(", ")
                        ))
                    })?;
                    s.sources.insert(flag);
                }
            }
            "problems" => {
                for p in value.try_iter()? {
                    s.problems.push(p?.extract()?);
                }
            }
            "cgroup_unreadable" => {
                s.cgroup_unreadable = value
                    .cast::<pyo3::types::PyBool>()
                    .map_err(|_| {
                        PyTypeError::new_err(format!(
                            "cgroup_unreadable must be a bool, got {}",
                            args::type_name(&value)
                        ))
                    })?
                    .is_true();
            }
            _ => {
                let kind = core::Sample::FIELDS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, k)| *k)
                    .ok_or_else(|| PyTypeError::new_err(format!("Sample has no field '{name}'")))?;
                let field_value = match kind {
                    _ if value.is_none() => match kind {
                        FieldKind::Integer => FieldValue::Count(None),
                        FieldKind::Percent => FieldValue::Percent(None),
                    },
                    FieldKind::Integer => {
                        FieldValue::Count(Some(args::count(&value, &name, 0, u64::MAX)?))
                    }
                    // NaN is a percentage that was not measured (the classifier skips it).
                    FieldKind::Percent => match value.extract::<f64>() {
                        Ok(v) if v.is_nan() && !value.is_instance_of::<pyo3::types::PyBool>() => {
                            FieldValue::Percent(Some(v))
                        }
                        _ => FieldValue::Percent(Some(args::real(&value, &name, PERCENT)?)),
                    },
                };
                s.set_field(&name, field_value)
                    .map_err(PyValueError::new_err)?;
            }
        }
    }
    Ok(s)
}

const PERCENT: Real = Real {
    min: 0.0,
    min_inclusive: true,
    max: 100.0,
    unit: "%",
};

/// How long a probe may reuse slow-moving cgroup figures: up to a day.
const REFRESH: Real = Real::seconds(0.0, 86_400.0);

/// The PSI trigger window the kernel accepts (psi.rst): 0.5 s to 10 s.
const WINDOW: Real = Real::seconds(0.5, 10.0);

/// The probe's roots: `/proc` and `/sys/fs/cgroup` unless given (fixture trees in tests).
fn roots(
    proc_root: Option<&Bound<'_, PyAny>>,
    cgroup_root: Option<&Bound<'_, PyAny>>,
) -> PyResult<(PathBuf, PathBuf)> {
    Ok((
        args::path(proc_root, "proc_root", "/proc")?,
        args::path(cgroup_root, "cgroup_root", "/sys/fs/cgroup")?,
    ))
}

fn field_to_py(py: Python<'_>, value: FieldValue) -> PyResult<Py<PyAny>> {
    Ok(match value {
        FieldValue::Bytes(v) | FieldValue::Count(v) => v.into_pyobject(py)?.unbind(),
        FieldValue::Percent(v) => v.into_pyobject(py)?.unbind(),
    })
}

#[pymethods]
impl Sample {
    #[new]
    #[pyo3(signature = (**fields))]
    fn new(fields: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Ok(Self {
            inner: sample_from_kwargs(fields)?,
        })
    }

    /// Same as `Sample(**fields)`: every field by name, plus `sources` (names) and `problems`.
    #[staticmethod]
    #[pyo3(signature = (**fields))]
    fn from_values(fields: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Self::new(fields)
    }

    /// The names of the sources this sample was read from.
    #[getter]
    fn sources(&self) -> Vec<&'static str> {
        self.inner.sources.names().collect()
    }

    /// What could not be read, one line each.
    #[getter]
    fn problems(&self) -> Vec<String> {
        self.inner.problems.clone()
    }

    /// True when the process is in a memory cgroup whose limit, or whose usage under a limit,
    /// could not be read: the classifier then never says green.
    #[getter]
    fn cgroup_unreadable(&self) -> bool {
        self.inner.cgroup_unreadable
    }

    /// H = min(system, cgroup) headroom, percent 0-100 (available of total, and the cgroup's
    /// room under its limit); `None` when neither can be computed.
    #[getter]
    fn headroom(&self) -> Option<f64> {
        self.inner.headroom().map(|(h, _)| h)
    }

    /// macOS compressor share, percent 0-100 of xnu's base (active + available + compressed);
    /// `None` when `active` was not read (everywhere but macOS).
    #[getter]
    fn compressor_share(&self) -> Option<f64> {
        self.inner.compressor_share()
    }

    /// Every field that was read (bytes and counts as ints, percentages as floats), plus
    /// `headroom`, `cgroup_unreadable`, `sources` and `problems`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (name, _) in core::Sample::FIELDS {
            if let Some(v) = self.inner.field(name) {
                d.set_item(name, field_to_py(py, v)?)?;
            }
        }
        d.set_item("headroom", self.headroom())?;
        d.set_item("cgroup_unreadable", self.inner.cgroup_unreadable)?;
        d.set_item("sources", self.sources())?;
        d.set_item("problems", self.problems())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let mut parts = Vec::new();
        for (name, _) in core::Sample::FIELDS {
            match self.inner.field(name) {
                Some(FieldValue::Bytes(Some(v)) | FieldValue::Count(Some(v))) => {
                    parts.push(format!("{name}={v}"))
                }
                Some(FieldValue::Percent(Some(v))) => {
                    parts.push(format!("{name}={}", repr::float_literal(v)))
                }
                _ => {}
            }
        }
        if self.inner.cgroup_unreadable {
            parts.push("cgroup_unreadable=True".to_owned());
        }
        parts.push(format!(
            "sources={}",
            repr::str_list_literal(&self.sources())
        ));
        if !self.inner.problems.is_empty() {
            parts.push(format!(
                "problems={}",
                repr::str_list_literal(&self.inner.problems)
            ));
        }
        format!("Sample({})", parts.join(", "))
    }

    /// Physical memory, bytes.
    #[getter]
    fn total(&self) -> Option<u64> {
        self.inner.total
    }

    /// Memory available to start new work without swapping, bytes (Linux `MemAvailable`; macOS free
    /// + inactive pages, as psutil counts them).
    #[getter]
    fn available(&self) -> Option<u64> {
        self.inner.available
    }

    /// Memory in use, bytes (total - available).
    #[getter]
    fn used(&self) -> Option<u64> {
        self.inner.used
    }

    /// Memory in recent use, bytes (macOS `active_count` pages); part of xnu's base for the
    /// compressor share.
    #[getter]
    fn active(&self) -> Option<u64> {
        self.inner.active
    }

    /// Memory that cannot be paged out, bytes (macOS wired pages; None on Linux).
    #[getter]
    fn wired(&self) -> Option<u64> {
        self.inner.wired
    }

    /// Memory held by the compressor, bytes (macOS compressor pages; Linux the zswap pool when the
    /// kernel reports it).
    #[getter]
    fn compressed(&self) -> Option<u64> {
        self.inner.compressed
    }

    /// Swap space, bytes.
    #[getter]
    fn swap_total(&self) -> Option<u64> {
        self.inner.swap_total
    }

    /// Swap in use, bytes.
    #[getter]
    fn swap_used(&self) -> Option<u64> {
        self.inner.swap_used
    }

    /// PSI memory `some` over the last 10 s, percent 0-100 of wall time at least one task stalled
    /// on memory.
    #[getter]
    fn psi_some_avg10(&self) -> Option<f64> {
        self.inner.psi_some_avg10
    }

    /// PSI memory `some` over the last 60 s, percent 0-100.
    #[getter]
    fn psi_some_avg60(&self) -> Option<f64> {
        self.inner.psi_some_avg60
    }

    /// PSI memory `full` over the last 10 s, percent 0-100 of wall time every non-idle task stalled
    /// on memory.
    #[getter]
    fn psi_full_avg10(&self) -> Option<f64> {
        self.inner.psi_full_avg10
    }

    /// PSI memory `full` over the last 60 s, percent 0-100.
    #[getter]
    fn psi_full_avg60(&self) -> Option<f64> {
        self.inner.psi_full_avg60
    }

    /// PSI memory `some` stall time since boot, microseconds (cumulative).
    #[getter]
    fn psi_some_total(&self) -> Option<u64> {
        self.inner.psi_some_total
    }

    /// PSI memory `full` stall time since boot, microseconds (cumulative).
    #[getter]
    fn psi_full_total(&self) -> Option<u64> {
        self.inner.psi_full_total
    }

    /// The memory cgroup's effective limit, bytes (v2: min of `memory.max` and `memory.high`; v1:
    /// min of `memory.limit_in_bytes` and `hierarchical_memory_limit`); None when unlimited.
    #[getter]
    fn cgroup_limit(&self) -> Option<u64> {
        self.inner.cgroup_limit
    }

    /// The cgroup v2 `memory.high` throttling limit, bytes; None when unset.
    #[getter]
    fn cgroup_high(&self) -> Option<u64> {
        self.inner.cgroup_high
    }

    /// The memory cgroup's usage, bytes (page cache included).
    #[getter]
    fn cgroup_usage(&self) -> Option<u64> {
        self.inner.cgroup_usage
    }

    /// The cgroup's usage minus its inactive file cache, bytes: what it cannot give back cheaply.
    #[getter]
    fn cgroup_working_set(&self) -> Option<u64> {
        self.inner.cgroup_working_set
    }

    /// Times the cgroup went over `memory.high` (cumulative count, v2 `memory.events`).
    #[getter]
    fn cgroup_events_high(&self) -> Option<u64> {
        self.inner.cgroup_events_high
    }

    /// Times the cgroup hit its limit (cumulative count; v2 `memory.events` max, v1
    /// `memory.failcnt`).
    #[getter]
    fn cgroup_events_max(&self) -> Option<u64> {
        self.inner.cgroup_events_max
    }

    /// OOM kills in the cgroup (cumulative count; v2 `memory.events` oom_kill, v1
    /// `memory.oom_control`).
    #[getter]
    fn cgroup_events_oom(&self) -> Option<u64> {
        self.inner.cgroup_events_oom
    }

    /// macOS `kern.memorystatus_vm_pressure_level`: 1 normal, 2 warn, 4 critical (a code, not a
    /// unit).
    #[getter]
    fn macos_pressure_level(&self) -> Option<u32> {
        self.inner.macos_pressure_level
    }

    /// macOS `kern.memorystatus_level`: memory the kernel considers available, percent 0-100.
    #[getter]
    fn memorystatus_level(&self) -> Option<u32> {
        self.inner.memorystatus_level
    }

    /// The kernel's page size, bytes.
    #[getter]
    fn page_size(&self) -> Option<u64> {
        self.inner.page_size
    }
}

enum Backend {
    #[cfg(not(target_os = "macos"))]
    Linux(Box<core::linux::LinuxProbe>),
    /// Compiled on Linux too under `check-macos-ffi` (never built there), so the lint sees it.
    #[cfg(any(target_os = "macos", feature = "check-macos-ffi"))]
    #[cfg_attr(not(target_os = "macos"), allow(dead_code))]
    MacOs,
}

impl Backend {
    #[cfg(not(target_os = "macos"))]
    fn native(proc_root: &Path, cgroup_root: &Path, refresh_s: f64) -> (Self, Option<String>) {
        let mut probe = core::linux::LinuxProbe::new(proc_root, cgroup_root);
        probe.set_refresh(std::time::Duration::from_secs_f64(refresh_s));
        let cgroup = probe
            .cgroup()
            .map(|(v, dir)| format!("v{v}:{}", dir.display()));
        (Backend::Linux(Box::new(probe)), cgroup)
    }

    /// No roots and no refresh interval on macOS: sysctl and host_statistics64 are read on every
    /// call, and the kernel itself hands a process family the cached host_statistics64 figures
    /// when it asks more often than a few times a second (xnu osfmk/kern/host.c,
    /// HOST_STATISTICS_MAX_REQUESTS per HOST_STATISTICS_TIME_WINDOW).
    #[cfg(target_os = "macos")]
    fn native(_proc_root: &Path, _cgroup_root: &Path, _refresh_s: f64) -> (Self, Option<String>) {
        (Backend::MacOs, None)
    }

    fn read(&mut self) -> core::Sample {
        match self {
            #[cfg(not(target_os = "macos"))]
            Backend::Linux(probe) => probe.read(),
            #[cfg(any(target_os = "macos", feature = "check-macos-ffi"))]
            Backend::MacOs => core::macos::sample_from_raw(&core::macos::ffi::read_raw()),
        }
    }
}

/// Reads the native signals: on Linux `/proc` and the process's cgroup under the given roots
/// (injectable for tests), on macOS sysctl and host_statistics64 (the roots are ignored).
#[pyclass(frozen, module = "ironcliw_mem._native")]
pub struct PressureProbe {
    backend: Mutex<Backend>,
    cgroup: Option<String>,
    /// What the probe was made with, for its repr.
    proc_root: PathBuf,
    cgroup_root: PathBuf,
    refresh_s: f64,
}

#[pymethods]
impl PressureProbe {
    #[new]
    #[pyo3(
        signature = (proc_root=None, cgroup_root=None, refresh_s=None),
        text_signature = "(proc_root='/proc', cgroup_root='/sys/fs/cgroup', refresh_s=1.0)"
    )]
    fn new(
        py: Python<'_>,
        proc_root: Option<&Bound<'_, PyAny>>,
        cgroup_root: Option<&Bound<'_, PyAny>>,
        refresh_s: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let (proc_root, cgroup_root) = roots(proc_root, cgroup_root)?;
        let refresh_s = match refresh_s {
            None => core::linux::DEFAULT_REFRESH.as_secs_f64(),
            Some(r) => args::real(r, "refresh_s", REFRESH)?,
        };
        let (backend, cgroup) = py.detach(|| Backend::native(&proc_root, &cgroup_root, refresh_s));
        Ok(Self {
            backend: Mutex::new(backend),
            cgroup,
            proc_root,
            cgroup_root,
            refresh_s,
        })
    }

    /// One reading of every signal (GIL released while reading); what could not be read is in
    /// the sample's `problems`, never an exception.
    fn read(&self, py: Python<'_>) -> Sample {
        let inner = py.detach(|| self.backend.lock().read());
        Sample { inner }
    }

    /// The memory cgroup in use, as "v1:/path" or "v2:/path"; `None` when none was found.
    #[getter]
    fn cgroup(&self) -> Option<String> {
        self.cgroup.clone()
    }

    fn __repr__(&self) -> String {
        if cfg!(target_os = "macos") {
            return "<PressureProbe macOS sysctl + host_statistics64>".to_owned();
        }
        format!(
            "<PressureProbe proc_root={} cgroup_root={} refresh_s={} cgroup={}>",
            repr::str_literal(&self.proc_root.to_string_lossy()),
            repr::str_literal(&self.cgroup_root.to_string_lossy()),
            repr::float_literal(self.refresh_s),
            repr::optional(self.cgroup.as_deref(), repr::str_literal)
        )
    }
}

/// Classifier thresholds: every field a keyword of the constructor and an attribute.
///
/// Percentages are 0-100 (PSI stall percent, headroom percent of memory, compressor share percent,
/// GPU memory used percent); `downgrade_dwell` is seconds; the `fallback_*` figures are MB
/// (2**20 bytes) available. Each `*_enter` value starts a level and its `*_exit` value ends it, so
/// a level does not flap around one number. Raises ValueError naming the field for an invalid
/// combination.
#[pyclass(frozen, module = "ironcliw_mem._native")]
#[derive(Clone)]
pub struct Thresholds {
    pub(super) inner: core::Thresholds,
}

#[pymethods]
impl Thresholds {
    #[new]
    #[pyo3(signature = (**kwargs))]
    fn new(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut t = core::Thresholds::default();
        if let Some(kwargs) = kwargs {
            for (key, value) in kwargs.iter() {
                let name: String = key.extract()?;
                let v = args::real(&value, &name, Real::FINITE)
                    .or_else(|e| bad_threshold(&value, &name, e))?;
                if !t.set(&name, v) {
                    let known: Vec<_> = t.fields().iter().map(|(n, _)| *n).collect();
                    return Err(PyTypeError::new_err(format!(
                        "Thresholds got an unexpected keyword '{name}'; known: {}",
                        known.join(", ")
                    )));
                }
            }
        }
        t.validate()
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Self { inner: t })
    }

    /// Every threshold by name, as floats.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (name, value) in self.inner.fields() {
            d.set_item(name, value)?;
        }
        Ok(d)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Thresholds>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }

    fn __repr__(&self) -> String {
        let parts: Vec<_> = self
            .inner
            .fields()
            .iter()
            .map(|(n, v)| format!("{n}={}", repr::float_literal(*v)))
            .collect();
        format!("Thresholds({})", parts.join(", "))
    }

    /// PSI `some` avg10 at or above which the level is at least yellow, percent 0-100.
    #[getter]
    fn yellow_some10_enter(&self) -> f64 {
        self.inner.yellow_some10_enter
    }

    /// PSI `some` avg10 below which yellow may end, percent 0-100.
    #[getter]
    fn yellow_some10_exit(&self) -> f64 {
        self.inner.yellow_some10_exit
    }

    /// Headroom at or below which the level is at least yellow, percent 0-100 of memory.
    #[getter]
    fn yellow_headroom_enter(&self) -> f64 {
        self.inner.yellow_headroom_enter
    }

    /// Headroom above which yellow may end, percent 0-100 of memory.
    #[getter]
    fn yellow_headroom_exit(&self) -> f64 {
        self.inner.yellow_headroom_exit
    }

    /// PSI `full` avg10 at or above which the level is red, percent 0-100.
    #[getter]
    fn red_full10_enter(&self) -> f64 {
        self.inner.red_full10_enter
    }

    /// PSI `full` avg10 below which red may end, percent 0-100.
    #[getter]
    fn red_full10_exit(&self) -> f64 {
        self.inner.red_full10_exit
    }

    /// PSI `some` avg10 at or above which the level is red, percent 0-100.
    #[getter]
    fn red_some10_enter(&self) -> f64 {
        self.inner.red_some10_enter
    }

    /// PSI `some` avg10 below which red may end, percent 0-100.
    #[getter]
    fn red_some10_exit(&self) -> f64 {
        self.inner.red_some10_exit
    }

    /// Headroom at or below which the level is red, percent 0-100 of memory.
    #[getter]
    fn red_headroom_enter(&self) -> f64 {
        self.inner.red_headroom_enter
    }

    /// Headroom above which red may end, percent 0-100 of memory.
    #[getter]
    fn red_headroom_exit(&self) -> f64 {
        self.inner.red_headroom_exit
    }

    /// How long the signals must stay below a level's exit values before it steps down one level,
    /// seconds.
    #[getter]
    fn downgrade_dwell(&self) -> f64 {
        self.inner.downgrade_dwell
    }

    /// macOS compressor share at or above which the level is at least yellow, percent 0-100.
    #[getter]
    fn macos_compressor_warn_enter(&self) -> f64 {
        self.inner.macos_compressor_warn_enter
    }

    /// macOS compressor share below which yellow may end, percent 0-100.
    #[getter]
    fn macos_compressor_warn_exit(&self) -> f64 {
        self.inner.macos_compressor_warn_exit
    }

    /// macOS compressor share at or above which the level is red, percent 0-100.
    #[getter]
    fn macos_compressor_critical_enter(&self) -> f64 {
        self.inner.macos_compressor_critical_enter
    }

    /// macOS compressor share below which red may end, percent 0-100.
    #[getter]
    fn macos_compressor_critical_exit(&self) -> f64 {
        self.inner.macos_compressor_critical_exit
    }

    /// For a psutil sample (no native probe): available memory at or below which the level is
    /// yellow, MB (2**20 bytes).
    #[getter]
    fn fallback_yellow_available_mb(&self) -> f64 {
        self.inner.fallback_yellow_available_mb
    }

    /// For a psutil sample (no native probe): available memory at or below which the level is
    /// red, MB (2**20 bytes).
    #[getter]
    fn fallback_red_available_mb(&self) -> f64 {
        self.inner.fallback_red_available_mb
    }

    /// NVIDIA GPU memory used at or above which that device is yellow, percent 0-100 of its total.
    #[getter]
    fn gpu_nvidia_yellow_enter(&self) -> f64 {
        self.inner.gpu_nvidia_yellow_enter
    }

    /// NVIDIA GPU memory used below which yellow may end, percent 0-100.
    #[getter]
    fn gpu_nvidia_yellow_exit(&self) -> f64 {
        self.inner.gpu_nvidia_yellow_exit
    }

    /// NVIDIA GPU memory used at or above which that device is red, percent 0-100 of its total.
    #[getter]
    fn gpu_nvidia_red_enter(&self) -> f64 {
        self.inner.gpu_nvidia_red_enter
    }

    /// NVIDIA GPU memory used below which red may end, percent 0-100.
    #[getter]
    fn gpu_nvidia_red_exit(&self) -> f64 {
        self.inner.gpu_nvidia_red_exit
    }

    /// Metal GPU allocation at or above which the device is yellow, percent 0-100 of the
    /// recommended working set.
    #[getter]
    fn gpu_metal_yellow_enter(&self) -> f64 {
        self.inner.gpu_metal_yellow_enter
    }

    /// Metal GPU allocation below which yellow may end, percent 0-100.
    #[getter]
    fn gpu_metal_yellow_exit(&self) -> f64 {
        self.inner.gpu_metal_yellow_exit
    }

    /// Metal GPU allocation at or above which the device is red, percent 0-100 of the recommended
    /// working set.
    #[getter]
    fn gpu_metal_red_enter(&self) -> f64 {
        self.inner.gpu_metal_red_enter
    }

    /// Metal GPU allocation below which red may end, percent 0-100.
    #[getter]
    fn gpu_metal_red_exit(&self) -> f64 {
        self.inner.gpu_metal_red_exit
    }
}

/// A threshold that is not finite goes on to `validate`, which names the field and its rule;
/// anything that is not a number at all is the TypeError.
fn bad_threshold(value: &Bound<'_, PyAny>, name: &str, error: PyErr) -> PyResult<f64> {
    if error.is_instance_of::<PyValueError>(value.py()) {
        Err(PyValueError::new_err(format!(
            "{name}: must be a finite number >= 0, got {}",
            value.repr()?
        )))
    } else {
        Err(error)
    }
}

/// The classifier's answer to one sample.
#[pyclass(frozen, get_all, module = "ironcliw_mem._native")]
pub struct Verdict {
    /// The level after this sample: "green", "yellow", "red" or "unknown".
    level: &'static str,
    /// The level before this sample.
    previous: &'static str,
    /// True when `level` differs from `previous`.
    changed: bool,
    /// Why the level is what it is, one line per signal past a threshold (with its value).
    reasons: Vec<String>,
}

#[pymethods]
impl Verdict {
    /// `level`, `previous`, `changed` and `reasons` as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("level", self.level)?;
        d.set_item("previous", self.previous)?;
        d.set_item("changed", self.changed)?;
        d.set_item("reasons", PyList::new(py, &self.reasons)?)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "<Verdict level={} previous={} changed={} reasons={}>",
            repr::str_literal(self.level),
            repr::str_literal(self.previous),
            repr::bool_literal(self.changed),
            repr::str_list_literal(&self.reasons)
        )
    }
}

/// The hysteresis state machine: `update(sample, now)` with `now` in monotonic seconds.
///
/// Upgrades are immediate; a downgrade needs every signal past its exit threshold for
/// `downgrade_dwell` seconds and steps one level. No usable signal is "unknown", never green.
#[pyclass(frozen, module = "ironcliw_mem._native")]
pub struct Classifier {
    inner: Mutex<core::Classifier>,
    thresholds: Thresholds,
}

#[pymethods]
impl Classifier {
    #[new]
    #[pyo3(signature = (thresholds=None))]
    fn new(thresholds: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let inner = match thresholds {
            None => core::Thresholds::default(),
            Some(t) => t
                .cast::<Thresholds>()
                .map_err(|_| {
                    PyTypeError::new_err(format!(
                        "thresholds must be a Thresholds object or None, got {}",
                        args::type_name(t)
                    ))
                })?
                .get()
                .inner
                .clone(),
        };
        let thresholds = Thresholds { inner };
        let inner = core::Classifier::new(thresholds.inner.clone())
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Self {
            inner: Mutex::new(inner),
            thresholds,
        })
    }

    /// Classifies `sample` taken at `now` (monotonic seconds, never going back): upgrades at
    /// once, downgrades one level after `downgrade_dwell` seconds below the exit thresholds.
    fn update(&self, sample: &Sample, now: &Bound<'_, PyAny>) -> PyResult<Verdict> {
        let now = args::real(now, "now", Real::FINITE)?;
        let v = self.inner.lock().update(&sample.inner, now);
        Ok(Verdict {
            level: v.level.name(),
            previous: v.previous.name(),
            changed: v.changed,
            reasons: v.reasons.iter().map(ToString::to_string).collect(),
        })
    }

    /// The current level: "green", "yellow", "red" or "unknown" (before the first sample).
    #[getter]
    fn level(&self) -> &'static str {
        self.inner.lock().level().name()
    }

    /// The thresholds it classifies with (a copy).
    #[getter]
    fn thresholds(&self) -> Thresholds {
        self.thresholds.clone()
    }

    fn __repr__(&self) -> String {
        let defaults = self.thresholds.inner == core::Thresholds::default();
        format!(
            "<Classifier level={} thresholds={}>",
            repr::str_literal(self.level()),
            if defaults { "default" } else { "custom" }
        )
    }
}

/// Blocks (GIL released) until the kernel signals memory pressure or a timeout passes.
///
/// Linux: a PSI trigger on the process's cgroup or the system (`window_s`, 0.5 to 10 seconds,
/// the stall window; it fires at 10 % stall of it), else cgroup v1's memory.pressure_level;
/// macOS: a dispatch memory-pressure source. `mechanism` picks one; without any, `wait` sleeps.
#[pyclass(frozen, module = "ironcliw_mem._native")]
pub struct PressureWatcher {
    watcher: Mutex<Option<Arc<Watcher>>>,
    mechanism: Mechanism,
    detail: String,
}

#[pymethods]
impl PressureWatcher {
    #[new]
    #[pyo3(
        signature = (proc_root=None, cgroup_root=None, window_s=None, mechanism=None),
        text_signature = "(proc_root='/proc', cgroup_root='/sys/fs/cgroup', window_s=2.0, mechanism=None)"
    )]
    fn new(
        py: Python<'_>,
        proc_root: Option<&Bound<'_, PyAny>>,
        cgroup_root: Option<&Bound<'_, PyAny>>,
        window_s: Option<&Bound<'_, PyAny>>,
        mechanism: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let (proc_root, cgroup_root) = roots(proc_root, cgroup_root)?;
        let mechanism = args::optional_text(mechanism, "mechanism")?;
        let mechanism = mechanism.as_deref();
        let window_s = match window_s {
            None => 2.0,
            Some(w) => args::real(w, "window_s", WINDOW)?,
        };
        let prefer = match mechanism {
            None => None,
            Some(name) => Some(Mechanism::from_name(name).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "mechanism must be one of 'psi-trigger', 'cgroup-v1-pressure-level', \
                     'dispatch', 'none', got {name:?}"
                ))
            })?),
        };
        let watcher = py
            .detach(|| Watcher::open(&proc_root, &cgroup_root, window_s, prefer))
            .map_err(|e| PyOSError::new_err(e.to_string()))?;
        Ok(Self {
            mechanism: watcher.mechanism(),
            detail: watcher.detail().to_owned(),
            watcher: Mutex::new(Some(Arc::new(watcher))),
        })
    }

    /// How the kernel signals: "psi-trigger", "cgroup-v1-pressure-level", "dispatch" (macOS)
    /// or "none" (then `wait` only sleeps until its timeout).
    #[getter]
    fn mechanism(&self) -> &'static str {
        self.mechanism.name()
    }

    /// What was set up, or why nothing could be.
    #[getter]
    fn detail(&self) -> String {
        self.detail.clone()
    }

    /// True once `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.watcher.lock().is_none()
    }

    /// Waits up to `timeout_s` seconds (>= 0, or math.inf). True when the kernel signalled
    /// pressure, False on timeout or when `close()` ended the wait. Without a mechanism it sleeps until the timeout. The GIL is released meanwhile.
    fn wait(&self, py: Python<'_>, timeout_s: &Bound<'_, PyAny>) -> PyResult<bool> {
        let timeout_s = args::real(timeout_s, "timeout_s", Real::seconds(0.0, f64::INFINITY))?;
        let watcher = self
            .watcher
            .lock()
            .clone()
            .ok_or_else(|| PyValueError::new_err("wait on a closed PressureWatcher"))?;
        let started = std::time::Instant::now();
        loop {
            let remaining = (timeout_s - started.elapsed().as_secs_f64()).max(0.0);
            match py.detach(|| watcher.wait(remaining)) {
                Ok(Wake::Signalled) => return Ok(true),
                Ok(Wake::Timeout | Wake::Closed) => return Ok(false),
                // A signal whose Python handler raised ends the wait with that exception (Ctrl-C);
                // any other signal (SIGCHLD, a handler that returns) only resumes it.
                Ok(Wake::Interrupted) => {
                    py.check_signals()?;
                    if remaining <= 0.0 {
                        return Ok(false);
                    }
                }
                Err(e) => return Err(PyOSError::new_err(e.to_string())),
            }
        }
    }

    /// Ends any wait in progress (it returns False) and releases the kernel registration once no
    /// wait holds it. Idempotent.
    fn close(&self) {
        if let Some(w) = self.watcher.lock().take() {
            w.close();
        }
    }

    /// The watcher itself; leaving the block closes it.
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the watcher; exceptions propagate.
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close();
        false
    }

    fn __repr__(&self) -> String {
        format!(
            "<PressureWatcher mechanism={} detail={} closed={}>",
            repr::str_literal(self.mechanism.name()),
            repr::str_literal(&self.detail),
            repr::bool_literal(self.closed())
        )
    }
}
