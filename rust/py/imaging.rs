//! `ironcliw_mem.Frame`, `downscale`, `encode_jpeg`, `encode_tiers`, `encode_tiers_batch`: the
//! Python face of `crate::imaging`.
//!
//! Pixels arrive through the buffer protocol (numpy arrays, bytes, bytearray, memoryview, mmap),
//! so a contiguous frame is never copied: the exporter is pinned by the held buffer while the
//! GIL is released for all pixel work. A frame whose pixels are not laid out as rows of packed
//! pixels (a column-sliced or reversed view) is copied once, in C order.

use pyo3::buffer::{PyBuffer, PyUntypedBuffer};
use pyo3::exceptions::{PyMemoryError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple};

use super::args::{self, type_name};
use crate::imaging::{
    self, check_quality, EncodedTier as CoreTier, Filter, FrameRef, ImageError, PixelFormat,
    Subsampling, Tier, TierRequest, DEFAULT_QUALITY, DEFAULT_THUMBNAIL_BOX, MAX_DIMENSION,
};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Frame>()?;
    m.add_class::<EncodedTier>()?;
    m.add_function(wrap_pyfunction!(downscale, m)?)?;
    m.add_function(wrap_pyfunction!(encode_jpeg, m)?)?;
    m.add_function(wrap_pyfunction!(encode_tiers, m)?)?;
    m.add_function(wrap_pyfunction!(encode_tiers_batch, m)?)?;
    m.add_function(wrap_pyfunction!(tier_size, m)?)?;
    m.add_function(wrap_pyfunction!(derive_jpeg, m)?)?;
    m.add_function(wrap_pyfunction!(release_image_buffers, m)?)?;
    register_buffer_cap(m)?;
    m.add(
        "IMAGE_BUFFER_POOL_MAX_BYTES",
        imaging::BUFFER_POOL_MAX_BYTES,
    )?;
    let names = |v: Vec<&'static str>| v;
    m.add(
        "PIXEL_FORMATS",
        names(PixelFormat::ALL.map(PixelFormat::name).to_vec()),
    )?;
    m.add("FILTERS", names(Filter::ALL.map(Filter::name).to_vec()))?;
    m.add(
        "SUBSAMPLINGS",
        names(Subsampling::ALL.map(Subsampling::name).to_vec()),
    )?;
    m.add("TIERS", names(Tier::ALL.map(Tier::name).to_vec()))?;
    m.add("MAX_DIMENSION", MAX_DIMENSION)?;
    Ok(())
}

fn value_error(e: ImageError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn one_of<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> String {
    all.iter()
        .map(|&v| format!("'{}'", name(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The defaults of the text parameters, as Python callers see them.
const DEFAULT_FILTER: &str = "catmull-rom";
const DEFAULT_SUBSAMPLING: &str = "420";

fn parse_format(name: &str) -> PyResult<PixelFormat> {
    PixelFormat::parse(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "pixel_format must be one of {}, got {name:?}",
            one_of(&PixelFormat::ALL, PixelFormat::name)
        ))
    })
}

fn parse_filter(name: &str) -> PyResult<Filter> {
    Filter::parse(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "filter must be one of {} (every source pixel is read), got {name:?}",
            one_of(&Filter::ALL, Filter::name)
        ))
    })
}

fn parse_subsampling(name: &str) -> PyResult<Subsampling> {
    Subsampling::parse(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "subsampling must be one of {}, got {name:?}",
            one_of(&Subsampling::ALL, Subsampling::name)
        ))
    })
}

/// JPEG quality 1-100; `None` is the default.
fn parse_quality(quality: Option<&Bound<'_, PyAny>>) -> PyResult<u8> {
    match quality {
        None => Ok(DEFAULT_QUALITY),
        Some(q) => check_quality(args::integer(q, "quality", 1, 100)? as i64).map_err(value_error),
    }
}

/// A thumbnail box; `None` is the default one.
fn thumbnail_box(value: Option<&Bound<'_, PyAny>>) -> PyResult<(u32, u32)> {
    value.map_or(Ok(DEFAULT_THUMBNAIL_BOX), |v| box_size("thumbnail_size", v))
}

/// A side length given from Python: 1..=MAX_DIMENSION.
fn side(what: &str, value: &Bound<'_, PyAny>) -> PyResult<u32> {
    args::count(value, what, 1, MAX_DIMENSION)
}

/// A side length already in Rust (an array's shape, a checked argument): 1..=MAX_DIMENSION.
fn side_of(what: &str, value: i64) -> PyResult<u32> {
    u32::try_from(value)
        .ok()
        .filter(|v| (1..=MAX_DIMENSION).contains(v))
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "{what} must be between 1 and {MAX_DIMENSION}, got {value}"
            ))
        })
}

/// An optional integer argument of `Frame`, checked at the boundary.
fn frame_int(
    what: &str,
    value: Option<&Bound<'_, PyAny>>,
    min: i128,
    max: i128,
) -> PyResult<Option<i64>> {
    value
        .map(|v| args::integer(v, what, min, max).map(|v| v as i64))
        .transpose()
}

/// A `(width, height)` box given from Python, each side 1..=MAX_DIMENSION.
fn box_size(what: &str, value: &Bound<'_, PyAny>) -> PyResult<(u32, u32)> {
    let sides: Vec<Bound<'_, PyAny>> = if value.is_instance_of::<PyString>() {
        Vec::new()
    } else {
        match value.try_iter() {
            Ok(items) => items.collect::<PyResult<_>>()?,
            Err(_) => Vec::new(),
        }
    };
    match sides.as_slice() {
        [w, h] => Ok((
            side(&format!("{what} width"), w)?,
            side(&format!("{what} height"), h)?,
        )),
        _ => Err(PyTypeError::new_err(format!(
            "{what} must be a (width, height) pair of ints, got {}",
            type_name(value)
        ))),
    }
}

/// Where a frame's bytes live.
enum Pixels {
    /// The exporter's own memory, pinned for as long as the frame lives.
    Borrowed(PyBuffer<u8>),
    /// A C-order copy of a buffer whose rows were not packed pixels.
    Copied(Vec<u8>),
}

/// Pixels to downscale or encode: a numpy array or a raw buffer with its geometry.
///
/// `Frame(array)` takes an (H, W, 3) or (H, W, 4) uint8 array; the pixel format defaults to
/// "BGRA" for 4 channels (what macOS CGImage and mss give) and "RGB" for 3 (what
/// `numpy.asarray(PIL image)` gives). `Frame(data, width=, height=, stride=None,
/// pixel_format="BGRA")` takes a 1-D bytes-like buffer holding at least height x stride bytes
/// (stride defaults to width x bytes per pixel). Contiguous rows are used in place, never copied.
#[pyclass(frozen, module = "ironcliw_mem._native")]
pub struct Frame {
    pixels: Pixels,
    width: u32,
    height: u32,
    stride: usize,
    format: PixelFormat,
}

impl Frame {
    fn view(&self) -> FrameRef<'_> {
        let data: &[u8] = match &self.pixels {
            // SAFETY: the buffer stays exported (and its memory valid) while `self` holds it;
            // `len_bytes` was checked against the geometry when the frame was made. Rows may be
            // written concurrently by Python code, which can tear pixels but not memory.
            Pixels::Borrowed(buf) => unsafe {
                std::slice::from_raw_parts(buf.buf_ptr().cast::<u8>(), borrowed_len(buf))
            },
            Pixels::Copied(v) => v,
        };
        FrameRef::new(data, self.width, self.height, self.stride, self.format)
            .expect("geometry checked when the Frame was made")
    }

    fn from_object(
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        width: Option<i64>,
        height: Option<i64>,
        stride: Option<i64>,
        pixel_format: Option<&str>,
    ) -> PyResult<Self> {
        let untyped = PyUntypedBuffer::get(data).map_err(|_| {
            PyTypeError::new_err(format!(
                "expected a numpy uint8 array of shape (H, W, 3|4) or a bytes-like buffer, got {}",
                type_name(data)
            ))
        })?;
        let format_code = format!("{:?}", untyped.format());
        let buf: PyBuffer<u8> = untyped.into_typed().map_err(|_| {
            let dtype = data
                .getattr("dtype")
                .and_then(|d| d.str().map(|s| s.to_string()))
                .unwrap_or_else(|_| format!("buffer format {format_code}"));
            PyValueError::new_err(format!("expected dtype uint8 pixels, got {dtype}"))
        })?;
        let format = pixel_format.map(parse_format).transpose()?;
        match buf.dimensions() {
            3 => Self::from_array(py, buf, width, height, stride, format),
            1 => Self::from_raw(py, buf, width, height, stride, format),
            n => Err(PyValueError::new_err(format!(
                "expected an array of shape (H, W, 3) or (H, W, 4), or 1-D raw bytes with \
                 width/height, got {n} dimensions with shape {:?}",
                buf.shape()
            ))),
        }
    }

    fn from_array(
        py: Python<'_>,
        buf: PyBuffer<u8>,
        width: Option<i64>,
        height: Option<i64>,
        stride: Option<i64>,
        format: Option<PixelFormat>,
    ) -> PyResult<Self> {
        let (shape, strides) = (buf.shape().to_vec(), buf.strides().to_vec());
        let (h, w, channels) = (shape[0], shape[1], shape[2]);
        if channels != 3 && channels != 4 {
            return Err(PyValueError::new_err(format!(
                "expected shape (H, W, 3) or (H, W, 4), got {:?} ({channels} channels)",
                shape
            )));
        }
        let as_side = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let (w, h) = (
            side_of("frame width", as_side(w))?,
            side_of("frame height", as_side(h))?,
        );
        for (what, given, actual) in [("width", width, w), ("height", height, h)] {
            if given.is_some_and(|g| g != i64::from(actual)) {
                return Err(PyValueError::new_err(format!(
                    "{what}={} contradicts the array shape {:?}; leave it out for arrays",
                    given.unwrap_or_default(),
                    shape
                )));
            }
        }
        let format = format.unwrap_or(if channels == 4 {
            PixelFormat::Bgra
        } else {
            PixelFormat::Rgb
        });
        if format.bytes_per_pixel() != channels {
            return Err(PyValueError::new_err(format!(
                "pixel_format {:?} has {} bytes per pixel but the array has {channels} channels",
                format.name(),
                format.bytes_per_pixel()
            )));
        }
        if stride.is_some() {
            return Err(PyValueError::new_err(
                "stride is taken from the array's strides; pass it only with raw bytes",
            ));
        }
        let row_bytes = w as usize * channels;
        let packed_rows = buf.suboffsets().is_none()
            && strides[2] == 1
            && strides[1] == channels as isize
            && usize::try_from(strides[0]).is_ok_and(|s| s >= row_bytes);
        if packed_rows {
            let stride = strides[0] as usize;
            return Ok(Frame {
                pixels: Pixels::Borrowed(buf),
                width: w,
                height: h,
                stride,
                format,
            });
        }
        let copy = copy_c_order(py, &buf)?;
        Ok(Frame {
            pixels: Pixels::Copied(copy),
            width: w,
            height: h,
            stride: row_bytes,
            format,
        })
    }

    fn from_raw(
        py: Python<'_>,
        buf: PyBuffer<u8>,
        width: Option<i64>,
        height: Option<i64>,
        stride: Option<i64>,
        format: Option<PixelFormat>,
    ) -> PyResult<Self> {
        let (Some(width), Some(height)) = (width, height) else {
            return Err(PyValueError::new_err(
                "raw pixel bytes need width= and height= (and stride=, pixel_format= when \
                 not packed BGRA)",
            ));
        };
        let (w, h) = (side_of("width", width)?, side_of("height", height)?);
        let format = format.unwrap_or(PixelFormat::Bgra);
        let row_bytes = w as usize * format.bytes_per_pixel();
        let stride = match stride {
            None => row_bytes,
            Some(s) => match usize::try_from(s) {
                Ok(s) if s >= row_bytes => s,
                _ => {
                    return Err(PyValueError::new_err(format!(
                        "stride must be at least width x bytes per pixel = {row_bytes}, got {s}"
                    )))
                }
            },
        };
        let needed = stride.saturating_mul(h as usize);
        let len = buf.item_count();
        if len < needed {
            return Err(PyValueError::new_err(format!(
                "pixel buffer must hold at least height x stride = {h} x {stride} = {needed} \
                 bytes, got {len}"
            )));
        }
        let pixels = if buf.is_c_contiguous() {
            Pixels::Borrowed(buf)
        } else {
            Pixels::Copied(copy_c_order(py, &buf)?)
        };
        Ok(Frame {
            pixels,
            width: w,
            height: h,
            stride,
            format,
        })
    }
}

/// The largest strided frame copied to C order (16384 x 16384 x 4 bytes).
const MAX_STRIDED_COPY_BYTES: usize = 1 << 30;

/// A C-order copy of a buffer with any strides (negative ones included), made with the GIL
/// released. Buffers with suboffsets (PIL-style indirect arrays, never numpy) go through
/// CPython's own copy.
fn copy_c_order(py: Python<'_>, buf: &PyBuffer<u8>) -> PyResult<Vec<u8>> {
    if buf.suboffsets().is_some() {
        return buf.to_vec(py);
    }
    // A broadcast view (strides of 0) can describe gigabytes over a few bytes: refuse copies
    // beyond any real screen (16K x 16K RGBA is 1 GiB) and ask for the rest fallibly, so an
    // impossible one is a MemoryError and not an abort.
    if buf.item_count() > MAX_STRIDED_COPY_BYTES {
        return Err(PyValueError::new_err(format!(
            "a strided frame of {} bytes would have to be copied (at most {MAX_STRIDED_COPY_BYTES}); \
             pass a contiguous array",
            buf.item_count()
        )));
    }
    let mut out = Vec::new();
    out.try_reserve_exact(buf.item_count()).map_err(|_| {
        PyMemoryError::new_err(format!(
            "copying this strided frame needs {} bytes; pass a contiguous array",
            buf.item_count()
        ))
    })?;
    Ok(py.detach(|| {
        // SAFETY: the exporter keeps the memory alive and in place while `buf` is held, and
        // every offset walked is inside the exported array by its shape and strides.
        unsafe {
            copy_strided(
                buf.buf_ptr().cast::<u8>(),
                buf.shape(),
                buf.strides(),
                &mut out,
            )
        };
        out
    }))
}

/// Appends, in C order, the elements of the array at `base` with `shape` and byte `strides`.
///
/// # Safety
/// Every element address `base + sum(i_k * strides[k])` for `i_k < shape[k]` must be readable.
unsafe fn copy_strided(base: *const u8, shape: &[usize], strides: &[isize], out: &mut Vec<u8>) {
    match (shape, strides) {
        ([], _) => out.push(*base),
        ([n], [1]) => out.extend_from_slice(std::slice::from_raw_parts(base, *n)),
        ([n], [step]) => out.extend((0..*n).map(|i| *base.offset(i as isize * step))),
        ([n, rest @ ..], [step, rest_strides @ ..]) => {
            for i in 0..*n {
                copy_strided(base.offset(i as isize * step), rest, rest_strides, out);
            }
        }
        _ => unreachable!("a buffer has one stride per dimension"),
    }
}

/// Bytes reachable from a borrowed buffer's first element.
fn borrowed_len(buf: &PyBuffer<u8>) -> usize {
    if buf.dimensions() == 3 {
        // Rows of packed pixels `strides[0]` apart: the last row ends after its pixels.
        let (shape, strides) = (buf.shape(), buf.strides());
        (shape[0] - 1) * strides[0] as usize + shape[1] * shape[2]
    } else {
        buf.len_bytes()
    }
}

#[pymethods]
impl Frame {
    #[new]
    #[pyo3(signature = (data, *, width=None, height=None, stride=None, pixel_format=None))]
    fn new(
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        width: Option<&Bound<'_, PyAny>>,
        height: Option<&Bound<'_, PyAny>>,
        stride: Option<&Bound<'_, PyAny>>,
        pixel_format: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let pixel_format = args::optional_text(pixel_format, "pixel_format")?;
        let side = i128::from(MAX_DIMENSION);
        let width = frame_int("width", width, 1, side)?;
        let height = frame_int("height", height, 1, side)?;
        let stride = frame_int("stride", stride, 1, isize::MAX as i128)?;
        Self::from_object(py, data, width, height, stride, pixel_format.as_deref())
    }

    /// Width, pixels.
    #[getter]
    fn width(&self) -> u32 {
        self.width
    }

    /// Height, pixels.
    #[getter]
    fn height(&self) -> u32 {
        self.height
    }

    /// Bytes from the start of one row to the next (row stride, bytes).
    #[getter]
    fn stride(&self) -> usize {
        self.stride
    }

    /// The channel order: "BGRA", "RGBA", "BGRX", "RGBX", "RGB" or "BGR".
    #[getter]
    fn pixel_format(&self) -> &'static str {
        self.format.name()
    }

    /// Bytes per pixel: 3 or 4.
    #[getter]
    fn channels(&self) -> usize {
        self.format.bytes_per_pixel()
    }

    /// False when the pixels are used in place, True when they had to be copied once.
    #[getter]
    fn copied(&self) -> bool {
        matches!(self.pixels, Pixels::Copied(_))
    }

    fn __repr__(&self) -> String {
        format!(
            "<Frame width={} height={} stride={} pixel_format={} copied={}>",
            self.width,
            self.height,
            self.stride,
            super::repr::str_literal(self.format.name()),
            super::repr::bool_literal(self.copied())
        )
    }
}

/// A `Frame` as given, or a new one made from an array with the default pixel format.
fn as_frame<'py>(frame: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Frame>> {
    if let Ok(f) = frame.cast::<Frame>() {
        return Ok(f.clone());
    }
    let made = Frame::from_object(frame.py(), frame, None, None, None, None).map_err(|e| {
        if e.is_instance_of::<PyValueError>(frame.py())
            && e.value(frame.py())
                .to_string()
                .starts_with("raw pixel bytes need")
        {
            PyValueError::new_err(
                "raw pixel bytes need width= and height=: pass Frame(data, width=, height=, \
                 stride=, pixel_format=)",
            )
        } else {
            e
        }
    })?;
    Bound::new(frame.py(), made)
}

/// One encoded quality tier: JPEG bytes and what they hold.
#[pyclass(frozen, get_all, module = "ironcliw_mem._native")]
pub struct EncodedTier {
    /// "full", "optimized", "fast" or "thumbnail".
    tier: &'static str,
    /// The JPEG file's bytes.
    jpeg: Py<PyBytes>,
    /// Width of the encoded image, pixels.
    width: u32,
    /// Height of the encoded image, pixels.
    height: u32,
    /// JPEG quality, 1-100.
    quality: u8,
    /// Chroma subsampling: "420", "422" or "444".
    subsampling: &'static str,
}

#[pymethods]
impl EncodedTier {
    /// Size of the JPEG in bytes.
    #[getter]
    fn nbytes(&self, py: Python<'_>) -> usize {
        self.jpeg.bind(py).as_bytes().len()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<EncodedTier tier={} width={} height={} quality={} subsampling={} nbytes={}>",
            super::repr::str_literal(self.tier),
            self.width,
            self.height,
            self.quality,
            super::repr::str_literal(self.subsampling),
            self.nbytes(py)
        )
    }
}

/// Resizes `frame` to `width` x `height` pixels (no larger than the frame on either axis);
/// returns a new (height, width, channels) uint8 array in the frame's pixel format. `filter` is "box", "bilinear", "catmull-rom" (Pillow's BICUBIC) or
/// "lanczos3"; all read every source pixel.
#[pyfunction]
#[pyo3(
    signature = (frame, width, height, *, filter=None),
    text_signature = "(frame, width, height, *, filter='catmull-rom')"
)]
fn downscale<'py>(
    py: Python<'py>,
    frame: &Bound<'py, PyAny>,
    width: &Bound<'py, PyAny>,
    height: &Bound<'py, PyAny>,
    filter: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let frame = as_frame(frame)?;
    let (w, h) = (side("width", width)?, side("height", height)?);
    let filter = parse_filter(&args::text(filter, "filter", DEFAULT_FILTER)?)?;
    let src = frame.get();
    let view = src.view();
    imaging::check_target(view, w, h).map_err(value_error)?;
    let len = imaging::packed_len(w, h, view.format());
    let out = PyByteArray::new_with(py, len, |dst| {
        py.detach(|| imaging::downscale_into(view, dst, w, h, filter))
            .map_err(value_error)
    })?;
    let numpy = py.import("numpy")?;
    let array = numpy.call_method1("frombuffer", (out, numpy.getattr("uint8")?))?;
    array.call_method1("reshape", (h, w, view.format().bytes_per_pixel()))
}

/// JPEG bytes of `frame` at `quality` (1-100) with chroma `subsampling` "420", "422" or "444".
#[pyfunction]
#[pyo3(
    signature = (frame, quality=None, subsampling=None),
    text_signature = "(frame, quality=85, subsampling='420')"
)]
fn encode_jpeg<'py>(
    py: Python<'py>,
    frame: &Bound<'py, PyAny>,
    quality: Option<&Bound<'py, PyAny>>,
    subsampling: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let frame = as_frame(frame)?;
    let quality = parse_quality(quality)?;
    let subsampling = parse_subsampling(&args::text(
        subsampling,
        "subsampling",
        DEFAULT_SUBSAMPLING,
    )?)?;
    let src = frame.get();
    let view = src.view();
    let jpeg = py
        .detach(|| imaging::encode_jpeg(view, quality, subsampling))
        .map_err(value_error)?;
    Ok(PyBytes::new(py, &jpeg))
}

/// A tier name from a str or anything with a str `.value` (a `CaptureQuality` member).
fn tier_name(obj: &Bound<'_, PyAny>) -> PyResult<Tier> {
    let text: String = match obj.extract() {
        Ok(s) => s,
        Err(_) => obj
            .getattr("value")
            .and_then(|v| v.extract())
            .map_err(|_| {
                PyTypeError::new_err(format!(
                    "tiers must be tier names (str), got {}",
                    type_name(obj)
                ))
            })?,
    };
    Tier::parse(&text).ok_or_else(|| {
        PyValueError::new_err(format!(
            "tier must be one of {}, got {text:?}",
            one_of(&Tier::ALL, Tier::name)
        ))
    })
}

fn parse_request(
    tiers: Option<&Bound<'_, PyAny>>,
    quality: Option<&Bound<'_, PyAny>>,
    subsampling: Option<&Bound<'_, PyAny>>,
    thumbnail_size: Option<&Bound<'_, PyAny>>,
    filter: Option<&Bound<'_, PyAny>>,
) -> PyResult<TierRequest> {
    let tiers = match tiers {
        None => Tier::ALL.to_vec(),
        Some(t) if t.is_instance_of::<PyString>() => vec![tier_name(t)?],
        Some(t) => t
            .try_iter()
            .map_err(|_| {
                PyTypeError::new_err(format!(
                    "tiers must be a tier name or an iterable of them, got {}",
                    type_name(t)
                ))
            })?
            .map(|item| tier_name(&item?))
            .collect::<PyResult<Vec<_>>>()?,
    };
    Ok(TierRequest {
        tiers,
        quality: parse_quality(quality)?,
        subsampling: parse_subsampling(&args::text(
            subsampling,
            "subsampling",
            DEFAULT_SUBSAMPLING,
        )?)?,
        thumbnail_box: thumbnail_box(thumbnail_size)?,
        filter: parse_filter(&args::text(filter, "filter", DEFAULT_FILTER)?)?,
    })
}

fn tiers_dict<'py>(
    py: Python<'py>,
    encoded: Vec<CoreTier>,
    request: &TierRequest,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for t in encoded {
        let tier = EncodedTier {
            tier: t.tier.name(),
            jpeg: PyBytes::new(py, &t.jpeg).unbind(),
            width: t.width,
            height: t.height,
            quality: request.quality,
            subsampling: request.subsampling.name(),
        };
        dict.set_item(t.tier.name(), tier)?;
    }
    Ok(dict)
}

/// Encodes the requested quality tiers of `frame` in one call and returns
/// `{tier name: EncodedTier}` in the order asked. Tiers: "full" (native size), "optimized"
/// (int(0.75 x side)), "fast" (int(0.5 x side)), "thumbnail" (fitted into `thumbnail_size` as
/// `PIL.Image.thumbnail` sizes it). The thumbnail is cut from the fast frame when that is made.
#[pyfunction]
#[pyo3(
    signature = (
        frame, tiers=None, quality=None, subsampling=None,
        thumbnail_size=None, filter=None
    ),
    text_signature = "(frame, tiers=None, quality=85, subsampling='420', \
                      thumbnail_size=(400, 300), filter='catmull-rom')"
)]
fn encode_tiers<'py>(
    py: Python<'py>,
    frame: &Bound<'py, PyAny>,
    tiers: Option<&Bound<'py, PyAny>>,
    quality: Option<&Bound<'py, PyAny>>,
    subsampling: Option<&Bound<'py, PyAny>>,
    thumbnail_size: Option<&Bound<'py, PyAny>>,
    filter: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let frame = as_frame(frame)?;
    let request = parse_request(tiers, quality, subsampling, thumbnail_size, filter)?;
    let src = frame.get();
    let view = src.view();
    let encoded = py
        .detach(|| imaging::encode_tiers(view, &request))
        .map_err(value_error)?;
    tiers_dict(py, encoded, &request)
}

/// `encode_tiers` for several frames (one per desktop space), encoded in parallel on one
/// process-wide thread pool (RAYON_NUM_THREADS sets its size; default one thread per core).
/// Returns one dict per frame, in order.
#[pyfunction]
#[pyo3(
    signature = (
        frames, tiers=None, quality=None, subsampling=None,
        thumbnail_size=None, filter=None
    ),
    text_signature = "(frames, tiers=None, quality=85, subsampling='420', \
                      thumbnail_size=(400, 300), filter='catmull-rom')"
)]
fn encode_tiers_batch<'py>(
    py: Python<'py>,
    frames: &Bound<'py, PyAny>,
    tiers: Option<&Bound<'py, PyAny>>,
    quality: Option<&Bound<'py, PyAny>>,
    subsampling: Option<&Bound<'py, PyAny>>,
    thumbnail_size: Option<&Bound<'py, PyAny>>,
    filter: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyList>> {
    if frames.is_instance_of::<PyBytes>() || frames.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "frames must be a sequence of frames (arrays or Frame objects)",
        ));
    }
    let frames: Vec<Bound<'py, Frame>> = frames
        .try_iter()
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "frames must be an iterable of frames, got {}",
                type_name(frames)
            ))
        })?
        .map(|f| as_frame(&f?))
        .collect::<PyResult<_>>()?;
    let request = parse_request(tiers, quality, subsampling, thumbnail_size, filter)?;
    let views: Vec<FrameRef<'_>> = frames.iter().map(|f| f.get().view()).collect();
    let results = py.detach(|| imaging::encode_tiers_batch(&views, &request));
    let dicts = results
        .into_iter()
        .map(|r| tiers_dict(py, r.map_err(value_error)?, &request))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, dicts)
}

/// A lower tier made from a higher tier's JPEG in one call, the GIL released throughout:
/// libjpeg-turbo decodes at the largest DCT reduction (1/2, 1/4, 1/8) that still covers
/// `width` x `height`, the result is resized with `filter` when it is not that size already, and
/// encoded at `quality` with `subsampling`. `jpeg` is bytes or any contiguous buffer (a
/// memoryview into a larger value is read in place). Returns None when the JPEG is smaller than
/// the target on an axis (that would be an upscale).
#[pyfunction]
#[pyo3(
    signature = (jpeg, width, height, *, quality=None, subsampling=None, filter=None),
    text_signature = "(jpeg, width, height, *, quality=85, subsampling='420', \
                      filter='catmull-rom')"
)]
fn derive_jpeg<'py>(
    py: Python<'py>,
    jpeg: &Bound<'py, PyAny>,
    width: &Bound<'py, PyAny>,
    height: &Bound<'py, PyAny>,
    quality: Option<&Bound<'py, PyAny>>,
    subsampling: Option<&Bound<'py, PyAny>>,
    filter: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let (w, h) = (side("width", width)?, side("height", height)?);
    let quality = parse_quality(quality)?;
    let subsampling = parse_subsampling(&args::text(
        subsampling,
        "subsampling",
        DEFAULT_SUBSAMPLING,
    )?)?;
    let filter = parse_filter(&args::text(filter, "filter", DEFAULT_FILTER)?)?;
    if jpeg.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "jpeg must be bytes or a bytes-like buffer, got str",
        ));
    }
    let buffer = PyBuffer::<u8>::get(jpeg).map_err(|_| {
        PyTypeError::new_err(format!(
            "jpeg must be bytes or a bytes-like buffer of bytes, got {}",
            type_name(jpeg)
        ))
    })?;
    if !buffer.is_c_contiguous() {
        return Err(PyValueError::new_err("jpeg must be a contiguous buffer"));
    }
    // SAFETY: `buffer` pins the exporter's memory for this call, and it is contiguous and
    // `len_bytes` long.
    let data =
        unsafe { std::slice::from_raw_parts(buffer.buf_ptr().cast::<u8>(), buffer.len_bytes()) };
    match py.detach(|| imaging::derive_jpeg(data, w, h, filter, quality, subsampling)) {
        Ok(out) => Ok(Some(PyBytes::new(py, &out))),
        Err(ImageError::Upscale { .. }) => Ok(None),
        Err(e) => Err(value_error(e)),
    }
}

/// The (width, height) in pixels of `tier` for a `width` x `height` frame; `thumbnail_size` is
/// the thumbnail's bounding box in pixels.
#[pyfunction]
#[pyo3(
    signature = (tier, width, height, thumbnail_size=None),
    text_signature = "(tier, width, height, thumbnail_size=(400, 300))"
)]
fn tier_size<'py>(
    py: Python<'py>,
    tier: &Bound<'py, PyAny>,
    width: &Bound<'py, PyAny>,
    height: &Bound<'py, PyAny>,
    thumbnail_size: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let tier = tier_name(tier)?;
    let bounds = thumbnail_box(thumbnail_size)?;
    let (w, h) = imaging::tier_size(tier, side("width", width)?, side("height", height)?, bounds);
    PyTuple::new(py, [w, h])
}

/// Frees the tier buffers kept between `encode_tiers` calls (at most
/// IMAGE_BUFFER_POOL_MAX_BYTES; they save ~4,000 page faults per 2880x1800 call). For the
/// memory manager under pressure; returns the bytes released.
#[pyfunction]
fn release_image_buffers(py: Python<'_>) -> usize {
    py.detach(imaging::release_buffers)
}

// --- the encoder's buffer cap, which the memory level sets --------------------------------------

fn register_buffer_cap(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(set_image_buffer_cap, m)?)?;
    m.add_function(wrap_pyfunction!(image_buffer_stats, m)?)?;
    Ok(())
}

/// Caps the bytes of tier buffers the encoder keeps between calls (0: none, nor the resizers'
/// scratch); what is kept beyond the new cap is freed at once. Returns the bytes freed.
#[pyfunction]
fn set_image_buffer_cap(py: Python<'_>, cap_bytes: &Bound<'_, PyAny>) -> PyResult<usize> {
    let cap: usize = args::count(cap_bytes, "cap_bytes", 0, i64::MAX)?;
    Ok(py.detach(|| imaging::set_buffer_cap(cap)))
}

/// The encoder's kept buffers: cap_bytes, held_bytes, held_buffers, resizers_held, and the
/// counts reused, allocated, kept, dropped (over the cap) and released_bytes since start.
#[pyfunction]
fn image_buffer_stats(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let (s, resizers) = imaging::buffer_stats();
    let out = PyDict::new(py);
    out.set_item("cap_bytes", s.cap_bytes)?;
    out.set_item("held_bytes", s.held_bytes)?;
    out.set_item("held_buffers", s.held_buffers)?;
    out.set_item("resizers_held", resizers)?;
    out.set_item("reused", s.reused)?;
    out.set_item("allocated", s.allocated)?;
    out.set_item("kept", s.kept)?;
    out.set_item("dropped", s.dropped)?;
    out.set_item("released_bytes", s.released_bytes)?;
    Ok(out)
}
