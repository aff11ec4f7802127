//! Python numbers into the Rust seconds, sizes, sides and counts the core takes: the one place a
//! caller's number is checked. A value that is not a number of the right kind (a `bool` is not a
//! number here, a `float` is not a count) is a `TypeError`; a number outside the accepted range
//! (NaN, infinities, negatives, ints too large for any Rust type) is a `ValueError`. Both name
//! the parameter, and the `ValueError` says the range, so no caller's number ever reaches a Rust
//! conversion that could panic or wrap.

use std::path::PathBuf;

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyString};

pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "<unknown>".to_owned())
}

/// An integer parameter: a Python `int` or anything with `__index__` (numpy integers), not a bool
/// and not a float, within `min..=max`. Ints beyond `i128` are out of range, never an
/// OverflowError.
pub(crate) fn integer(obj: &Bound<'_, PyAny>, name: &str, min: i128, max: i128) -> PyResult<i128> {
    let not_an_int = || {
        PyTypeError::new_err(format!(
            "{name} must be an int between {min} and {max}, got {}",
            type_name(obj)
        ))
    };
    if obj.is_instance_of::<PyBool>()
        || obj.is_instance_of::<PyFloat>()
        || obj.is_instance_of::<PyString>()
    {
        return Err(not_an_int());
    }
    let index = obj.call_method0("__index__").map_err(|_| not_an_int())?;
    let value = match index.extract::<i128>() {
        Ok(v) => v,
        Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => {
            if index.lt(0)? {
                i128::MIN
            } else {
                i128::MAX
            }
        }
        Err(_) => return Err(not_an_int()),
    };
    if !(min..=max).contains(&value) {
        return Err(PyValueError::new_err(format!(
            "{name} must be between {min} and {max}, got {}",
            index.repr().map(|r| r.to_string()).unwrap_or_default()
        )));
    }
    Ok(value)
}

/// `integer` for a `usize`, `u32` or similar target whose range covers `min..=max`.
pub(crate) fn count<T: TryFrom<i128>>(
    obj: &Bound<'_, PyAny>,
    name: &str,
    min: impl TryInto<i128>,
    max: impl TryInto<i128>,
) -> PyResult<T> {
    let (min, max) = (
        min.try_into().unwrap_or(i128::MIN),
        max.try_into().unwrap_or(i128::MAX),
    );
    let value = integer(obj, name, min, max)?;
    T::try_from(value).map_err(|_| PyValueError::new_err(format!("{name} is out of range")))
}

/// The bounds of a real-valued parameter.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Real {
    pub min: f64,
    /// Whether `min` itself is accepted.
    pub min_inclusive: bool,
    /// `f64::INFINITY` when `math.inf` is an accepted value (no upper bound).
    pub max: f64,
    /// Shown after each bound ("s" for seconds, "%" for percentages).
    pub unit: &'static str,
}

impl Real {
    /// Seconds from `min` (inclusive) to `max`.
    pub const fn seconds(min: f64, max: f64) -> Self {
        Real {
            min,
            min_inclusive: true,
            max,
            unit: " s",
        }
    }

    /// Seconds above zero up to `max`.
    pub const fn positive_seconds(max: f64) -> Self {
        Real {
            min: 0.0,
            min_inclusive: false,
            max,
            unit: " s",
        }
    }

    /// Any finite number.
    pub const FINITE: Real = Real {
        min: f64::MIN,
        min_inclusive: true,
        max: f64::MAX,
        unit: "",
    };

    fn contains(self, v: f64) -> bool {
        let above_min = if self.min_inclusive {
            v >= self.min
        } else {
            v > self.min
        };
        above_min && v <= self.max
    }

    fn describe(self) -> String {
        let bound = |v: f64| {
            if v == f64::INFINITY {
                "math.inf".to_owned()
            } else {
                format!("{v}{}", self.unit)
            }
        };
        if self.min == f64::MIN && self.max == f64::MAX {
            return "a finite number".to_owned();
        }
        let low = if self.min_inclusive { ">=" } else { ">" };
        format!("{low} {} and <= {}", bound(self.min), bound(self.max))
    }
}

/// A real-valued parameter: an `int`, a `float` or anything with `__float__` (numpy floats),
/// not a bool, within `range` (NaN never is; infinity only where the range is unbounded).
pub(crate) fn real(obj: &Bound<'_, PyAny>, name: &str, range: Real) -> PyResult<f64> {
    let not_a_number = || {
        PyTypeError::new_err(format!(
            "{name} must be a number ({}), got {}",
            range.describe(),
            type_name(obj)
        ))
    };
    if obj.is_instance_of::<PyBool>() || obj.is_instance_of::<PyString>() {
        return Err(not_a_number());
    }
    let value = match obj.extract::<f64>() {
        Ok(v) => v,
        // An int beyond f64 (10**400): out of range, with its sign.
        Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => {
            if obj.lt(0)? {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            }
        }
        Err(_) => return Err(not_a_number()),
    };
    if !range.contains(value) {
        return Err(PyValueError::new_err(format!(
            "{name} must be {}, got {}",
            range.describe(),
            obj.repr().map(|r| r.to_string()).unwrap_or_default()
        )));
    }
    Ok(value)
}

/// A text parameter (a name from a fixed set, checked by the caller); `default` when not given.
pub(crate) fn text(obj: Option<&Bound<'_, PyAny>>, name: &str, default: &str) -> PyResult<String> {
    Ok(optional_text(obj, name)?.unwrap_or_else(|| default.to_owned()))
}

/// A text parameter that may be left out (or given as None).
pub(crate) fn optional_text(
    obj: Option<&Bound<'_, PyAny>>,
    name: &str,
) -> PyResult<Option<String>> {
    match obj {
        Some(o) if !o.is_none() => o
            .cast::<PyString>()
            .map_err(|_| {
                PyTypeError::new_err(format!("{name} must be a str, got {}", type_name(o)))
            })
            .and_then(|t| Ok(Some(t.to_str()?.to_owned()))),
        _ => Ok(None),
    }
}

/// A filesystem path parameter (str or os.PathLike); `default` when not given.
pub(crate) fn path(obj: Option<&Bound<'_, PyAny>>, name: &str, default: &str) -> PyResult<PathBuf> {
    match obj {
        None => Ok(PathBuf::from(default)),
        Some(o) => o.extract::<PathBuf>().map_err(|_| {
            PyTypeError::new_err(format!(
                "{name} must be a path (str or os.PathLike), got {}",
                type_name(o)
            ))
        }),
    }
}
