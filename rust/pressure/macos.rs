//! The macOS probe: pure decoders for what the kernel hands back, plus a tiny FFI leaf.
//!
//! Everything except `ffi` compiles and is tested on every platform with synthetic buffers:
//! - `vm_statistics64` rev1 as filled by `host_statistics64(HOST_VM_INFO64)` with count 38
//!   (152 bytes; field order from xnu `osfmk/mach/vm_statistics.h`);
//! - `struct xsw_usage` from `sysctl vm.swapusage` (32 bytes);
//! - the integers of `kern.memorystatus_vm_pressure_level`, `kern.memorystatus_level` and
//!   `hw.memsize`, whose width varies by name (int or uint64), decoded from their byte length.
//!
//! No subprocess is ever spawned (the `memory_pressure` command does not print the level anyway).

use super::{Sample, Sources};

/// `HOST_VM_INFO64_COUNT` for the rev1 structure, in 32-bit words.
pub const HOST_VM_INFO64_COUNT: u32 = 38;
/// Its size in bytes.
pub const VM_STATISTICS64_SIZE: usize = HOST_VM_INFO64_COUNT as usize * 4;
/// `struct xsw_usage`: total, avail, used (u64), pagesize (u32), encrypted (boolean_t).
pub const XSW_USAGE_SIZE: usize = 32;

/// The fields of `struct vm_statistics64` (rev1), counts in pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmStatistics64 {
    pub free_count: u32,
    pub active_count: u32,
    pub inactive_count: u32,
    pub wire_count: u32,
    pub zero_fill_count: u64,
    pub reactivations: u64,
    pub pageins: u64,
    pub pageouts: u64,
    pub faults: u64,
    pub cow_faults: u64,
    pub lookups: u64,
    pub hits: u64,
    pub purges: u64,
    pub purgeable_count: u32,
    pub speculative_count: u32,
    pub decompressions: u64,
    pub compressions: u64,
    pub swapins: u64,
    pub swapouts: u64,
    pub compressor_page_count: u32,
    pub throttled_count: u32,
    pub external_page_count: u32,
    pub internal_page_count: u32,
    pub total_uncompressed_pages_in_compressor: u64,
}

/// Reads native-endian integers from a byte buffer in declaration order.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn u32(&mut self) -> u32 {
        let v = u32::from_ne_bytes(
            self.bytes[self.at..self.at + 4]
                .try_into()
                .unwrap_or([0; 4]),
        );
        self.at += 4;
        v
    }

    fn u64(&mut self) -> u64 {
        let v = u64::from_ne_bytes(
            self.bytes[self.at..self.at + 8]
                .try_into()
                .unwrap_or([0; 8]),
        );
        self.at += 8;
        v
    }
}

/// Decodes the 152-byte rev1 buffer; `Err` names the size when it is not 152 bytes.
pub fn decode_vm_statistics64(bytes: &[u8]) -> Result<VmStatistics64, String> {
    if bytes.len() != VM_STATISTICS64_SIZE {
        return Err(format!(
            "vm_statistics64: expected {VM_STATISTICS64_SIZE} bytes, got {}",
            bytes.len()
        ));
    }
    let mut c = Cursor { bytes, at: 0 };
    let v = VmStatistics64 {
        free_count: c.u32(),
        active_count: c.u32(),
        inactive_count: c.u32(),
        wire_count: c.u32(),
        zero_fill_count: c.u64(),
        reactivations: c.u64(),
        pageins: c.u64(),
        pageouts: c.u64(),
        faults: c.u64(),
        cow_faults: c.u64(),
        lookups: c.u64(),
        hits: c.u64(),
        purges: c.u64(),
        purgeable_count: c.u32(),
        speculative_count: c.u32(),
        decompressions: c.u64(),
        compressions: c.u64(),
        swapins: c.u64(),
        swapouts: c.u64(),
        compressor_page_count: c.u32(),
        throttled_count: c.u32(),
        external_page_count: c.u32(),
        internal_page_count: c.u32(),
        total_uncompressed_pages_in_compressor: c.u64(),
    };
    debug_assert_eq!(c.at, VM_STATISTICS64_SIZE);
    Ok(v)
}

/// `struct xsw_usage` from `vm.swapusage`, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwapUsage {
    pub total: u64,
    pub avail: u64,
    pub used: u64,
    pub pagesize: u32,
    pub encrypted: bool,
}

pub fn decode_xsw_usage(bytes: &[u8]) -> Result<SwapUsage, String> {
    if bytes.len() != XSW_USAGE_SIZE {
        return Err(format!(
            "vm.swapusage: expected {XSW_USAGE_SIZE} bytes, got {}",
            bytes.len()
        ));
    }
    let mut c = Cursor { bytes, at: 0 };
    Ok(SwapUsage {
        total: c.u64(),
        avail: c.u64(),
        used: c.u64(),
        pagesize: c.u32(),
        encrypted: c.u32() != 0,
    })
}

/// A sysctl integer: 4 bytes (int) or 8 bytes (int64/uint64), native-endian, negative rejected.
pub fn decode_sysctl_uint(name: &str, bytes: &[u8]) -> Result<u64, String> {
    match bytes.len() {
        4 => {
            let v = i32::from_ne_bytes(bytes.try_into().unwrap_or([0; 4]));
            u64::try_from(v).map_err(|_| format!("{name}: negative value {v}"))
        }
        8 => {
            let v = i64::from_ne_bytes(bytes.try_into().unwrap_or([0; 8]));
            u64::try_from(v).map_err(|_| format!("{name}: negative value {v}"))
        }
        n => Err(format!(
            "{name}: expected a 4- or 8-byte integer, got {n} bytes"
        )),
    }
}

/// The raw results of one round of system calls; each part may have failed with a message.
#[derive(Clone, Debug, Default)]
pub struct RawReadings {
    pub pressure_level: Option<Result<Vec<u8>, String>>,
    pub memorystatus_level: Option<Result<Vec<u8>, String>>,
    pub memsize: Option<Result<Vec<u8>, String>>,
    pub swapusage: Option<Result<Vec<u8>, String>>,
    pub vm_statistics: Option<Result<Vec<u8>, String>>,
    pub page_size: Option<Result<u64, String>>,
}

/// Builds a `Sample` from the raw readings (pure: tested on every platform).
pub fn sample_from_raw(raw: &RawReadings) -> Sample {
    let mut s = Sample::default();
    let mut problems = Vec::new();
    fn take<T>(
        part: &Option<Result<T, String>>,
        what: &str,
        problems: &mut Vec<String>,
    ) -> Option<T>
    where
        T: Clone,
    {
        match part {
            Some(Ok(v)) => Some(v.clone()),
            Some(Err(e)) => {
                problems.push(format!("{what}: {e}"));
                None
            }
            None => {
                problems.push(format!("{what}: not read"));
                None
            }
        }
    }
    let mut decode = |part: &Option<Result<Vec<u8>, String>>, name: &str| {
        take(part, name, &mut problems)
            .map(|bytes| decode_sysctl_uint(name, &bytes))
            .and_then(|r| r.map_err(|e| problems.push(e)).ok())
    };
    if let Some(level) = decode(&raw.pressure_level, "kern.memorystatus_vm_pressure_level") {
        s.macos_pressure_level = Some(u32::try_from(level).unwrap_or(u32::MAX));
        s.sources.insert(Sources::MACOS_PRESSURE_LEVEL);
    }
    if let Some(level) = decode(&raw.memorystatus_level, "kern.memorystatus_level") {
        s.memorystatus_level = Some(u32::try_from(level).unwrap_or(u32::MAX));
        s.sources.insert(Sources::MACOS_MEMORYSTATUS_LEVEL);
    }
    if let Some(total) = decode(&raw.memsize, "hw.memsize") {
        s.total = Some(total);
        s.sources.insert(Sources::MACOS_MEMSIZE);
    }
    if let Some(bytes) = take(&raw.swapusage, "vm.swapusage", &mut problems) {
        match decode_xsw_usage(&bytes) {
            Ok(sw) => {
                s.swap_total = Some(sw.total);
                s.swap_used = Some(sw.used);
                s.sources.insert(Sources::MACOS_SWAPUSAGE);
            }
            Err(e) => problems.push(e),
        }
    }
    let page = take(&raw.page_size, "host_page_size", &mut problems).filter(|&p| p > 0);
    s.page_size = page;
    if let Some(bytes) = take(&raw.vm_statistics, "host_statistics64", &mut problems) {
        match (decode_vm_statistics64(&bytes), page) {
            (Ok(vm), Some(page)) => {
                let pages = |n: u64| n.saturating_mul(page);
                // What can be had without paging: free, inactive, purgeable and speculative pages
                // (the same sum Activity Monitor and Chromium use for "available").
                let available = pages(
                    u64::from(vm.free_count)
                        + u64::from(vm.inactive_count)
                        + u64::from(vm.purgeable_count)
                        + u64::from(vm.speculative_count),
                );
                s.available = Some(match s.total {
                    Some(t) => available.min(t),
                    None => available,
                });
                s.wired = Some(pages(u64::from(vm.wire_count)));
                s.compressed = Some(pages(u64::from(vm.compressor_page_count)));
                s.used = s.total.map(|t| t.saturating_sub(available));
                s.sources.insert(Sources::MACOS_VM_STATISTICS);
            }
            (Err(e), _) => problems.push(e),
            (Ok(_), None) => problems.push("host_statistics64: no page size to scale by".into()),
        }
    }
    s.problems = problems;
    s
}

/// The system calls, macOS only. Each returns raw bytes for the pure decoders above.
///
/// Compiled on macOS; `--features check-macos-ffi` also type-checks it elsewhere with
/// `cargo check` (it declares its own `extern` items so it does not depend on the target's libc
/// bindings), but it can only link on macOS.
#[cfg(any(target_os = "macos", feature = "check-macos-ffi"))]
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub mod ffi {
    use std::ffi::{c_char, c_int, c_uint, c_void, CStr};

    use super::{RawReadings, HOST_VM_INFO64_COUNT, VM_STATISTICS64_SIZE};

    type MachPort = c_uint;
    type KernReturn = c_int;
    const HOST_VM_INFO64: c_int = 4;
    const KERN_SUCCESS: KernReturn = 0;

    extern "C" {
        fn sysctlbyname(
            name: *const c_char,
            oldp: *mut c_void,
            oldlenp: *mut usize,
            newp: *mut c_void,
            newlen: usize,
        ) -> c_int;
        fn mach_host_self() -> MachPort;
        fn host_statistics64(
            host: MachPort,
            flavor: c_int,
            info: *mut c_int,
            count: *mut c_uint,
        ) -> KernReturn;
        fn host_page_size(host: MachPort, size: *mut usize) -> KernReturn;
    }

    /// `sysctlbyname` into a buffer of at most `max` bytes; returns the bytes the kernel wrote.
    pub fn sysctl(name: &CStr, max: usize) -> Result<Vec<u8>, String> {
        let mut buf = vec![0u8; max];
        let mut len = max;
        // SAFETY: `buf` has `len` writable bytes; no new value is set.
        let rc = unsafe {
            sysctlbyname(
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                &mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        buf.truncate(len);
        Ok(buf)
    }

    /// The host port, asked for once: every `mach_host_self()` call adds a user reference to
    /// the send right, so calling it per reading would leak references until they overflow.
    fn host() -> MachPort {
        static HOST: std::sync::OnceLock<MachPort> = std::sync::OnceLock::new();
        // SAFETY: mach_host_self has no preconditions.
        *HOST.get_or_init(|| unsafe { mach_host_self() })
    }

    pub fn read_raw() -> RawReadings {
        let host = host();
        let mut page: usize = 0;
        // SAFETY: `page` is a valid out-pointer.
        let page_size = match unsafe { host_page_size(host, &mut page) } {
            KERN_SUCCESS => Ok(page as u64),
            kr => Err(format!("kern_return {kr}")),
        };
        let mut words = [0 as c_int; HOST_VM_INFO64_COUNT as usize];
        let mut count: c_uint = HOST_VM_INFO64_COUNT;
        // SAFETY: `words` holds `count` 32-bit words, as HOST_VM_INFO64 requires.
        let kr = unsafe { host_statistics64(host, HOST_VM_INFO64, words.as_mut_ptr(), &mut count) };
        let vm_statistics = if kr != KERN_SUCCESS {
            Err(format!("kern_return {kr}"))
        } else if count != HOST_VM_INFO64_COUNT {
            Err(format!("count {count}, expected {HOST_VM_INFO64_COUNT}"))
        } else {
            let mut bytes = Vec::with_capacity(VM_STATISTICS64_SIZE);
            for w in words {
                bytes.extend_from_slice(&w.to_ne_bytes());
            }
            Ok(bytes)
        };
        RawReadings {
            pressure_level: Some(sysctl(c"kern.memorystatus_vm_pressure_level", 8)),
            memorystatus_level: Some(sysctl(c"kern.memorystatus_level", 8)),
            memsize: Some(sysctl(c"hw.memsize", 8)),
            swapusage: Some(sysctl(c"vm.swapusage", super::XSW_USAGE_SIZE)),
            vm_statistics: Some(vm_statistics),
            page_size: Some(page_size),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A synthetic rev1 buffer whose every field holds a distinct value: field i = i + 1.
    pub(crate) fn synthetic_vm_statistics() -> Vec<u8> {
        // true = u64, false = u32, in declaration order.
        let layout = [
            false, false, false, false, true, true, true, true, true, true, true, true, true,
            false, false, true, true, true, true, false, false, false, false, true,
        ];
        let mut bytes = Vec::new();
        for (i, wide) in layout.into_iter().enumerate() {
            let v = i as u64 + 1;
            if wide {
                bytes.extend_from_slice(&v.to_ne_bytes());
            } else {
                bytes.extend_from_slice(&(v as u32).to_ne_bytes());
            }
        }
        bytes
    }

    #[test]
    fn vm_statistics64_field_order() {
        let bytes = synthetic_vm_statistics();
        assert_eq!(bytes.len(), 152);
        let v = decode_vm_statistics64(&bytes).unwrap();
        assert_eq!(v.free_count, 1);
        assert_eq!(v.wire_count, 4);
        assert_eq!(v.zero_fill_count, 5);
        assert_eq!(v.purges, 13);
        assert_eq!(v.purgeable_count, 14);
        assert_eq!(v.speculative_count, 15);
        assert_eq!(v.decompressions, 16);
        assert_eq!(v.swapouts, 19);
        assert_eq!(v.compressor_page_count, 20);
        assert_eq!(v.internal_page_count, 23);
        assert_eq!(v.total_uncompressed_pages_in_compressor, 24);
        assert!(decode_vm_statistics64(&bytes[..151])
            .unwrap_err()
            .contains("152"));
    }

    #[test]
    fn xsw_usage_and_sysctl_integers() {
        let mut b = Vec::new();
        for v in [2u64 << 30, 1 << 30, 1 << 30] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b.extend_from_slice(&16384u32.to_ne_bytes());
        b.extend_from_slice(&1u32.to_ne_bytes());
        let sw = decode_xsw_usage(&b).unwrap();
        assert_eq!(
            (sw.total, sw.used, sw.pagesize, sw.encrypted),
            (2 << 30, 1 << 30, 16384, true)
        );
        assert!(decode_xsw_usage(&b[..16]).is_err());
        assert_eq!(decode_sysctl_uint("x", &2i32.to_ne_bytes()).unwrap(), 2);
        assert_eq!(
            decode_sysctl_uint("x", &(16u64 << 30).to_ne_bytes()).unwrap(),
            16 << 30
        );
        assert!(decode_sysctl_uint("x", &(-1i32).to_ne_bytes())
            .unwrap_err()
            .contains("negative"));
        assert!(decode_sysctl_uint("x", &[1, 2, 3])
            .unwrap_err()
            .contains("3 bytes"));
    }

    #[test]
    fn sample_from_raw_scales_pages_and_reports_failures() {
        let raw = RawReadings {
            pressure_level: Some(Ok(4i32.to_ne_bytes().to_vec())),
            memorystatus_level: Some(Ok(12i32.to_ne_bytes().to_vec())),
            memsize: Some(Ok((16u64 << 30).to_ne_bytes().to_vec())),
            swapusage: Some(Err("permission denied".into())),
            vm_statistics: Some(Ok(synthetic_vm_statistics())),
            page_size: Some(Ok(16384)),
        };
        let s = sample_from_raw(&raw);
        assert_eq!(s.macos_pressure_level, Some(4));
        assert_eq!(s.memorystatus_level, Some(12));
        assert_eq!(s.total, Some(16 << 30));
        // free 1 + inactive 3 + purgeable 14 + speculative 15 pages.
        assert_eq!(s.available, Some(33 * 16384));
        assert_eq!(s.wired, Some(4 * 16384));
        assert_eq!(s.compressed, Some(20 * 16384));
        assert_eq!(s.page_size, Some(16384));
        assert!(s.swap_total.is_none());
        assert_eq!(s.problems, ["vm.swapusage: permission denied"]);
        let names: Vec<_> = s.sources.names().collect();
        assert!(names.contains(&"macos-pressure-level") && names.contains(&"macos-vm-statistics"));
        assert!(!names.contains(&"macos-swapusage"));
    }

    #[test]
    fn nothing_read_gives_an_unknown_level() {
        let s = sample_from_raw(&RawReadings::default());
        assert!(s.sources.is_empty());
        assert_eq!(s.problems.len(), 6);
        let mut c = crate::pressure::Classifier::new(Default::default()).unwrap();
        assert_eq!(c.update(&s, 0.0).level, crate::pressure::Level::Unknown);
    }
}
