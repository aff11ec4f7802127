//! NVIDIA GPUs through NVML, the driver's own management library, loaded at run time.
//!
//! `Nvml` is the seam: the five calls a reading needs. `read_devices` turns their answers into a
//! `GpuReading` and is tested with a fake; `NvmlLibrary` is the thin leaf that `dlopen`s
//! `libnvidia-ml.so.1` (the driver installs it; nothing is linked at build time, so a build and
//! a run without the driver work) and calls it. `NvmlSource` opens the library on first use and
//! again after a failure, at most once per probe refresh.

use std::ffi::{c_char, c_int, c_uint, c_ulonglong, c_void, CStr};
use std::fmt;

use super::{GpuDevice, GpuKind, GpuReading, GpuSource};

/// `nvmlMemory_v2_t` as NVML reports it, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryInfo {
    pub total: u64,
    pub reserved: u64,
    pub free: u64,
    pub used: u64,
}

/// One running compute process: its pid and bytes (`None`: NVML_VALUE_NOT_AVAILABLE, which
/// the driver reports e.g. without the permission to see other processes' use).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessUse {
    pub pid: u32,
    pub used: Option<u64>,
}

/// A failed NVML call: which call and its `nvmlReturn_t`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NvmlError {
    pub call: &'static str,
    pub code: i32,
}

impl NvmlError {
    pub const NOT_SUPPORTED: i32 = 3;
    pub const NO_PERMISSION: i32 = 4;
    pub const INSUFFICIENT_SIZE: i32 = 7;
    pub const DRIVER_NOT_LOADED: i32 = 9;
    pub const LIBRARY_NOT_FOUND: i32 = 12;
    pub const FUNCTION_NOT_FOUND: i32 = 13;
    pub const GPU_IS_LOST: i32 = 15;

    fn meaning(&self) -> &'static str {
        match self.code {
            1 => "NVML not initialised",
            2 => "invalid argument",
            Self::NOT_SUPPORTED => "not supported by this device",
            Self::NO_PERMISSION => "no permission",
            6 => "not found",
            Self::INSUFFICIENT_SIZE => "buffer too small",
            Self::DRIVER_NOT_LOADED => "the NVIDIA kernel driver is not loaded",
            10 => "timeout",
            Self::LIBRARY_NOT_FOUND => "library not found",
            Self::FUNCTION_NOT_FOUND => "function not found in this driver's NVML",
            Self::GPU_IS_LOST => "the GPU has fallen off the bus",
            _ => "NVML error",
        }
    }
}

impl fmt::Display for NvmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (nvmlReturn {})",
            self.call,
            self.meaning(),
            self.code
        )
    }
}

/// The NVML calls a reading needs, by device index.
pub trait Nvml {
    fn device_count(&mut self) -> Result<u32, NvmlError>;
    fn name(&mut self, index: u32) -> Result<String, NvmlError>;
    fn memory(&mut self, index: u32) -> Result<MemoryInfo, NvmlError>;
    fn compute_processes(&mut self, index: u32) -> Result<Vec<ProcessUse>, NvmlError>;
}

/// Every device NVML reports, with `pid`'s own bytes; what fails is a problem, never a zero.
pub fn read_devices(nvml: &mut dyn Nvml, pid: u32) -> GpuReading {
    let mut reading = GpuReading::default();
    let count = match nvml.device_count() {
        Ok(n) => n,
        Err(e) => return GpuReading::unavailable(format!("nvml: {e}")),
    };
    if count == 0 {
        return GpuReading::unavailable("nvml: the driver reports no NVIDIA GPU".to_owned());
    }
    for index in 0..count {
        let memory = match nvml.memory(index) {
            Ok(m) => m,
            Err(e) => {
                reading.problems.push(format!("nvml: GPU {index}: {e}"));
                continue;
            }
        };
        let name = nvml.name(index).unwrap_or_else(|e| {
            reading.problems.push(format!("nvml: GPU {index}: {e}"));
            format!("NVIDIA GPU {index}")
        });
        let process = match nvml.compute_processes(index) {
            Ok(list) => own_bytes(&list, pid).or_else(|| {
                reading.problems.push(format!(
                    "nvml: GPU {index}: the driver does not report pid {pid}'s bytes"
                ));
                None
            }),
            Err(e) => {
                reading.problems.push(format!("nvml: GPU {index}: {e}"));
                None
            }
        };
        reading.devices.push(GpuDevice {
            kind: GpuKind::Nvidia,
            index,
            name,
            total: memory.total,
            used: memory.used,
            free: memory.free,
            reserved: Some(memory.reserved),
            process,
            unified_memory: Some(false),
        });
    }
    reading
}

/// The sum of `pid`'s entries (a process has one per context); 0 when it has none, `None` when
/// one of them has no figure.
fn own_bytes(list: &[ProcessUse], pid: u32) -> Option<u64> {
    list.iter()
        .filter(|p| p.pid == pid)
        .try_fold(0u64, |sum, p| p.used.map(|u| sum.saturating_add(u)))
}

const NVML_SUCCESS: c_int = 0;
/// `NVML_STRUCT_VERSION(Memory, 2)`: sizeof(nvmlMemory_v2_t) | 2 << 24.
const NVML_MEMORY_V2: c_uint = (std::mem::size_of::<RawMemoryV2>() as c_uint) | (2 << 24);
const NVML_VALUE_NOT_AVAILABLE: c_ulonglong = c_ulonglong::MAX;
/// NVML_DEVICE_NAME_V2_BUFFER_SIZE.
const NAME_BUFFER: usize = 96;
const LIBRARY: &CStr = c"libnvidia-ml.so.1";

#[repr(C)]
struct RawMemoryV2 {
    version: c_uint,
    total: c_ulonglong,
    reserved: c_ulonglong,
    free: c_ulonglong,
    used: c_ulonglong,
}

/// `nvmlProcessInfo_t` (v2 layout), what `nvmlDeviceGetComputeRunningProcesses_v3` fills.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct RawProcessInfo {
    pid: c_uint,
    used_gpu_memory: c_ulonglong,
    gpu_instance_id: c_uint,
    compute_instance_id: c_uint,
}

type Device = *mut c_void;

struct Functions {
    shutdown: unsafe extern "C" fn() -> c_int,
    count: unsafe extern "C" fn(*mut c_uint) -> c_int,
    handle: unsafe extern "C" fn(c_uint, *mut Device) -> c_int,
    name: unsafe extern "C" fn(Device, *mut c_char, c_uint) -> c_int,
    memory: unsafe extern "C" fn(Device, *mut RawMemoryV2) -> c_int,
    processes: unsafe extern "C" fn(Device, *mut c_uint, *mut RawProcessInfo) -> c_int,
}

/// The loaded and initialised library, with the device handles asked for once (and each name
/// once: it cannot change while the library is loaded, and one call less keeps a read cheap).
pub struct NvmlLibrary {
    functions: Functions,
    devices: Vec<Result<Device, NvmlError>>,
    names: Vec<Option<String>>,
    processes: Vec<RawProcessInfo>,
}

// SAFETY: NVML is thread-safe; the handles are opaque tokens valid until nvmlShutdown, which
// only `drop` calls, and `&mut self` serialises this object's own buffers.
unsafe impl Send for NvmlLibrary {}

fn check(call: &'static str, code: c_int) -> Result<(), NvmlError> {
    if code == NVML_SUCCESS {
        Ok(())
    } else {
        Err(NvmlError { call, code })
    }
}

impl NvmlLibrary {
    /// Loads `libnvidia-ml.so.1` and initialises NVML; `Err` says why not (no driver, most often).
    pub fn open() -> Result<Self, String> {
        Self::open_path(LIBRARY)
    }

    /// `open` with another library path or name (a stand-in library in the tests).
    pub fn open_path(library: &CStr) -> Result<Self, String> {
        // SAFETY: dlopen with a valid C string; the handle is never closed (NVML keeps threads
        // and atexit handlers that must not outlive its code).
        let lib = unsafe { libc::dlopen(library.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if lib.is_null() {
            return Err(format!("nvml: no NVIDIA driver (dlopen: {})", dl_error()));
        }
        let symbol = |name: &CStr| -> Result<*mut c_void, String> {
            // SAFETY: `lib` is a live handle and `name` a valid C string.
            let f = unsafe { libc::dlsym(lib, name.as_ptr()) };
            if f.is_null() {
                Err(format!(
                    "nvml: {} lacks {} (driver too old?)",
                    library.to_string_lossy(),
                    name.to_string_lossy()
                ))
            } else {
                Ok(f)
            }
        };
        // SAFETY: each symbol is the NVML entry point of that name, whose C signature is the
        // function pointer type it is transmuted to (nvml.h).
        let (init, functions) = unsafe {
            let init: unsafe extern "C" fn() -> c_int =
                std::mem::transmute(symbol(c"nvmlInit_v2")?);
            let functions = Functions {
                shutdown: std::mem::transmute::<*mut c_void, unsafe extern "C" fn() -> c_int>(
                    symbol(c"nvmlShutdown")?,
                ),
                count: std::mem::transmute::<*mut c_void, unsafe extern "C" fn(*mut c_uint) -> c_int>(
                    symbol(c"nvmlDeviceGetCount_v2")?,
                ),
                handle: std::mem::transmute::<
                    *mut c_void,
                    unsafe extern "C" fn(c_uint, *mut Device) -> c_int,
                >(symbol(c"nvmlDeviceGetHandleByIndex_v2")?),
                name: std::mem::transmute::<
                    *mut c_void,
                    unsafe extern "C" fn(Device, *mut c_char, c_uint) -> c_int,
                >(symbol(c"nvmlDeviceGetName")?),
                memory: std::mem::transmute::<
                    *mut c_void,
                    unsafe extern "C" fn(Device, *mut RawMemoryV2) -> c_int,
                >(symbol(c"nvmlDeviceGetMemoryInfo_v2")?),
                processes: std::mem::transmute::<
                    *mut c_void,
                    unsafe extern "C" fn(Device, *mut c_uint, *mut RawProcessInfo) -> c_int,
                >(symbol(c"nvmlDeviceGetComputeRunningProcesses_v3")?),
            };
            (init, functions)
        };
        // SAFETY: nvmlInit_v2 takes no arguments; it is reference-counted by NVML.
        check("nvmlInit_v2", unsafe { init() }).map_err(|e| format!("nvml: {e}"))?;
        let mut library = Self {
            functions,
            devices: Vec::new(),
            names: Vec::new(),
            processes: vec![RawProcessInfo::default(); 16],
        };
        let count = library.device_count().map_err(|e| format!("nvml: {e}"))?;
        library.devices = (0..count)
            .map(|i| {
                let mut device: Device = std::ptr::null_mut();
                // SAFETY: `device` is a valid out-pointer.
                let code = unsafe { (library.functions.handle)(i, &mut device) };
                check("nvmlDeviceGetHandleByIndex_v2", code).map(|()| device)
            })
            .collect();
        library.names = vec![None; count as usize];
        Ok(library)
    }

    fn device(&self, index: u32) -> Result<Device, NvmlError> {
        match self.devices.get(index as usize) {
            Some(d) => d.clone(),
            None => Err(NvmlError {
                call: "nvmlDeviceGetHandleByIndex_v2",
                code: 2,
            }),
        }
    }
}

impl Drop for NvmlLibrary {
    fn drop(&mut self) {
        // SAFETY: balances the nvmlInit_v2 of `open`; no handle is used after this.
        unsafe { (self.functions.shutdown)() };
    }
}

impl Nvml for NvmlLibrary {
    fn device_count(&mut self) -> Result<u32, NvmlError> {
        let mut count: c_uint = 0;
        // SAFETY: `count` is a valid out-pointer.
        check("nvmlDeviceGetCount_v2", unsafe {
            (self.functions.count)(&mut count)
        })?;
        Ok(count)
    }

    fn name(&mut self, index: u32) -> Result<String, NvmlError> {
        if let Some(Some(name)) = self.names.get(index as usize) {
            return Ok(name.clone());
        }
        let device = self.device(index)?;
        let mut buf = [0 as c_char; NAME_BUFFER];
        // SAFETY: `buf` has NAME_BUFFER writable bytes; NVML NUL-terminates within them.
        check("nvmlDeviceGetName", unsafe {
            (self.functions.name)(device, buf.as_mut_ptr(), NAME_BUFFER as c_uint)
        })?;
        buf[NAME_BUFFER - 1] = 0;
        // SAFETY: NUL-terminated above at the latest.
        let name = unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        if let Some(slot) = self.names.get_mut(index as usize) {
            *slot = Some(name.clone());
        }
        Ok(name)
    }

    fn memory(&mut self, index: u32) -> Result<MemoryInfo, NvmlError> {
        let device = self.device(index)?;
        let mut raw = RawMemoryV2 {
            version: NVML_MEMORY_V2,
            total: 0,
            reserved: 0,
            free: 0,
            used: 0,
        };
        // SAFETY: `raw` is an nvmlMemory_v2_t with its version set, as the call requires.
        check("nvmlDeviceGetMemoryInfo_v2", unsafe {
            (self.functions.memory)(device, &mut raw)
        })?;
        Ok(MemoryInfo {
            total: raw.total,
            reserved: raw.reserved,
            free: raw.free,
            used: raw.used,
        })
    }

    fn compute_processes(&mut self, index: u32) -> Result<Vec<ProcessUse>, NvmlError> {
        let device = self.device(index)?;
        // Processes come and go between calls: grow the buffer to what NVML asks for, twice.
        for _ in 0..3 {
            let mut count = self.processes.len() as c_uint;
            // SAFETY: `processes` has `count` writable entries of the v2 layout the _v3 call fills.
            let code = unsafe {
                (self.functions.processes)(device, &mut count, self.processes.as_mut_ptr())
            };
            if code == NvmlError::INSUFFICIENT_SIZE {
                let wanted = (count as usize + 8).max(self.processes.len() * 2);
                self.processes.resize(wanted, RawProcessInfo::default());
                continue;
            }
            check("nvmlDeviceGetComputeRunningProcesses_v3", code)?;
            let filled = (count as usize).min(self.processes.len());
            return Ok(self.processes[..filled]
                .iter()
                .map(|p| ProcessUse {
                    pid: p.pid,
                    used: (p.used_gpu_memory != NVML_VALUE_NOT_AVAILABLE)
                        .then_some(p.used_gpu_memory),
                })
                .collect());
        }
        Err(NvmlError {
            call: "nvmlDeviceGetComputeRunningProcesses_v3",
            code: NvmlError::INSUFFICIENT_SIZE,
        })
    }
}

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string valid until the next dl* call.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        "unknown error".to_owned()
    } else {
        // SAFETY: non-null, NUL-terminated (above).
        unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}

/// The system's NVIDIA GPUs: opens NVML on first read (again after a failure) and keeps it.
#[derive(Default)]
pub struct NvmlSource {
    library: Option<NvmlLibrary>,
}

impl GpuSource for NvmlSource {
    fn read(&mut self) -> GpuReading {
        if self.library.is_none() {
            match NvmlLibrary::open() {
                Ok(l) => self.library = Some(l),
                Err(problem) => return GpuReading::unavailable(problem),
            }
        }
        let library = self.library.as_mut().expect("opened above");
        read_devices(library, std::process::id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    /// A fake NVML: each device's answers, or the error a call returns.
    #[derive(Default)]
    struct FakeNvml {
        count: Option<Result<u32, NvmlError>>,
        memory: Vec<Result<MemoryInfo, NvmlError>>,
        names: Vec<Result<String, NvmlError>>,
        processes: Vec<Result<Vec<ProcessUse>, NvmlError>>,
    }

    impl Nvml for FakeNvml {
        fn device_count(&mut self) -> Result<u32, NvmlError> {
            self.count.clone().unwrap_or(Ok(self.memory.len() as u32))
        }
        fn name(&mut self, index: u32) -> Result<String, NvmlError> {
            self.names[index as usize].clone()
        }
        fn memory(&mut self, index: u32) -> Result<MemoryInfo, NvmlError> {
            self.memory[index as usize].clone()
        }
        fn compute_processes(&mut self, index: u32) -> Result<Vec<ProcessUse>, NvmlError> {
            self.processes[index as usize].clone()
        }
    }

    fn h200_memory(used: u64) -> MemoryInfo {
        let total = 141 * GIB;
        let reserved = GIB / 2;
        MemoryInfo {
            total,
            reserved,
            free: total - reserved - used,
            used,
        }
    }

    #[test]
    fn devices_carry_memory_and_this_process_bytes() {
        let mut nvml = FakeNvml {
            memory: vec![Ok(h200_memory(10 * GIB)), Ok(h200_memory(0))],
            names: vec![Ok("NVIDIA H200".into()), Ok("NVIDIA H200".into())],
            processes: vec![
                Ok(vec![
                    ProcessUse {
                        pid: 42,
                        used: Some(3 * GIB),
                    },
                    ProcessUse {
                        pid: 7,
                        used: Some(7 * GIB),
                    },
                    // A second context of the same process.
                    ProcessUse {
                        pid: 42,
                        used: Some(GIB),
                    },
                ]),
                Ok(vec![]),
            ],
            ..FakeNvml::default()
        };
        let reading = read_devices(&mut nvml, 42);
        assert!(reading.problems.is_empty(), "{:?}", reading.problems);
        let d = &reading.devices[0];
        assert_eq!(
            (d.index, d.name.as_str(), d.kind),
            (0, "NVIDIA H200", GpuKind::Nvidia)
        );
        assert_eq!(
            (d.total, d.used, d.reserved),
            (141 * GIB, 10 * GIB, Some(GIB / 2))
        );
        assert_eq!(d.free, 141 * GIB - GIB / 2 - 10 * GIB);
        assert_eq!(d.process, Some(4 * GIB));
        assert_eq!(
            reading.devices[1].process,
            Some(0),
            "not on that GPU: 0 bytes"
        );
    }

    #[test]
    fn unreadable_process_bytes_are_none_with_a_problem() {
        let mut nvml = FakeNvml {
            memory: vec![Ok(h200_memory(GIB)), Ok(h200_memory(GIB))],
            names: vec![Ok("a".into()), Ok("b".into())],
            processes: vec![
                Ok(vec![ProcessUse {
                    pid: 42,
                    used: None,
                }]),
                Err(NvmlError {
                    call: "nvmlDeviceGetComputeRunningProcesses_v3",
                    code: NvmlError::NO_PERMISSION,
                }),
            ],
            ..FakeNvml::default()
        };
        let reading = read_devices(&mut nvml, 42);
        assert_eq!(reading.devices.len(), 2);
        assert_eq!(reading.devices[0].process, None);
        assert_eq!(reading.devices[1].process, None);
        assert_eq!(
            reading.problems,
            [
                "nvml: GPU 0: the driver does not report pid 42's bytes",
                "nvml: GPU 1: nvmlDeviceGetComputeRunningProcesses_v3: no permission (nvmlReturn 4)"
            ]
        );
    }

    #[test]
    fn no_device_or_a_failing_driver_is_absent_never_zero() {
        let mut none = FakeNvml::default();
        let reading = read_devices(&mut none, 1);
        assert!(reading.devices.is_empty());
        assert_eq!(reading.problems, ["nvml: the driver reports no NVIDIA GPU"]);
        let mut broken = FakeNvml {
            count: Some(Err(NvmlError {
                call: "nvmlDeviceGetCount_v2",
                code: NvmlError::DRIVER_NOT_LOADED,
            })),
            ..FakeNvml::default()
        };
        let reading = read_devices(&mut broken, 1);
        assert!(reading.devices.is_empty());
        assert!(reading.problems[0].contains("kernel driver is not loaded"));
    }

    #[test]
    fn a_lost_gpu_is_left_out_and_the_others_read() {
        let mut nvml = FakeNvml {
            memory: vec![
                Err(NvmlError {
                    call: "nvmlDeviceGetMemoryInfo_v2",
                    code: NvmlError::GPU_IS_LOST,
                }),
                Ok(h200_memory(GIB)),
            ],
            names: vec![
                Ok("a".into()),
                Err(NvmlError {
                    call: "nvmlDeviceGetName",
                    code: 999,
                }),
            ],
            processes: vec![Ok(vec![]), Ok(vec![])],
            ..FakeNvml::default()
        };
        let reading = read_devices(&mut nvml, 1);
        assert_eq!(reading.devices.len(), 1);
        assert_eq!(reading.devices[0].index, 1);
        assert_eq!(reading.devices[0].name, "NVIDIA GPU 1");
        assert_eq!(reading.problems.len(), 2);
        assert!(reading.problems[0].contains("fallen off the bus"));
    }

    #[test]
    fn memory_v2_layout_matches_nvml_h() {
        // nvml.h: an unsigned int version padded to 8, then four unsigned long longs.
        assert_eq!(std::mem::size_of::<RawMemoryV2>(), 40);
        assert_eq!(NVML_MEMORY_V2, 0x0200_0028);
        assert_eq!(std::mem::size_of::<RawProcessInfo>(), 24);
    }

    /// A stand-in `libnvidia-ml` in C (also used by the Python tests), compiled here with the
    /// system's C compiler: it checks the struct version as NVML does and answers from nvml.h's
    /// layouts, so the leaf's signatures, struct layouts and buffer growth go through `dlopen`.
    const FAKE_NVML_C: &str = include_str!("../../../tests/fixtures/fake_nvml.c");

    #[test]
    fn the_leaf_reads_a_stand_in_library_through_dlopen() {
        let dir = std::env::temp_dir().join(format!("ironcliw-fake-nvml-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = dir.join("fake_nvml.c");
        let library = dir.join("libfake-nvml.so");
        std::fs::write(&source, FAKE_NVML_C).unwrap();
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
        let status = std::process::Command::new(&cc)
            .args(["-shared", "-fPIC", "-O1", "-o"])
            .arg(&library)
            .arg(&source)
            .status()
            .unwrap_or_else(|e| panic!("{cc} (the C compiler Rust links with) failed: {e}"));
        assert!(status.success());
        let path = std::ffi::CString::new(library.to_str().unwrap()).unwrap();
        let mut nvml = NvmlLibrary::open_path(&path).unwrap();
        let reading = read_devices(&mut nvml, std::process::id());
        let again = read_devices(&mut nvml, std::process::id());
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(again, reading, "the names are asked once");
        assert!(reading.problems.is_empty(), "{:?}", reading.problems);
        let [d0, d1] = &reading.devices[..] else {
            panic!("{:?}", reading.devices)
        };
        assert_eq!((d0.index, d0.name.as_str()), (0, "Fake GPU 0 / call 1"));
        assert_eq!(
            (d0.total, d0.used, d0.reserved),
            (80 * GIB, 10 * GIB, Some(GIB / 2))
        );
        assert_eq!(d0.free, 80 * GIB - GIB / 2 - 10 * GIB);
        assert_eq!(d0.process, Some(0));
        assert_eq!(
            (d1.name.as_str(), d1.used),
            ("Fake GPU 1 / call 2", 11 * GIB)
        );
        // 20 processes do not fit the first 16-entry buffer: grown, and both own entries summed.
        assert_eq!(d1.process, Some(128 << 20));
        let bad = std::ffi::CString::new("/nonexistent/libnvidia-ml.so.1").unwrap();
        let problem = NvmlLibrary::open_path(&bad).err().unwrap();
        assert!(
            problem.starts_with("nvml: no NVIDIA driver (dlopen: "),
            "{problem}"
        );
    }

    #[test]
    fn without_the_driver_the_reading_says_so() {
        // This machine has no NVIDIA driver; on one with it the library opens instead.
        if let Err(problem) = NvmlLibrary::open() {
            assert!(problem.starts_with("nvml: "), "{problem}");
            let reading = NvmlSource::default().read();
            assert!(reading.devices.is_empty());
            assert_eq!(reading.problems.len(), 1);
        }
    }
}
