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

    /// H = min(system, cgroup) headroom in percent, `None` when neither can be computed.
    #[getter]
    fn headroom(&self) -> Option<f64> {
        self.inner.headroom().map(|(h, _)| h)
    }

    /// macOS compressor share in percent of xnu's base (active + available + compressed).
    #[getter]
    fn compressor_share(&self) -> Option<f64> {
        self.inner.compressor_share()
    }

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
                Some(FieldValue::Percent(Some(v))) => parts.push(format!("{name}={v}")),
                _ => {}
            }
        }
        parts.push(format!("sources={:?}", self.sources()));
        format!("Sample({})", parts.join(", "))
    }

    #[getter]
    fn total(&self) -> Option<u64> {
        self.inner.total
    }

    #[getter]
    fn available(&self) -> Option<u64> {
        self.inner.available
    }

    #[getter]
    fn used(&self) -> Option<u64> {
        self.inner.used
    }

    #[getter]
    fn active(&self) -> Option<u64> {
        self.inner.active
    }

    #[getter]
    fn wired(&self) -> Option<u64> {
        self.inner.wired
    }

    #[getter]
    fn compressed(&self) -> Option<u64> {
        self.inner.compressed
    }

    #[getter]
    fn swap_total(&self) -> Option<u64> {
        self.inner.swap_total
    }

    #[getter]
    fn swap_used(&self) -> Option<u64> {
        self.inner.swap_used
    }

    #[getter]
    fn psi_some_avg10(&self) -> Option<f64> {
        self.inner.psi_some_avg10
    }

    #[getter]
    fn psi_some_avg60(&self) -> Option<f64> {
        self.inner.psi_some_avg60
    }

    #[getter]
    fn psi_full_avg10(&self) -> Option<f64> {
        self.inner.psi_full_avg10
    }

    #[getter]
    fn psi_full_avg60(&self) -> Option<f64> {
        self.inner.psi_full_avg60
    }

    #[getter]
    fn psi_some_total(&self) -> Option<u64> {
        self.inner.psi_some_total
    }

    #[getter]
    fn psi_full_total(&self) -> Option<u64> {
        self.inner.psi_full_total
    }

    #[getter]
    fn cgroup_limit(&self) -> Option<u64> {
        self.inner.cgroup_limit
    }

    #[getter]
    fn cgroup_high(&self) -> Option<u64> {
        self.inner.cgroup_high
    }

    #[getter]
    fn cgroup_usage(&self) -> Option<u64> {
        self.inner.cgroup_usage
    }

    #[getter]
    fn cgroup_working_set(&self) -> Option<u64> {
        self.inner.cgroup_working_set
    }

    #[getter]
    fn cgroup_events_high(&self) -> Option<u64> {
        self.inner.cgroup_events_high
    }

    #[getter]
    fn cgroup_events_max(&self) -> Option<u64> {
        self.inner.cgroup_events_max
    }

    #[getter]
    fn cgroup_events_oom(&self) -> Option<u64> {
        self.inner.cgroup_events_oom
    }

    #[getter]
    fn macos_pressure_level(&self) -> Option<u32> {
        self.inner.macos_pressure_level
    }

    #[getter]
    fn memorystatus_level(&self) -> Option<u32> {
        self.inner.memorystatus_level
    }

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
        })
    }

    /// One reading of every signal (GIL released while reading).
    fn read(&self, py: Python<'_>) -> Sample {
        let inner = py.detach(|| self.backend.lock().read());
        Sample { inner }
    }

    /// The memory cgroup in use, as "v1:/path" or "v2:/path"; `None` when none was found.
    #[getter]
    fn cgroup(&self) -> Option<String> {
        self.cgroup.clone()
    }
}

/// Classifier thresholds; percentages 0-100, `downgrade_dwell` in seconds, fallbacks in MB.
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

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (name, value) in self.inner.fields() {
            d.set_item(name, value)?;
        }
        Ok(d)
    }

    fn __getattr__(&self, name: &str) -> PyResult<f64> {
        self.inner
            .fields()
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                pyo3::exceptions::PyAttributeError::new_err(format!(
                    "'Thresholds' object has no attribute '{name}'"
                ))
            })
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
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        format!("Thresholds({})", parts.join(", "))
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
    level: &'static str,
    previous: &'static str,
    changed: bool,
    reasons: Vec<String>,
}

#[pymethods]
impl Verdict {
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
            "Verdict(level={:?}, previous={:?}, changed={}, reasons={:?})",
            self.level, self.previous, self.changed, self.reasons
        )
    }
}

/// The hysteresis state machine: `update(sample, now)` with `now` in monotonic seconds.
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

    #[getter]
    fn level(&self) -> &'static str {
        self.inner.lock().level().name()
    }

    #[getter]
    fn thresholds(&self) -> Thresholds {
        self.thresholds.clone()
    }
}

/// Blocks (GIL released) until the kernel signals memory pressure or a timeout passes.
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

    #[getter]
    fn mechanism(&self) -> &'static str {
        self.mechanism.name()
    }

    /// What was set up, or why nothing could be.
    #[getter]
    fn detail(&self) -> String {
        self.detail.clone()
    }

    #[getter]
    fn closed(&self) -> bool {
        self.watcher.lock().is_none()
    }

    /// True when the kernel signalled pressure, False on timeout or when `close()` ended the
    /// wait. Without a mechanism it sleeps until the timeout. The GIL is released meanwhile.
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

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close();
        false
    }

    fn __repr__(&self) -> String {
        format!(
            "PressureWatcher(mechanism={:?}, detail={:?}, closed={})",
            self.mechanism.name(),
            self.detail,
            self.closed()
        )
    }
}
