//! `ironcliw_mem.ByteCache`: the Python face of `crate::cache::LruTtlCache`.
//!
//! Keys are `str` (their cached Python hash is reused), values are `bytes` objects stored as they
//! are, so a hit hands back the same object without copying the payload. One mutex guards the
//! core; nothing inside it calls Python code: values leaving the cache are collected and released
//! after the lock is dropped, and a user clock is read before the lock is taken.

use std::borrow::Cow;
use std::sync::OnceLock;

use parking_lot::Mutex;
use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyType};

use super::args::{self, Real};
use crate::cache::{
    relative_nanos, EvictionReason, LruTtlCache, Sink, Ttl, Weighted, ENTRY_OVERHEAD,
};
use crate::clock::coarse_monotonic_nanos;
use args::type_name;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ByteCache>()?;
    install_fast_get(&m.py().get_type::<ByteCache>())?;
    m.add("ENTRY_OVERHEAD", ENTRY_OVERHEAD)?;
    Ok(())
}

/// `ByteCache.get(key, default=None, /)` as a plain METH_FASTCALL method.
///
/// A cache lookup is ~25 ns, and PyO3's general argument parser plus trampoline cost about a
/// third of that (measured with callgrind: ~100 of ~320 instructions per miss). `get` takes
/// positional arguments only, like `dict.get`, so it needs none of that machinery.
fn install_fast_get(class: &Bound<'_, PyType>) -> PyResult<()> {
    let def = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: c"get".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionFast: fast_get,
        },
        ml_flags: ffi::METH_FASTCALL,
        ml_doc: c"get(key, default=None, /)\n--\n\nThe stored bytes object for `key`, \
or `default` when it is absent or expired (a miss, never an error)."
            .as_ptr(),
    }));
    // SAFETY: `class` is a live heap type; the method definition is leaked, so it outlives it.
    unsafe {
        let descriptor = ffi::PyDescr_NewMethod(class.as_ptr().cast(), def);
        let descriptor = Bound::from_owned_ptr_or_err(class.py(), descriptor)?;
        class.setattr("get", descriptor)
    }
}

unsafe extern "C" fn fast_get(
    slf: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    let outcome = std::panic::catch_unwind(|| {
        // SAFETY: CPython calls METH_FASTCALL methods on an attached thread, with `slf` an
        // instance of the class (the method descriptor checks it) and `nargs` borrowed args.
        let py = unsafe { Python::assume_attached() };
        if !(1..=2).contains(&nargs) {
            PyTypeError::new_err(format!(
                "ByteCache.get expected 1 or 2 positional arguments (key, default), got {nargs}"
            ))
            .restore(py);
            return std::ptr::null_mut();
        }
        let (cache, key) = unsafe {
            let cache = Borrowed::from_ptr(py, slf).cast_unchecked::<ByteCache>();
            (cache, Borrowed::from_ptr(py, *args))
        };
        match cache.get().lookup(py, &key) {
            Ok(Some(bytes)) => bytes.into_ptr(),
            Ok(None) if nargs == 2 => unsafe { Borrowed::from_ptr(py, *args.add(1)) }
                .to_owned()
                .into_ptr(),
            Ok(None) => py.None().into_ptr(),
            Err(err) => {
                err.restore(py);
                std::ptr::null_mut()
            }
        }
    });
    outcome.unwrap_or_else(|_| {
        // SAFETY: as above; a panic is a bug, reported as an exception instead of unwinding
        // into C.
        let py = unsafe { Python::assume_attached() };
        pyo3::exceptions::PySystemError::new_err("ByteCache.get panicked").restore(py);
        std::ptr::null_mut()
    })
}

struct Key {
    text: Py<PyString>,
    utf8_len: usize,
}

impl Weighted for Key {
    fn weight(&self) -> usize {
        self.utf8_len
    }
}

struct Value {
    bytes: Py<PyBytes>,
    len: usize,
}

impl Weighted for Value {
    fn weight(&self) -> usize {
        self.len
    }
}

/// A lookup key: the `str` object and its hash. Its UTF-8 text is read only when a stored key
/// with the same hash is a different object, so the usual hit costs a pointer comparison.
struct Probe {
    ptr: *mut ffi::PyObject,
    hash: u64,
}

impl Probe {
    fn matches(&self, stored: &Key) -> bool {
        let stored_ptr = stored.text.as_ptr();
        stored_ptr == self.ptr
            || matches!(
                (utf8_of(self.ptr), utf8_of(stored_ptr)),
                (Some(probe), Some(stored_text)) if probe == stored_text
            )
    }
}

/// The UTF-8 bytes CPython keeps for a `str`; computed once and cached by the interpreter.
fn utf8_of<'a>(text: *mut ffi::PyObject) -> Option<&'a [u8]> {
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: `text` is a live exact `str` (checked at insert/lookup) and the thread is attached.
    // The returned buffer lives as long as the string, which outlives every use here.
    unsafe {
        let data = ffi::PyUnicode_AsUTF8AndSize(text, &mut size);
        if data.is_null() {
            // Only lone surrogates fail to encode; `set` refuses such keys, so none is stored.
            ffi::PyErr_Clear();
            return None;
        }
        Some(std::slice::from_raw_parts(data.cast::<u8>(), size as usize))
    }
}

/// The key as an exact `str`: a subclass is copied so that no user-defined `__hash__`, `__eq__`
/// or `__del__` ever runs for a key the cache holds, and its hash matches the plain string's.
#[inline]
fn exact_key<'a, 'py>(key: &'a Bound<'py, PyAny>) -> PyResult<Cow<'a, Bound<'py, PyString>>> {
    if key.is_exact_instance_of::<PyString>() {
        // SAFETY: the exact type was checked on the line above.
        return Ok(Cow::Borrowed(unsafe { key.cast_unchecked::<PyString>() }));
    }
    let text = key.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "ByteCache keys must be str, got {}",
            type_name(key)
        ))
    })?;
    Ok(Cow::Owned(PyString::new(key.py(), text.to_str()?)))
}

impl Probe {
    fn new(text: &Bound<'_, PyString>) -> PyResult<Self> {
        Ok(Probe {
            ptr: text.as_ptr(),
            hash: text.hash()? as u64,
        })
    }
}

/// Accepts `bytes` as is; copies any other buffer (bytearray, memoryview, numpy) into `bytes`.
fn value_from(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Value> {
    let bytes = if value.is_exact_instance_of::<PyBytes>() {
        value.cast::<PyBytes>()?.clone().unbind()
    } else if value.is_instance_of::<PyString>()
        // SAFETY: plain type query on a live object.
        || unsafe { ffi::PyObject_CheckBuffer(value.as_ptr()) } == 0
    {
        return Err(PyTypeError::new_err(format!(
            "ByteCache values must be bytes or a bytes-like buffer (bytearray, memoryview, \
             numpy array), got {}",
            type_name(value)
        )));
    } else {
        // SAFETY: `value` exports a buffer; PyBytes_FromObject copies it (C order) into new bytes.
        let copied =
            unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyBytes_FromObject(value.as_ptr()))? };
        copied.cast_into::<PyBytes>()?.unbind()
    };
    let len = bytes.bind(py).as_bytes().len();
    Ok(Value { bytes, len })
}

const NANOS_PER_SECOND: f64 = 1e9;

/// A TTL in nanoseconds, `None` for `math.inf`. Any positive TTL lives at least a nanosecond, and
/// one beyond u64 nanoseconds (584 years) is as good as forever.
fn ttl_nanos(what: &str, seconds: &Bound<'_, PyAny>) -> PyResult<Option<u64>> {
    let seconds = args::real(seconds, what, Real::positive_seconds(f64::INFINITY))?;
    if seconds.is_infinite() {
        return Ok(None);
    }
    Ok(Some(
        (seconds * NANOS_PER_SECOND).ceil().min(u64::MAX as f64) as u64,
    ))
}

/// The largest budget: what one process could address (Python's own limit on an object's size).
const MAX_BUDGET: usize = isize::MAX as usize;

fn budget(what: &str, value: &Bound<'_, PyAny>) -> PyResult<usize> {
    args::count(value, what, 0, MAX_BUDGET)
}

/// Where the cache reads time from.
enum Clock {
    Monotonic,
    /// A zero-argument callable returning seconds; for tests that step time by hand. Readings
    /// are taken relative to the first one, so any finite value works: taken as they are, u64
    /// nanoseconds would saturate above ~1.8e10 s and every TTL would end at once.
    User {
        clock: Py<PyAny>,
        origin: OnceLock<f64>,
    },
}

type Core = LruTtlCache<Key, Value>;

/// Size-bounded LRU + TTL cache of bytes values with an exact byte budget.
///
/// `bytes` counts each entry as len(key as UTF-8) + len(value) + ENTRY_OVERHEAD and never
/// exceeds `max_bytes` once a call returns.
#[pyclass(frozen, module = "ironcliw_mem._native")]
pub struct ByteCache {
    core: Mutex<Core>,
    clock: Clock,
}

impl ByteCache {
    /// The time for an operation; a user clock is called here, before any lock is taken.
    #[inline]
    fn read_clock(&self, py: Python<'_>) -> PyResult<Option<u64>> {
        match &self.clock {
            Clock::Monotonic => Ok(None),
            Clock::User { clock, origin } => {
                let reading = clock.call0(py)?;
                let seconds = args::real(
                    reading.bind(py),
                    "the value returned by the ByteCache clock",
                    Real::FINITE,
                )?;
                Ok(Some(relative_nanos(
                    seconds,
                    *origin.get_or_init(|| seconds),
                )))
            }
        }
    }

    fn now(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.read_clock(py)?.unwrap_or_else(coarse_monotonic_nanos))
    }

    /// Runs `op` under the lock; whatever it evicted is released after the lock is dropped.
    fn with_core<R>(&self, op: impl FnOnce(&mut Core, &mut Sink<Key, Value>) -> R) -> R {
        let mut sink = Sink::new();
        let result = {
            let mut core = self.core.lock();
            op(&mut core, &mut sink)
        };
        if sink.is_empty() {
            // Nothing to release: skip SmallVec's out-of-line drop on the hot lookup path.
            std::mem::forget(sink);
        } else {
            drop(sink);
        }
        result
    }

    fn lookup(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Option<Py<PyBytes>>> {
        let text = exact_key(key)?;
        let probe = Probe::new(&text)?;
        let fixed_now = self.read_clock(py)?;
        Ok(self.with_core(|core, sink| {
            core.get(
                probe.hash,
                |k| probe.matches(k),
                || fixed_now.unwrap_or_else(coarse_monotonic_nanos),
                sink,
            )
            .map(|v| v.bytes.clone_ref(py))
        }))
    }

    fn take(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Option<Py<PyBytes>>> {
        let text = exact_key(key)?;
        let probe = Probe::new(&text)?;
        let now = self.now(py)?;
        Ok(self.with_core(|core, sink| {
            core.remove(probe.hash, |k| probe.matches(k), now, sink)
                .map(|(_key, value)| value.bytes)
        }))
    }
}

#[pymethods]
impl ByteCache {
    #[new]
    #[pyo3(signature = (max_bytes, default_ttl=None, *, clock=None))]
    fn new(
        max_bytes: &Bound<'_, PyAny>,
        default_ttl: Option<&Bound<'_, PyAny>>,
        clock: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let max_bytes = budget("max_bytes", max_bytes)?;
        let default_ttl = match default_ttl {
            None => None,
            Some(seconds) => ttl_nanos("default_ttl", seconds)?,
        };
        let clock = match clock {
            None => Clock::Monotonic,
            Some(clock) => Clock::User {
                clock,
                origin: OnceLock::new(),
            },
        };
        Ok(Self {
            core: Mutex::new(LruTtlCache::new(max_bytes, default_ttl)),
            clock,
        })
    }

    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyBytes>> {
        self.lookup(py, key)?
            .ok_or_else(|| PyKeyError::new_err(key.clone().unbind()))
    }

    /// Stores `value` (bytes, or a buffer copied into bytes). Returns False, changing nothing,
    /// when the entry alone is larger than the budget.
    #[pyo3(signature = (key, value, ttl=None))]
    fn set(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        ttl: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let text = exact_key(key)?;
        let probe = Probe::new(&text)?;
        let value = value_from(py, value)?;
        let ttl = match ttl {
            None => Ttl::Default,
            Some(seconds) => match ttl_nanos("ttl", seconds)? {
                None => Ttl::Forever,
                Some(nanos) => Ttl::Nanos(nanos),
            },
        };
        let fixed_now = self.read_clock(py)?;
        let stored_key = Key {
            utf8_len: text.to_str()?.len(),
            text: text.into_owned().unbind(),
        };
        Ok(self.with_core(|core, sink| {
            core.insert(
                probe.hash,
                |k| probe.matches(k),
                stored_key,
                value,
                ttl,
                || fixed_now.unwrap_or_else(coarse_monotonic_nanos),
                sink,
            )
        }))
    }

    fn __setitem__(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        if self.set(py, key, value, None)? {
            Ok(())
        } else {
            Err(PyValueError::new_err(format!(
                "value of {} bytes does not fit in a ByteCache of {} bytes \
                 (each entry also costs its key and {ENTRY_OVERHEAD} bytes of overhead)",
                value.len().unwrap_or(0),
                self.core.lock().max_bytes()
            )))
        }
    }

    /// Removes `key` and returns its value, or `default` when absent or expired.
    #[pyo3(signature = (key, default=None))]
    fn pop(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        Ok(match self.take(py, key)? {
            Some(bytes) => bytes.into_any(),
            None => default.unwrap_or_else(|| py.None()),
        })
    }

    fn __delitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        match self.take(py, key)? {
            Some(_) => Ok(()),
            None => Err(PyKeyError::new_err(key.clone().unbind())),
        }
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let text = exact_key(key)?;
        let probe = Probe::new(&text)?;
        let now = self.now(py)?;
        Ok(self
            .core
            .lock()
            .contains(probe.hash, |k| probe.matches(k), now))
    }

    /// Seconds `key` has left before it expires, None when it never does; a KeyError when
    /// there is no live entry. A peek: recency and hit counts do not change.
    fn remaining_ttl(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Option<f64>> {
        let text = exact_key(key)?;
        let probe = Probe::new(&text)?;
        let now = self.now(py)?;
        let left = self
            .core
            .lock()
            .time_to_live(probe.hash, |k| probe.matches(k), now);
        match left {
            Some(nanos) => Ok(nanos.map(|n| n as f64 / NANOS_PER_SECOND)),
            None => Err(PyKeyError::new_err(key.clone().unbind())),
        }
    }

    /// Entries held in memory, including expired ones not yet swept (see `expire`).
    fn __len__(&self) -> usize {
        self.core.lock().len()
    }

    /// Live keys, least recently used first.
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let now = self.now(py)?;
        let keys: Vec<Py<PyString>> = {
            let core = self.core.lock();
            core.keys(now).map(|k| k.text.clone_ref(py)).collect()
        };
        PyList::new(py, keys)
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.keys(py)?.try_iter().map(|it| it.into_any())
    }

    /// Removes every entry (counted as explicit evictions).
    fn clear(&self) -> usize {
        self.with_core(|core, sink| core.clear(sink))
    }

    /// Releases every expired entry now; returns how many.
    fn expire(&self, py: Python<'_>) -> PyResult<usize> {
        let now = self.now(py)?;
        Ok(self.with_core(|core, sink| core.expire(now, sink)))
    }

    /// Sets a new budget; a smaller one evicts at once (expired entries first, then LRU).
    /// Returns the number of entries evicted.
    fn resize(&self, py: Python<'_>, max_bytes: &Bound<'_, PyAny>) -> PyResult<usize> {
        let max_bytes = budget("max_bytes", max_bytes)?;
        let now = self.now(py)?;
        Ok(self.with_core(|core, sink| core.resize(max_bytes, now, sink)))
    }

    /// Frees entries until `bytes <= target_bytes`, keeping the budget. `reason` is one of
    /// "pressure", "capacity", "explicit", "activity" and picks the counter. Returns entries evicted.
    #[pyo3(
        signature = (target_bytes, reason=None),
        text_signature = "($self, target_bytes, reason='pressure')"
    )]
    fn evict_to(
        &self,
        py: Python<'_>,
        target_bytes: &Bound<'_, PyAny>,
        reason: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        let reason = args::text(reason, "reason", "pressure")?;
        let reason = reason.as_str();
        let target = budget("target_bytes", target_bytes)?;
        let reason = match EvictionReason::parse(reason) {
            Some(EvictionReason::Ttl) | None => {
                return Err(PyValueError::new_err(format!(
                    "reason must be one of 'pressure', 'capacity', 'explicit', 'activity', got {reason:?}"
                )))
            }
            Some(r) => r,
        };
        let now = self.now(py)?;
        Ok(self.with_core(|core, sink| core.evict_to(target, reason, now, sink)))
    }

    #[getter]
    fn max_bytes(&self) -> usize {
        self.core.lock().max_bytes()
    }

    #[getter]
    fn bytes(&self) -> usize {
        self.core.lock().bytes()
    }

    #[getter]
    fn default_ttl(&self) -> Option<f64> {
        self.core
            .lock()
            .default_ttl_nanos()
            .map(|n| n as f64 / NANOS_PER_SECOND)
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.core.lock().stats();
        let dict = PyDict::new(py);
        dict.set_item("hits", stats.hits)?;
        dict.set_item("misses", stats.misses)?;
        dict.set_item("hit_rate", stats.hit_rate())?;
        dict.set_item("inserts", stats.inserts)?;
        dict.set_item("updates", stats.updates)?;
        dict.set_item("evictions_capacity", stats.evictions_capacity)?;
        dict.set_item("evictions_ttl", stats.evictions_ttl)?;
        dict.set_item("evictions_pressure", stats.evictions_pressure)?;
        dict.set_item("evictions_explicit", stats.evictions_explicit)?;
        dict.set_item("evictions_activity", stats.evictions_activity)?;
        dict.set_item("entries", stats.entries)?;
        dict.set_item("bytes", stats.bytes)?;
        dict.set_item("max_bytes", stats.max_bytes)?;
        dict.set_item("entry_overhead", ENTRY_OVERHEAD)?;
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        let stats = self.core.lock().stats();
        format!(
            "ByteCache(entries={}, bytes={}, max_bytes={})",
            stats.entries, stats.bytes, stats.max_bytes
        )
    }
}
