//! The PyO3 binding layer: argument checks, conversions and GIL handling only. Each submodule
//! wraps one core module and registers its classes and functions here.

use pyo3::prelude::*;

mod args;
mod cache;
mod gpu;
mod imaging;
mod pressure;
mod repr;

#[pymodule(gil_used = false)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("BUILD_FEATURES", build_features())?;
    cache::register(m)?;
    gpu::register(m)?;
    imaging::register(m)?;
    pressure::register(m)?;
    Ok(())
}

/// The optional capabilities compiled into this build, for `ironcliw-mem --version` style reports.
fn build_features() -> Vec<&'static str> {
    let mut features = vec!["cache", "imaging", "jpeg:libjpeg-turbo", "pressure"];
    if cfg!(debug_assertions) {
        features.push("debug");
    }
    features
}
