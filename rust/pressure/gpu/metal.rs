//! The Metal device on macOS: `currentAllocatedSize`, `recommendedMaxWorkingSetSize` and
//! `hasUnifiedMemory` of `MTLCreateSystemDefaultDevice()`.
//!
//! `device_from_raw` (pure, tested everywhere) turns the three answers into a `GpuDevice`; `ffi`
//! is the leaf that asks them through `objc_msgSend`, compiled on macOS and type-checked
//! elsewhere under `--features check-macos-ffi`.

use super::{GpuDevice, GpuKind, GpuReading};

/// What the Metal device answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMetal {
    pub name: String,
    pub current_allocated: u64,
    pub recommended_max_working_set: u64,
    pub unified_memory: bool,
}

/// The reading: one device, or none with the reason. On Metal the allocation is this process's
/// own (a device object belongs to the process), so `used` and `process` are the same figure,
/// and `total` is the working set the system recommends, not the GPU's physical memory.
pub fn device_from_raw(raw: Result<RawMetal, String>) -> GpuReading {
    let raw = match raw {
        Ok(raw) => raw,
        Err(problem) => return GpuReading::unavailable(format!("metal: {problem}")),
    };
    let mut reading = GpuReading::default();
    if raw.recommended_max_working_set == 0 {
        reading
            .problems
            .push("metal: the device recommends no working set size".to_owned());
    }
    reading.devices.push(GpuDevice {
        kind: GpuKind::Metal,
        index: 0,
        name: raw.name,
        total: raw.recommended_max_working_set,
        used: raw.current_allocated,
        free: raw
            .recommended_max_working_set
            .saturating_sub(raw.current_allocated),
        reserved: None,
        process: Some(raw.current_allocated),
        unified_memory: Some(raw.unified_memory),
    });
    reading
}

/// The system's Metal device (macOS).
#[cfg(any(target_os = "macos", feature = "check-macos-ffi"))]
pub struct MetalSource;

#[cfg(any(target_os = "macos", feature = "check-macos-ffi"))]
impl super::GpuSource for MetalSource {
    fn read(&mut self) -> GpuReading {
        device_from_raw(ffi::read_raw())
    }
}

/// The Objective-C calls, kept to what a reading needs: a `msgSend` per property, typed per call.
#[cfg(any(target_os = "macos", feature = "check-macos-ffi"))]
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub mod ffi {
    use std::ffi::{c_char, c_void, CStr};
    use std::sync::OnceLock;

    use super::RawMetal;

    type Id = *mut c_void;
    type Sel = *mut c_void;

    #[cfg_attr(target_os = "macos", link(name = "Metal", kind = "framework"))]
    extern "C" {
        fn MTLCreateSystemDefaultDevice() -> Id;
    }

    #[cfg_attr(target_os = "macos", link(name = "objc"))]
    extern "C" {
        fn sel_registerName(name: *const c_char) -> Sel;
        fn objc_msgSend();
        fn objc_autoreleasePoolPush() -> *mut c_void;
        fn objc_autoreleasePoolPop(pool: *mut c_void);
    }

    /// The device, created once: creating one loads the GPU driver (milliseconds), and it lives
    /// as long as the process (the +1 reference of the Create call is kept on purpose).
    fn device() -> Option<usize> {
        static DEVICE: OnceLock<usize> = OnceLock::new();
        // SAFETY: MTLCreateSystemDefaultDevice has no preconditions; nil means no Metal GPU.
        let d = *DEVICE.get_or_init(|| unsafe { MTLCreateSystemDefaultDevice() } as usize);
        (d != 0).then_some(d)
    }

    fn selector(name: &CStr) -> Sel {
        // SAFETY: a valid C string; selectors are interned for the process lifetime.
        unsafe { sel_registerName(name.as_ptr()) }
    }

    /// `[receiver name]` for a method returning `R` and taking no argument.
    ///
    /// # Safety
    /// `receiver` must be a live object whose method `name` takes no argument and returns `R`.
    unsafe fn send<R>(receiver: Id, name: &CStr) -> R {
        // objc_msgSend must be called through the method's own C type (arm64 passes arguments
        // of variadic and fixed functions differently).
        let f: unsafe extern "C" fn(Id, Sel) -> R =
            std::mem::transmute(objc_msgSend as unsafe extern "C" fn());
        f(receiver, selector(name))
    }

    pub fn read_raw() -> Result<RawMetal, String> {
        let device =
            device().ok_or("MTLCreateSystemDefaultDevice returned nil (no Metal GPU)")? as Id;
        // A reading runs on a plain thread with no autorelease pool: the getters' autoreleased
        // results (the name) are released here rather than leaked once a second.
        // SAFETY: push and pop are paired on this thread around the reads only.
        let pool = unsafe { objc_autoreleasePoolPush() };
        // SAFETY: `device` is a live id<MTLDevice>; each selector is an MTLDevice property of the
        // stated type (NSUInteger = u64 and uint64_t on 64-bit macOS, BOOL = bool on arm64 and a
        // signed char on x86_64: both read as one byte, non-zero true).
        let raw = unsafe {
            let current_allocated: u64 = send(device, c"currentAllocatedSize");
            let recommended_max_working_set: u64 = send(device, c"recommendedMaxWorkingSetSize");
            let unified: u8 = send(device, c"hasUnifiedMemory");
            let name: Id = send(device, c"name");
            let utf8: *const c_char = if name.is_null() {
                std::ptr::null()
            } else {
                send(name, c"UTF8String")
            };
            let name = if utf8.is_null() {
                "Metal GPU".to_owned()
            } else {
                CStr::from_ptr(utf8).to_string_lossy().into_owned()
            };
            RawMetal {
                name,
                current_allocated,
                recommended_max_working_set,
                unified_memory: unified != 0,
            }
        };
        // SAFETY: the pool pushed above; the name was copied out of it.
        unsafe { objc_autoreleasePoolPop(pool) };
        Ok(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn allocation_is_used_and_process_against_the_working_set() {
        // A 16 GB M2: the system recommends ~10.7 GiB for the GPU.
        let reading = device_from_raw(Ok(RawMetal {
            name: "Apple M2".into(),
            current_allocated: 3 * GIB,
            recommended_max_working_set: 10 * GIB + 700 * (1 << 20),
            unified_memory: true,
        }));
        assert!(reading.problems.is_empty());
        let d = &reading.devices[0];
        assert_eq!(
            (d.kind, d.index, d.name.as_str()),
            (GpuKind::Metal, 0, "Apple M2")
        );
        assert_eq!((d.used, d.process), (3 * GIB, Some(3 * GIB)));
        assert_eq!(d.total, 10 * GIB + 700 * (1 << 20));
        assert_eq!(d.free, 7 * GIB + 700 * (1 << 20));
        assert_eq!((d.reserved, d.unified_memory), (None, Some(true)));
    }

    #[test]
    fn over_the_working_set_has_no_negative_free() {
        let reading = device_from_raw(Ok(RawMetal {
            name: "Apple M1".into(),
            current_allocated: 12 * GIB,
            recommended_max_working_set: 10 * GIB,
            unified_memory: true,
        }));
        let d = &reading.devices[0];
        assert_eq!(d.free, 0);
        assert_eq!(d.used_percent(), Some(120.0));
    }

    #[test]
    fn no_device_is_absent_with_the_reason() {
        let reading = device_from_raw(Err("MTLCreateSystemDefaultDevice returned nil".into()));
        assert!(reading.devices.is_empty());
        assert_eq!(
            reading.problems,
            ["metal: MTLCreateSystemDefaultDevice returned nil"]
        );
        let zero = device_from_raw(Ok(RawMetal {
            name: "x".into(),
            current_allocated: 0,
            recommended_max_working_set: 0,
            unified_memory: false,
        }));
        assert_eq!(
            zero.problems,
            ["metal: the device recommends no working set size"]
        );
    }
}
