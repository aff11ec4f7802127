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

/// xnu's compressor threshold divisors on macOS, tenths (osfmk/vm/vm_compressor.c,
/// `vm_compressor_init`): Macs of 3 GB or less get smaller ones, so pressure starts sooner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompressorDivisors {
    pub minor_compact: u32,
    pub unthrottle: u32,
}

/// `max_mem <= 3 GB` in `vm_compressor_init`.
pub const SMALL_MAC_MEMSIZE: u64 = 3 << 30;

impl CompressorDivisors {
    pub fn for_memsize(memsize: u64) -> Self {
        if memsize <= SMALL_MAC_MEMSIZE {
            CompressorDivisors {
                minor_compact: 11,
                unthrottle: 20,
            }
        } else {
            CompressorDivisors {
                minor_compact: 20,
                unthrottle: 35,
            }
        }
    }

    /// The compressor shares (percent of xnu's `AVAILABLE_MEMORY`, see
    /// `Sample::compressor_share`) at which xnu's pressure level moves, from vm_pageout.c with
    /// N = the non-compressed part and A the whole:
    /// normal->warn when N < 10A/minor; warn->critical when N < 1.2 * 10A/unthrottle;
    /// critical->warn when N > 1.4 * 10A/unthrottle; warn->normal when N > 1.2 * 10A/minor.
    /// Returned as (warn enter, warn exit, critical enter, critical exit). Over 3 GB:
    /// 50, 40, 65.7, 60. At 3 GB or less: 9.1, -, 40, 30, where xnu's warn->normal can never
    /// hold (1.2 * 10/11 > 1): the exit is 0, which a share never goes below either.
    pub fn shares(self) -> (f64, f64, f64, f64) {
        let share =
            |non_compressed_fraction: f64| (100.0 * (1.0 - non_compressed_fraction)).max(0.0);
        let minor = 10.0 / f64::from(self.minor_compact);
        let unthrottle = 10.0 / f64::from(self.unthrottle);
        (
            share(minor),
            share(1.2 * minor),
            share(1.2 * unthrottle),
            share(1.4 * unthrottle),
        )
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
                let pages = |n: u32| u64::from(n).saturating_mul(page);
                // psutil's `available` (psutil/_psosx.py: inactive + free). `free_count` already
                // holds the speculative pages (xnu osfmk/kern/host.c sets it to free +
                // speculative; vm_statistics.h says so), and purgeable pages sit on the active
                // and inactive queues, so adding either again would count pages twice.
                let available = pages(vm.free_count).saturating_add(pages(vm.inactive_count));
                s.available = Some(match s.total {
                    Some(t) => available.min(t),
                    None => available,
                });
                s.active = Some(pages(vm.active_count));
                s.wired = Some(pages(vm.wire_count));
                s.compressed = Some(pages(vm.compressor_page_count));
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

    /// The rev1 buffer host_statistics64 fills for `v`, written field by field in xnu's order
    /// (the inverse of the decoder, so a fixture states its page counts by name).
    pub(crate) fn vm_statistics_buffer(v: &VmStatistics64) -> Vec<u8> {
        let mut b = Vec::with_capacity(VM_STATISTICS64_SIZE);
        for n in [v.free_count, v.active_count, v.inactive_count, v.wire_count] {
            b.extend_from_slice(&n.to_ne_bytes());
        }
        for n in [
            v.zero_fill_count,
            v.reactivations,
            v.pageins,
            v.pageouts,
            v.faults,
            v.cow_faults,
            v.lookups,
            v.hits,
            v.purges,
        ] {
            b.extend_from_slice(&n.to_ne_bytes());
        }
        for n in [v.purgeable_count, v.speculative_count] {
            b.extend_from_slice(&n.to_ne_bytes());
        }
        for n in [v.decompressions, v.compressions, v.swapins, v.swapouts] {
            b.extend_from_slice(&n.to_ne_bytes());
        }
        for n in [
            v.compressor_page_count,
            v.throttled_count,
            v.external_page_count,
            v.internal_page_count,
        ] {
            b.extend_from_slice(&n.to_ne_bytes());
        }
        b.extend_from_slice(&v.total_uncompressed_pages_in_compressor.to_ne_bytes());
        b
    }

    const PAGE: u64 = 16384;
    const GIB_PAGES: u32 = (1 << 30) / PAGE as u32;

    fn raw_for(vm: &VmStatistics64, memsize: u64) -> RawReadings {
        RawReadings {
            memsize: Some(Ok(memsize.to_ne_bytes().to_vec())),
            vm_statistics: Some(Ok(vm_statistics_buffer(vm))),
            page_size: Some(Ok(PAGE)),
            ..RawReadings::default()
        }
    }

    #[test]
    fn available_counts_speculative_and_purgeable_pages_once() {
        // A 16 GB Mac (16 KiB pages) as host_statistics64 reports it: free_count 40000 already
        // holds the 15000 speculative pages (vm_stat prints "Pages free" as 25000), and the
        // 12000 purgeable pages are among the active and inactive ones.
        let vm = VmStatistics64 {
            free_count: 40_000,
            speculative_count: 15_000,
            active_count: 400_000,
            inactive_count: 300_000,
            purgeable_count: 12_000,
            wire_count: 200_000,
            compressor_page_count: 80_000,
            ..VmStatistics64::default()
        };
        let s = sample_from_raw(&raw_for(&vm, 16 << 30));
        // psutil's figure: (inactive + free_count) pages; the old sum gave 367000 pages.
        assert_eq!(s.available, Some(340_000 * PAGE));
        assert_eq!(s.active, Some(400_000 * PAGE));
        assert_eq!(s.used, Some((16 << 30) - 340_000 * PAGE));
    }

    #[test]
    fn compressor_share_is_measured_against_xnus_base() {
        // A healthy 16 GB Mac: active 6 GB, inactive 3, free 1, compressed 5. xnu's base
        // (vm_page.h AVAILABLE_MEMORY) is 15 GB, so the share is 5/15 = 33 %: green, where a
        // base without the active pages read 5/9 = 56 %, yellow.
        let vm = VmStatistics64 {
            active_count: 6 * GIB_PAGES,
            inactive_count: 3 * GIB_PAGES,
            free_count: GIB_PAGES,
            compressor_page_count: 5 * GIB_PAGES,
            wire_count: GIB_PAGES,
            ..VmStatistics64::default()
        };
        let s = sample_from_raw(&raw_for(&vm, 16 << 30));
        let share = s.compressor_share().unwrap();
        assert!((share - 100.0 / 3.0).abs() < 1e-9, "{share}");
        let mut c = crate::pressure::Classifier::new(Default::default()).unwrap();
        assert_eq!(c.update(&s, 0.0).level, crate::pressure::Level::Green);
        // Without the active figure there is no honest share to give.
        let partial = Sample {
            active: None,
            ..s.clone()
        };
        assert_eq!(partial.compressor_share(), None);
    }

    #[test]
    fn xnu_compressor_shares_follow_the_memory_size() {
        let close = |a: f64, b: f64| (a - b).abs() < 0.01;
        let (we, wx, ce, cx) = CompressorDivisors::for_memsize(16 << 30).shares();
        assert!(close(we, 50.0) && close(wx, 40.0) && close(ce, 65.714) && close(cx, 60.0));
        // vm_compressor_init: max_mem <= 3 GB gets divisors 11 and 20.
        let (we, wx, ce, cx) = CompressorDivisors::for_memsize(3 << 30).shares();
        assert!(close(we, 9.091) && wx == 0.0 && close(ce, 40.0) && close(cx, 30.0));
        assert_eq!(
            CompressorDivisors::for_memsize((3 << 30) + 1),
            CompressorDivisors::for_memsize(8 << 30)
        );
    }

    #[test]
    fn a_small_mac_uses_its_own_divisors() {
        // 25 % compressed: green on a 16 GB Mac, yellow on a 2 GB one (9.1 % there), red at
        // 45 % on the small Mac (40 %) but not on the big one (65.7 %).
        let quarter = VmStatistics64 {
            active_count: 2_000,
            inactive_count: 1_000,
            free_count: 1_000,
            compressor_page_count: 1_333,
            ..VmStatistics64::default()
        };
        let level = |vm: &VmStatistics64, memsize: u64| {
            let mut c = crate::pressure::Classifier::new(Default::default()).unwrap();
            c.update(&sample_from_raw(&raw_for(vm, memsize)), 0.0).level
        };
        use crate::pressure::Level;
        assert_eq!(level(&quarter, 16 << 30), Level::Green);
        assert_eq!(level(&quarter, 2 << 30), Level::Yellow);
        let heavy = VmStatistics64 {
            compressor_page_count: 3_300,
            ..quarter
        };
        assert_eq!(level(&heavy, 2 << 30), Level::Red);
        assert_eq!(level(&heavy, 16 << 30), Level::Green);
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
        // free 1 (speculative included) + inactive 3 pages.
        assert_eq!(s.available, Some(4 * 16384));
        assert_eq!(s.active, Some(2 * 16384));
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
