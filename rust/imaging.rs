//! Screenshots into compressed bytes: downscaling and JPEG quality tiers.
//!
//! A [`FrameRef`] borrows pixels as capture APIs hand them over (BGRA from CGImage or mss, RGBA,
//! RGB, ...), with a row stride, so nothing is copied to look at a frame. [`downscale`] resizes
//! with a convolution filter that reads every source pixel (fast_image_resize's SIMD kernels,
//! which follow Pillow's algorithm), [`encode_jpeg`] compresses with libjpeg-turbo (TurboJPEG
//! takes BGRA/BGRX rows as they are, so there is no colour-conversion copy), and
//! [`encode_tiers`] makes any of the four quality tiers in one call. [`encode_tiers_batch`]
//! spreads several frames over rayon's one global pool, and their tiers too when there are
//! fewer frames than threads: one flat list of jobs, so pools never nest.
//!
//! Nothing here knows about Python or the cache.

use std::cell::RefCell;
use std::fmt;

use fast_image_resize as fir;
use fir::images::TypedImage;
use fir::pixels::{InnerPixel, U8x3, U8x4};
use fir::{FilterType, ImageView, PixelTrait, ResizeAlg, ResizeOptions, Resizer};
use parking_lot::Mutex;
use rayon::prelude::*;

use crate::imaging_buffers::{BufferPool, BufferStats};

/// libjpeg's own limit on either side of a JPEG image (`JPEG_MAX_DIMENSION`); larger frames
/// could be resized but never encoded, so they are refused up front.
pub const MAX_DIMENSION: u32 = 65_500;

/// Scale of the `optimized` tier relative to the native size.
pub const OPTIMIZED_SCALE: f64 = 0.75;
/// Scale of the `fast` tier relative to the native size.
pub const FAST_SCALE: f64 = 0.5;
/// The thumbnail is cut from the `fast` frame only when that still leaves a reduction of at
/// least this much on both axes. Pillow's docs call a 3.0 gap "indistinguishable from fair
/// resampling"; at a 1.8x second step a bilinear cascade measurably blurs text (-0.6 dB).
pub const CASCADE_MIN_STEP: u32 = 3;
/// `Image.thumbnail`'s own `reducing_gap`: the thumbnail is first box-reduced by the integer
/// factor that still leaves a >= 2x step for the filter (see [`downscale_reducing`]).
pub const THUMBNAIL_REDUCING_GAP: u32 = 2;
/// The thumbnail box of `IMAGE_THUMBNAIL_SIZE`'s default.
pub const DEFAULT_THUMBNAIL_BOX: (u32, u32) = (400, 300);
/// `IMAGE_COMPRESSION_QUALITY`'s default.
pub const DEFAULT_QUALITY: u8 = 85;

/// How the bytes of one pixel are laid out. Alpha (A) and padding (X) bytes are ignored when
/// encoding: a screenshot is opaque, as in Pillow's `frombuffer(..., "BGRX")` path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    Bgra,
    Rgba,
    Bgrx,
    Rgbx,
    Rgb,
    Bgr,
}

impl PixelFormat {
    pub const ALL: [PixelFormat; 6] = [
        PixelFormat::Bgra,
        PixelFormat::Rgba,
        PixelFormat::Bgrx,
        PixelFormat::Rgbx,
        PixelFormat::Rgb,
        PixelFormat::Bgr,
    ];

    /// Parses the upper-case name ("BGRA", ...); any case is accepted.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }

    pub fn name(self) -> &'static str {
        match self {
            PixelFormat::Bgra => "BGRA",
            PixelFormat::Rgba => "RGBA",
            PixelFormat::Bgrx => "BGRX",
            PixelFormat::Rgbx => "RGBX",
            PixelFormat::Rgb => "RGB",
            PixelFormat::Bgr => "BGR",
        }
    }

    pub fn bytes_per_pixel(self) -> usize {
        match self {
            PixelFormat::Rgb | PixelFormat::Bgr => 3,
            _ => 4,
        }
    }

    fn turbojpeg(self) -> turbojpeg::PixelFormat {
        match self {
            PixelFormat::Bgra => turbojpeg::PixelFormat::BGRA,
            PixelFormat::Rgba => turbojpeg::PixelFormat::RGBA,
            PixelFormat::Bgrx => turbojpeg::PixelFormat::BGRX,
            PixelFormat::Rgbx => turbojpeg::PixelFormat::RGBX,
            PixelFormat::Rgb => turbojpeg::PixelFormat::RGB,
            PixelFormat::Bgr => turbojpeg::PixelFormat::BGR,
        }
    }
}

/// Resampling filters. All are convolutions over every source pixel under the kernel, with
/// Pillow's kernels and support (Catmull-Rom is Pillow's BICUBIC, a = -0.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Filter {
    Box,
    Bilinear,
    CatmullRom,
    Lanczos3,
}

impl Filter {
    pub const ALL: [Filter; 4] = [
        Filter::Box,
        Filter::Bilinear,
        Filter::CatmullRom,
        Filter::Lanczos3,
    ];

    /// Parses a filter name; Pillow's names "bicubic" and "lanczos" are accepted as aliases.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "box" => Some(Filter::Box),
            "bilinear" => Some(Filter::Bilinear),
            "catmull-rom" | "catmullrom" | "bicubic" => Some(Filter::CatmullRom),
            "lanczos3" | "lanczos" => Some(Filter::Lanczos3),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Filter::Box => "box",
            Filter::Bilinear => "bilinear",
            Filter::CatmullRom => "catmull-rom",
            Filter::Lanczos3 => "lanczos3",
        }
    }

    fn algorithm(self) -> ResizeAlg {
        ResizeAlg::Convolution(match self {
            Filter::Box => FilterType::Box,
            Filter::Bilinear => FilterType::Bilinear,
            Filter::CatmullRom => FilterType::CatmullRom,
            Filter::Lanczos3 => FilterType::Lanczos3,
        })
    }
}

/// JPEG chroma subsampling: 4:4:4 keeps coloured text legible, 4:2:0 is smallest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subsampling {
    S420,
    S422,
    S444,
}

impl Subsampling {
    pub const ALL: [Subsampling; 3] = [Subsampling::S420, Subsampling::S422, Subsampling::S444];

    /// Parses "420", "422", "444" (a leading "4:" style with colons is accepted too).
    pub fn parse(name: &str) -> Option<Self> {
        match name.replace(':', "").as_str() {
            "420" => Some(Subsampling::S420),
            "422" => Some(Subsampling::S422),
            "444" => Some(Subsampling::S444),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Subsampling::S420 => "420",
            Subsampling::S422 => "422",
            Subsampling::S444 => "444",
        }
    }

    fn turbojpeg(self) -> turbojpeg::Subsamp {
        match self {
            Subsampling::S420 => turbojpeg::Subsamp::Sub2x2,
            Subsampling::S422 => turbojpeg::Subsamp::Sub2x1,
            Subsampling::S444 => turbojpeg::Subsamp::None,
        }
    }
}

/// What went wrong; every message says what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// A width or height of zero, or beyond [`MAX_DIMENSION`].
    BadSize {
        what: &'static str,
        width: u64,
        height: u64,
    },
    /// A row stride smaller than one row of pixels.
    StrideTooSmall { stride: usize, row_bytes: usize },
    /// Fewer bytes than the rows need.
    BufferTooShort { len: usize, needed: usize },
    /// A JPEG quality outside 1..=100.
    BadQuality(i64),
    /// A downscale target larger than the source on an axis.
    Upscale {
        source: (u32, u32),
        target: (u32, u32),
    },
    /// The JPEG library failed (out of memory, ...).
    Encode(String),
    /// The bytes are not a JPEG libjpeg-turbo can decode to RGB.
    Decode(String),
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::BadSize {
                what,
                width,
                height,
            } => write!(
                f,
                "{what} must be between 1x1 and {MAX_DIMENSION}x{MAX_DIMENSION} pixels, \
                 got {width}x{height}"
            ),
            ImageError::StrideTooSmall { stride, row_bytes } => write!(
                f,
                "stride must be at least width x bytes per pixel = {row_bytes} bytes, got {stride}"
            ),
            ImageError::BufferTooShort { len, needed } => write!(
                f,
                "pixel buffer too short: {needed} bytes needed for this width, height and \
                 stride, got {len}"
            ),
            ImageError::BadQuality(q) => write!(f, "JPEG quality must be 1..100, got {q}"),
            ImageError::Upscale { source, target } => write!(
                f,
                "downscale target {}x{} must fit within the source {}x{} (no upscaling)",
                target.0, target.1, source.0, source.1
            ),
            ImageError::Encode(msg) => write!(f, "JPEG encoding failed: {msg}"),
            ImageError::Decode(msg) => write!(f, "JPEG decoding failed: {msg}"),
        }
    }
}

impl std::error::Error for ImageError {}

fn check_size(what: &'static str, width: u64, height: u64) -> Result<(), ImageError> {
    let ok = |side: u64| (1..=u64::from(MAX_DIMENSION)).contains(&side);
    if ok(width) && ok(height) {
        Ok(())
    } else {
        Err(ImageError::BadSize {
            what,
            width,
            height,
        })
    }
}

/// JPEG quality checked into 1..=100.
pub fn check_quality(quality: i64) -> Result<u8, ImageError> {
    match u8::try_from(quality) {
        Ok(q @ 1..=100) => Ok(q),
        _ => Err(ImageError::BadQuality(quality)),
    }
}

/// A borrowed frame: `height` rows of `stride` bytes, each starting with `width` pixels.
#[derive(Clone, Copy, Debug)]
pub struct FrameRef<'a> {
    data: &'a [u8],
    width: u32,
    height: u32,
    stride: usize,
    format: PixelFormat,
}

impl<'a> FrameRef<'a> {
    /// Checks the geometry: sizes within 1..=[`MAX_DIMENSION`], a stride of at least one row,
    /// and bytes for every row (the last one may end right after its pixels, as in a
    /// column-sliced numpy view).
    pub fn new(
        data: &'a [u8],
        width: u32,
        height: u32,
        stride: usize,
        format: PixelFormat,
    ) -> Result<Self, ImageError> {
        check_size("frame size", width.into(), height.into())?;
        let row_bytes = width as usize * format.bytes_per_pixel();
        if stride < row_bytes {
            return Err(ImageError::StrideTooSmall { stride, row_bytes });
        }
        let needed = stride
            .checked_mul(height as usize - 1)
            .and_then(|n| n.checked_add(row_bytes))
            .ok_or(ImageError::BufferTooShort {
                len: data.len(),
                needed: usize::MAX,
            })?;
        if data.len() < needed {
            return Err(ImageError::BufferTooShort {
                len: data.len(),
                needed,
            });
        }
        Ok(FrameRef {
            data: &data[..needed],
            width,
            height,
            stride,
            format,
        })
    }

    /// A tightly packed frame (stride = width x bytes per pixel).
    pub fn packed(
        data: &'a [u8],
        width: u32,
        height: u32,
        format: PixelFormat,
    ) -> Result<Self, ImageError> {
        Self::new(
            data,
            width,
            height,
            width as usize * format.bytes_per_pixel(),
            format,
        )
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn stride(&self) -> usize {
        self.stride
    }

    pub fn format(&self) -> PixelFormat {
        self.format
    }

    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    fn row_bytes(&self) -> usize {
        self.width as usize * self.format.bytes_per_pixel()
    }
}

/// A tightly packed frame that owns its pixels (what [`downscale`] returns).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub data: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub format: PixelFormat,
}

impl Frame {
    pub fn view(&self) -> FrameRef<'_> {
        FrameRef {
            data: &self.data,
            width: self.width,
            height: self.height,
            stride: self.width as usize * self.format.bytes_per_pixel(),
            format: self.format,
        }
    }
}

/// A strided source for fast_image_resize: rows are `stride` bytes apart.
struct StridedView<'a, P> {
    frame: FrameRef<'a>,
    _pixel: std::marker::PhantomData<P>,
}

fn as_pixels<P: InnerPixel>(row: &[u8]) -> &[P] {
    // SAFETY: fast_image_resize's u8 pixels are `#[repr(C)]` wrappers of `[u8; N]`: alignment 1,
    // size N, every bit pattern valid. `row.len()` is a multiple of N (width x N bytes).
    let (head, pixels, tail) = unsafe { row.align_to::<P>() };
    debug_assert!(head.is_empty() && tail.is_empty());
    pixels
}

// SAFETY: every row yielded holds exactly `width` pixels (FrameRef::new checked the geometry).
unsafe impl<P: InnerPixel> ImageView for StridedView<'_, P> {
    type Pixel = P;

    fn width(&self) -> u32 {
        self.frame.width
    }

    fn height(&self) -> u32 {
        self.frame.height
    }

    fn iter_rows(&self, start_row: u32) -> impl Iterator<Item = &[P]> {
        let row_bytes = self.frame.row_bytes();
        // Past the last row (fast_image_resize may ask for `height`) there is nothing: the
        // data ends right after the last row's pixels, before a full stride.
        let start = start_row as usize * self.frame.stride;
        self.frame
            .data
            .get(start..)
            .unwrap_or_default()
            .chunks(self.frame.stride)
            .map(move |row| as_pixels::<P>(&row[..row_bytes]))
    }
}

/// Resizers keep their scratch buffers (about width x height x 4 bytes of the largest tier, ~15
/// MB at 2880x1800) between calls. They live in a pool rather than per thread so that
/// [`release_buffers`] frees them too: per-thread copies were invisible to the pressure logic.
static RESIZERS: Mutex<Vec<Resizer>> = Mutex::new(Vec::new());

fn with_resizer<R>(work: impl FnOnce(&mut Resizer) -> R) -> R {
    let mut resizer = RESIZERS.lock().pop().unwrap_or_default();
    let result = work(&mut resizer);
    // With no buffers to be kept (red), the scratch is not kept either.
    if BUFFERS.cap() > 0 {
        RESIZERS.lock().push(resizer);
    }
    result
}

thread_local! {
    /// One TurboJPEG compressor per thread: `tj3Init` and its tables are set up once.
    static COMPRESSOR: RefCell<Option<turbojpeg::Compressor>> = const { RefCell::new(None) };
    /// One TurboJPEG decompressor per thread, for [`derive_jpeg`].
    static DECOMPRESSOR: RefCell<Option<turbojpeg::Decompressor>> = const { RefCell::new(None) };
}

fn resize_typed<P: PixelTrait>(
    src: FrameRef<'_>,
    dst: &mut [u8],
    width: u32,
    height: u32,
    filter: Filter,
) {
    let view = StridedView::<P> {
        frame: src,
        _pixel: std::marker::PhantomData,
    };
    let mut out = TypedImage::<P>::from_buffer(width, height, dst)
        .expect("destination buffer sized by downscale_into");
    // Alpha/padding is a plain channel: no premultiplication, as Pillow's "BGRX" path.
    let options = ResizeOptions::new()
        .resize_alg(filter.algorithm())
        .use_alpha(false);
    with_resizer(|resizer| {
        resizer
            .resize_typed(&view, &mut out, &options)
            .expect("same pixel type, no cropping: resize cannot fail")
    });
}

/// Checks a downscale target: 1..=[`MAX_DIMENSION`] and no larger than `src` on either axis
/// (the output is never bigger than a frame that already exists in memory).
pub fn check_target(src: FrameRef<'_>, width: u32, height: u32) -> Result<(), ImageError> {
    check_size("target size", width.into(), height.into())?;
    if width > src.width || height > src.height {
        return Err(ImageError::Upscale {
            source: (src.width, src.height),
            target: (width, height),
        });
    }
    Ok(())
}

/// Tier pixel buffers kept between calls, in one process-wide pool any thread draws from (see
/// [`crate::imaging_buffers`]); its cap follows the memory level ([`set_buffer_cap`]).
static BUFFERS: BufferPool = BufferPool::new(BUFFER_POOL_MAX_BYTES);
/// The pool's cap until the memory level sets one: all the tiers of one 5K frame (~48 MB),
/// bounded so the pool never becomes the memory problem this package exists to solve.
pub const BUFFER_POOL_MAX_BYTES: usize = 64 << 20;

fn pooled(len: usize) -> Vec<u8> {
    BUFFERS.take(len)
}

fn recycle(buf: Vec<u8>) {
    BUFFERS.give(buf);
}

/// Frees every pooled tier buffer and the resizers' scratch buffers (e.g. when memory pressure
/// rises); returns the tier-buffer bytes released. Both refill on the next `encode_tiers`.
pub fn release_buffers() -> usize {
    // Resizers in use by another thread go back to the pool after; the next release frees them.
    drop(std::mem::take(&mut *RESIZERS.lock()));
    BUFFERS.release()
}

/// Caps the bytes of tier buffers kept between calls and frees what is kept beyond the new cap
/// at once; a lowered cap also frees the resizers' scratch buffers (the largest thing kept,
/// ~15 MB at 2880x1800), and a zero cap keeps none of either after each call. Returns the
/// tier-buffer bytes freed.
pub fn set_buffer_cap(cap_bytes: usize) -> usize {
    if cap_bytes < BUFFERS.cap() {
        drop(std::mem::take(&mut *RESIZERS.lock()));
    }
    BUFFERS.set_cap(cap_bytes)
}

/// The tier-buffer pool's figures, and how many resizers (each with its scratch) are kept.
pub fn buffer_stats() -> (BufferStats, usize) {
    (BUFFERS.stats(), RESIZERS.lock().len())
}

/// [`downscale`] into a pooled buffer (return it with [`recycle`]).
fn downscale_pooled(
    src: FrameRef<'_>,
    width: u32,
    height: u32,
    filter: Filter,
) -> Result<Frame, ImageError> {
    downscale_with(src, width, height, filter, pooled)
}

/// Bytes [`downscale_into`] writes for a `width` x `height` frame of `format`.
pub fn packed_len(width: u32, height: u32, format: PixelFormat) -> usize {
    width as usize * height as usize * format.bytes_per_pixel()
}

/// Resizes `src` to `width` x `height` into `dst` (exactly [`packed_len`] bytes, packed rows,
/// same pixel format). The target must fit within the source ([`check_target`]).
pub fn downscale_into(
    src: FrameRef<'_>,
    dst: &mut [u8],
    width: u32,
    height: u32,
    filter: Filter,
) -> Result<(), ImageError> {
    check_target(src, width, height)?;
    let needed = packed_len(width, height, src.format);
    if dst.len() != needed {
        return Err(ImageError::BufferTooShort {
            len: dst.len(),
            needed,
        });
    }
    if (width, height) == (src.width, src.height) {
        // Same size: a convolution would be the identity; copy the rows.
        let row_bytes = src.row_bytes();
        for (out, row) in dst
            .chunks_exact_mut(row_bytes)
            .zip(src.data.chunks(src.stride))
        {
            out.copy_from_slice(&row[..row_bytes]);
        }
        return Ok(());
    }
    match src.format.bytes_per_pixel() {
        4 => resize_typed::<U8x4>(src, dst, width, height, filter),
        _ => resize_typed::<U8x3>(src, dst, width, height, filter),
    }
    Ok(())
}

/// Resizes `src` to `width` x `height` with `filter`; the result is packed, same pixel format.
pub fn downscale(
    src: FrameRef<'_>,
    width: u32,
    height: u32,
    filter: Filter,
) -> Result<Frame, ImageError> {
    downscale_with(src, width, height, filter, |len| vec![0u8; len])
}

/// [`downscale_into`] a buffer of the right length from `alloc`.
fn downscale_with(
    src: FrameRef<'_>,
    width: u32,
    height: u32,
    filter: Filter,
    alloc: impl FnOnce(usize) -> Vec<u8>,
) -> Result<Frame, ImageError> {
    check_target(src, width, height)?;
    let mut data = alloc(packed_len(width, height, src.format));
    downscale_into(src, &mut data, width, height, filter)?;
    Ok(Frame {
        data,
        width,
        height,
        format: src.format,
    })
}

/// [`downscale`] for large reductions, as Pillow's `resize(..., reducing_gap=gap)` (and so
/// `Image.thumbnail`) does it: when the source is at least 2 x `gap` times the target on an
/// axis, a box filter (every pixel, equal weights) first reduces by the integer factor that
/// still leaves a `gap`x step, then `filter` makes the final size. A wide kernel over the whole
/// source (Catmull-Rom from 5K to a thumbnail: ~50 taps per axis) costs several times more and
/// looks the same (tests: within 0.1 dB). The box filter is used as it is. The result's buffer
/// comes from the pool.
fn downscale_reducing(
    src: FrameRef<'_>,
    width: u32,
    height: u32,
    filter: Filter,
    gap: u32,
) -> Result<Frame, ImageError> {
    check_target(src, width, height)?;
    let gap = gap.max(1);
    let fx = (src.width / width.saturating_mul(gap)).max(1);
    let fy = (src.height / height.saturating_mul(gap)).max(1);
    if filter == Filter::Box || (fx == 1 && fy == 1) {
        return downscale_pooled(src, width, height, filter);
    }
    let reduced = downscale_pooled(
        src,
        src.width.div_ceil(fx),
        src.height.div_ceil(fy),
        Filter::Box,
    )?;
    let out = downscale_pooled(reduced.view(), width, height, filter);
    recycle(reduced.data);
    out
}

/// Baseline JPEG (standard Huffman tables, accurate integer DCT: Pillow's defaults) of `src`.
pub fn encode_jpeg(
    src: FrameRef<'_>,
    quality: u8,
    subsampling: Subsampling,
) -> Result<Vec<u8>, ImageError> {
    check_quality(quality.into())?;
    let image = turbojpeg::Image {
        pixels: src.data,
        width: src.width as usize,
        pitch: src.stride,
        height: src.height as usize,
        format: src.format.turbojpeg(),
    };
    let encode_err = |e: turbojpeg::Error| ImageError::Encode(e.to_string());
    COMPRESSOR.with_borrow_mut(|slot| {
        let compressor = match slot {
            Some(c) => c,
            None => slot.insert(turbojpeg::Compressor::new().map_err(encode_err)?),
        };
        compressor.set_quality(quality.into()).map_err(encode_err)?;
        compressor
            .set_subsamp(subsampling.turbojpeg())
            .map_err(encode_err)?;
        compressor.compress_to_vec(image).map_err(encode_err)
    })
}

/// The reduction libjpeg applies inside its inverse DCT when decoding a `source`-sized JPEG for a
/// `target`-sized result: the largest of 8, 4, 2 (else 1) that still leaves at least the target
/// on both axes, as Pillow's `Image.draft` picks it (so a derived tier matches the Pillow path).
pub fn dct_reduction(source: (u32, u32), target: (u32, u32)) -> u32 {
    let fits = (source.0 / target.0.max(1)).min(source.1 / target.1.max(1));
    [8, 4, 2].into_iter().find(|&a| fits >= a).unwrap_or(1)
}

/// The (width, height) of a JPEG's header.
pub fn jpeg_size(jpeg: &[u8]) -> Result<(u32, u32), ImageError> {
    let header = turbojpeg::read_header(jpeg).map_err(|e| ImageError::Decode(e.to_string()))?;
    let side = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Ok((side(header.width), side(header.height)))
}

/// A lower tier made from a cached higher tier's JPEG in one pass: libjpeg-turbo decodes at the
/// [`dct_reduction`] scale (the skipped DCT work makes the decode several times cheaper), the
/// result is resized to `width` x `height` with `filter` when the scaled decode is not already
/// that size, and encoded at `quality` with `subsampling`. The target must fit within the JPEG
/// ([`ImageError::Upscale`] otherwise). Decode and resize buffers come from the pool.
pub fn derive_jpeg(
    jpeg: &[u8],
    width: u32,
    height: u32,
    filter: Filter,
    quality: u8,
    subsampling: Subsampling,
) -> Result<Vec<u8>, ImageError> {
    check_quality(quality.into())?;
    check_size("target size", width.into(), height.into())?;
    let (source_w, source_h) = jpeg_size(jpeg)?;
    check_size("JPEG size", source_w.into(), source_h.into())?;
    if width > source_w || height > source_h {
        return Err(ImageError::Upscale {
            source: (source_w, source_h),
            target: (width, height),
        });
    }
    let factor = turbojpeg::ScalingFactor::new(
        1,
        dct_reduction((source_w, source_h), (width, height)) as usize,
    );
    let (scaled_w, scaled_h) = (
        factor.scale(source_w as usize) as u32,
        factor.scale(source_h as usize) as u32,
    );
    let format = PixelFormat::Rgb;
    let mut decoded = pooled(packed_len(scaled_w, scaled_h, format));
    let decode_err = |e: turbojpeg::Error| ImageError::Decode(e.to_string());
    let decoded_ok = DECOMPRESSOR.with_borrow_mut(|slot| -> Result<(), ImageError> {
        let decompressor = match slot {
            Some(d) => d,
            None => slot.insert(turbojpeg::Decompressor::new().map_err(decode_err)?),
        };
        decompressor
            .set_scaling_factor(factor)
            .map_err(decode_err)?;
        let image = turbojpeg::Image {
            pixels: decoded.as_mut_slice(),
            width: scaled_w as usize,
            pitch: scaled_w as usize * format.bytes_per_pixel(),
            height: scaled_h as usize,
            format: format.turbojpeg(),
        };
        decompressor.decompress(jpeg, image).map_err(decode_err)
    });
    let result = decoded_ok.and_then(|()| {
        let view = FrameRef::new(
            &decoded,
            scaled_w,
            scaled_h,
            packed_len(scaled_w, 1, format),
            format,
        )?;
        if (scaled_w, scaled_h) == (width, height) {
            return encode_jpeg(view, quality, subsampling);
        }
        let resized = downscale_pooled(view, width, height, filter)?;
        let encoded = encode_jpeg(resized.view(), quality, subsampling);
        recycle(resized.data);
        encoded
    });
    recycle(decoded);
    result
}

/// The four capture quality tiers, by falling fidelity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    Full,
    Optimized,
    Fast,
    Thumbnail,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Full, Tier::Optimized, Tier::Fast, Tier::Thumbnail];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }

    pub fn name(self) -> &'static str {
        match self {
            Tier::Full => "full",
            Tier::Optimized => "optimized",
            Tier::Fast => "fast",
            Tier::Thumbnail => "thumbnail",
        }
    }
}

/// `int(side * scale)` as a Python user writes it for Pillow, at least 1.
pub fn scaled_side(side: u32, scale: f64) -> u32 {
    ((f64::from(side) * scale) as u32).max(1)
}

/// The size `PIL.Image.thumbnail(box)` gives a `width` x `height` image: unchanged when it
/// already fits, else the aspect-preserving fit, each side rounded (floor or ceil) to whichever
/// keeps the aspect ratio closest, floor on a tie, at least 1 (Pillow 10-13's algorithm).
pub fn thumbnail_size(width: u32, height: u32, bounds: (u32, u32)) -> (u32, u32) {
    let (x, y) = (f64::from(bounds.0), f64::from(bounds.1));
    let (w, h) = (f64::from(width), f64::from(height));
    if x >= w && y >= h {
        return (width, height);
    }
    let aspect = w / h;
    // Python's min(floor, ceil, key=...) keeps the first of equal keys: floor.
    let round_aspect = |number: f64, key: &dyn Fn(f64) -> f64| -> u32 {
        let (lo, hi) = (number.floor(), number.ceil());
        let pick = if key(hi) < key(lo) { hi } else { lo };
        (pick as u32).max(1)
    };
    if x / y >= aspect {
        let nx = round_aspect(y * aspect, &|n| (aspect - n / y).abs());
        (nx, bounds.1)
    } else {
        let ny = round_aspect(x / aspect, &|n| {
            if n == 0.0 {
                0.0
            } else {
                (aspect - x / n).abs()
            }
        });
        (bounds.0, ny)
    }
}

/// The pixel size of `tier` for a `width` x `height` frame.
pub fn tier_size(tier: Tier, width: u32, height: u32, thumbnail_box: (u32, u32)) -> (u32, u32) {
    match tier {
        Tier::Full => (width, height),
        Tier::Optimized => (
            scaled_side(width, OPTIMIZED_SCALE),
            scaled_side(height, OPTIMIZED_SCALE),
        ),
        Tier::Fast => (
            scaled_side(width, FAST_SCALE),
            scaled_side(height, FAST_SCALE),
        ),
        Tier::Thumbnail => thumbnail_size(width, height, thumbnail_box),
    }
}

/// What to make of one frame.
#[derive(Clone, Debug)]
pub struct TierRequest {
    pub tiers: Vec<Tier>,
    pub quality: u8,
    pub subsampling: Subsampling,
    pub thumbnail_box: (u32, u32),
    pub filter: Filter,
}

impl Default for TierRequest {
    fn default() -> Self {
        TierRequest {
            tiers: Tier::ALL.to_vec(),
            quality: DEFAULT_QUALITY,
            subsampling: Subsampling::S420,
            thumbnail_box: DEFAULT_THUMBNAIL_BOX,
            filter: Filter::CatmullRom,
        }
    }
}

impl TierRequest {
    /// Checks the quality and the thumbnail box.
    pub fn validate(&self) -> Result<(), ImageError> {
        check_quality(self.quality.into())?;
        check_size(
            "thumbnail_size",
            self.thumbnail_box.0.into(),
            self.thumbnail_box.1.into(),
        )
    }
}

/// One encoded tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedTier {
    pub tier: Tier,
    pub width: u32,
    pub height: u32,
    pub jpeg: Vec<u8>,
}

/// Encodes the requested tiers of `src`, in the order asked (duplicates once). The thumbnail is
/// made with [`downscale_reducing`], from the `fast` frame when that one is made anyway (a
/// quarter of the pixels to read) and is still [`CASCADE_MIN_STEP`] times larger, except with the
/// box filter (box over box on misaligned grids is not a box); every other tier is resized from
/// the source with [`downscale`].
pub fn encode_tiers(
    src: FrameRef<'_>,
    request: &TierRequest,
) -> Result<Vec<EncodedTier>, ImageError> {
    request.validate()?;
    let wanted = |t: Tier| request.tiers.contains(&t);
    let size = |t: Tier| tier_size(t, src.width, src.height, request.thumbnail_box);
    let resized = |from: FrameRef<'_>, t: Tier| -> Result<Option<Frame>, ImageError> {
        let (w, h) = size(t);
        if (w, h) == (from.width, from.height) {
            return Ok(None);
        }
        match t {
            Tier::Thumbnail => {
                downscale_reducing(from, w, h, request.filter, THUMBNAIL_REDUCING_GAP).map(Some)
            }
            _ => downscale_pooled(from, w, h, request.filter).map(Some),
        }
    };
    let fast = if wanted(Tier::Fast) {
        resized(src, Tier::Fast)?
    } else {
        None
    };
    let mut out: Vec<EncodedTier> = Vec::with_capacity(request.tiers.len());
    for &tier in &request.tiers {
        if out.iter().any(|e| e.tier == tier) {
            continue;
        }
        let fast_view = fast.as_ref().map_or(src, Frame::view);
        let mut owned: Option<Frame> = None;
        let view = match tier {
            Tier::Full => src,
            Tier::Fast => fast_view,
            Tier::Optimized | Tier::Thumbnail => {
                let (tw, th) = size(tier);
                let cascade = tier == Tier::Thumbnail
                    && fast.is_some()
                    && request.filter != Filter::Box
                    && fast_view.width >= tw * CASCADE_MIN_STEP
                    && fast_view.height >= th * CASCADE_MIN_STEP;
                let from = if cascade { fast_view } else { src };
                owned = resized(from, tier)?;
                owned.as_ref().map_or(from, Frame::view)
            }
        };
        out.push(EncodedTier {
            tier,
            width: view.width,
            height: view.height,
            jpeg: encode_jpeg(view, request.quality, request.subsampling)?,
        });
        if let Some(frame) = owned {
            recycle(frame.data);
        }
    }
    if let Some(frame) = fast {
        recycle(frame.data);
    }
    Ok(out)
}

/// [`encode_tiers`] for several frames at once, in parallel on rayon's global pool (one pool
/// for the process). With at least as many frames as threads, a frame is the unit of work;
/// with fewer, the tiers of each frame are spread too (see [`tier_groups`]), as one flat list
/// of jobs on the same pool, so nothing nests and every core has work. Either way the result
/// of each frame is exactly what [`encode_tiers`] gives, in the order of `frames`.
pub fn encode_tiers_batch(
    frames: &[FrameRef<'_>],
    request: &TierRequest,
) -> Vec<Result<Vec<EncodedTier>, ImageError>> {
    encode_tiers_batch_split(frames, request, frames.len() < rayon::current_num_threads())
}

/// The tiers of a request as independent jobs, in the order asked (duplicates once): the fast
/// tier and the thumbnail stay together, since the thumbnail is made from the fast frame when
/// both are wanted ([`encode_tiers`]); every other tier reads only the source.
pub fn tier_groups(tiers: &[Tier]) -> Vec<Vec<Tier>> {
    let mut groups: Vec<Vec<Tier>> = Vec::new();
    let paired = tiers.contains(&Tier::Fast) && tiers.contains(&Tier::Thumbnail);
    for &tier in tiers {
        if groups.iter().flatten().any(|&t| t == tier) {
            continue;
        }
        let partner = match tier {
            Tier::Fast if paired => Some(Tier::Thumbnail),
            Tier::Thumbnail if paired => Some(Tier::Fast),
            _ => None,
        };
        match partner.and_then(|p| groups.iter_mut().find(|g| g.contains(&p))) {
            Some(group) => group.push(tier),
            None => groups.push(vec![tier]),
        }
    }
    groups
}

fn encode_tiers_batch_split(
    frames: &[FrameRef<'_>],
    request: &TierRequest,
    split_tiers: bool,
) -> Vec<Result<Vec<EncodedTier>, ImageError>> {
    let groups = tier_groups(&request.tiers);
    if !split_tiers || groups.is_empty() {
        return frames
            .par_iter()
            .map(|f| encode_tiers(*f, request))
            .collect();
    }
    let requests: Vec<TierRequest> = groups
        .iter()
        .map(|tiers| TierRequest {
            tiers: tiers.clone(),
            ..request.clone()
        })
        .collect();
    let jobs: Vec<(usize, usize)> = (0..frames.len())
        .flat_map(|f| (0..requests.len()).map(move |g| (f, g)))
        .collect();
    let mut parts = jobs
        .par_iter()
        .map(|&(f, g)| encode_tiers(frames[f], &requests[g]))
        .collect::<Vec<_>>()
        .into_iter();
    let order: Vec<Tier> = groups.iter().flatten().copied().collect();
    let position = |t: Tier| {
        request
            .tiers
            .iter()
            .position(|&r| r == t)
            .unwrap_or(order.len())
    };
    (0..frames.len())
        .map(|_| {
            let mut tiers = Vec::with_capacity(order.len());
            let mut failed = None;
            for part in parts.by_ref().take(requests.len()) {
                match part {
                    Ok(encoded) => tiers.extend(encoded),
                    Err(e) => failed = failed.or(Some(e)),
                }
            }
            if let Some(e) = failed {
                return Err(e);
            }
            tiers.sort_by_key(|e: &EncodedTier| position(e.tier));
            Ok(tiers)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(width: u32, height: u32, format: PixelFormat) -> Vec<u8> {
        let bpp = format.bytes_per_pixel();
        let mut data = vec![0u8; width as usize * height as usize * bpp];
        for (i, px) in data.chunks_exact_mut(bpp).enumerate() {
            let (x, y) = (i as u32 % width, i as u32 / width);
            px[0] = (x * 255 / width.max(2)) as u8;
            px[1] = (y * 255 / height.max(2)) as u8;
            px[2] = ((x + y) % 256) as u8;
            if bpp == 4 {
                px[3] = 255;
            }
        }
        data
    }

    #[test]
    fn frame_geometry_is_checked() {
        let data = vec![0u8; 40];
        assert!(FrameRef::new(&data, 2, 5, 8, PixelFormat::Bgra).is_ok());
        assert_eq!(
            FrameRef::new(&data, 0, 5, 8, PixelFormat::Bgra).unwrap_err(),
            ImageError::BadSize {
                what: "frame size",
                width: 0,
                height: 5
            }
        );
        assert_eq!(
            FrameRef::new(&data, 3, 5, 8, PixelFormat::Bgra).unwrap_err(),
            ImageError::StrideTooSmall {
                stride: 8,
                row_bytes: 12
            }
        );
        assert_eq!(
            FrameRef::new(&data, 2, 6, 8, PixelFormat::Bgra).unwrap_err(),
            ImageError::BufferTooShort {
                len: 40,
                needed: 48
            }
        );
        assert!(FrameRef::new(&data, 70_000, 1, 280_000, PixelFormat::Bgra).is_err());
        assert!(FrameRef::new(&data, 2, 5, usize::MAX, PixelFormat::Rgb).is_err());
    }

    #[test]
    fn names_round_trip() {
        for f in PixelFormat::ALL {
            assert_eq!(PixelFormat::parse(f.name()), Some(f));
            assert_eq!(PixelFormat::parse(&f.name().to_lowercase()), Some(f));
        }
        for f in Filter::ALL {
            assert_eq!(Filter::parse(f.name()), Some(f));
        }
        for s in Subsampling::ALL {
            assert_eq!(Subsampling::parse(s.name()), Some(s));
        }
        for t in Tier::ALL {
            assert_eq!(Tier::parse(t.name()), Some(t));
        }
        assert_eq!(Subsampling::parse("4:2:0"), Some(Subsampling::S420));
        assert_eq!(Filter::parse("bicubic"), Some(Filter::CatmullRom));
        assert_eq!(PixelFormat::parse("ARGB"), None);
        assert_eq!(Filter::parse("nearest"), None);
    }

    #[test]
    fn thumbnail_sizes_follow_pillow() {
        // Values computed with PIL.Image.thumbnail (Pillow 13).
        assert_eq!(thumbnail_size(2880, 1800, (400, 300)), (400, 250));
        assert_eq!(thumbnail_size(5120, 2880, (400, 300)), (400, 225));
        assert_eq!(thumbnail_size(1800, 2880, (400, 300)), (187, 300));
        assert_eq!(thumbnail_size(300, 200, (400, 300)), (300, 200));
        assert_eq!(thumbnail_size(10_000, 1, (400, 300)), (400, 1));
        assert_eq!(thumbnail_size(1, 10_000, (400, 300)), (1, 300));
    }

    #[test]
    fn tier_sizes_truncate_like_int() {
        assert_eq!(
            tier_size(Tier::Optimized, 2880, 1800, (400, 300)),
            (2160, 1350)
        );
        assert_eq!(tier_size(Tier::Fast, 1001, 3, (400, 300)), (500, 1));
        assert_eq!(tier_size(Tier::Fast, 1, 1, (400, 300)), (1, 1));
        assert_eq!(
            tier_size(Tier::Optimized, 1366, 767, (400, 300)),
            (1024, 575)
        );
    }

    #[test]
    fn box_downscale_by_two_averages_blocks() {
        let data = [0u8, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110];
        // 2x2 RGB, rows of 6 bytes.
        let src = FrameRef::packed(&data[..12], 2, 2, PixelFormat::Rgb).unwrap();
        let out = downscale(src, 1, 1, Filter::Box).unwrap();
        assert_eq!(out.data, vec![45, 55, 65]);
    }

    #[test]
    fn strided_source_equals_packed_source() {
        let (w, h) = (37u32, 23u32);
        let packed = gradient(w, h, PixelFormat::Bgra);
        let stride = w as usize * 4 + 12;
        let mut padded = vec![0xAAu8; stride * h as usize];
        for (dst, src) in padded
            .chunks_exact_mut(stride)
            .zip(packed.chunks_exact(w as usize * 4))
        {
            dst[..src.len()].copy_from_slice(src);
        }
        let a = FrameRef::packed(&packed, w, h, PixelFormat::Bgra).unwrap();
        let b = FrameRef::new(&padded, w, h, stride, PixelFormat::Bgra).unwrap();
        for filter in Filter::ALL {
            assert_eq!(
                downscale(a, 17, 9, filter).unwrap(),
                downscale(b, 17, 9, filter).unwrap()
            );
        }
        assert_eq!(
            encode_jpeg(a, 90, Subsampling::S444).unwrap(),
            encode_jpeg(b, 90, Subsampling::S444).unwrap()
        );
        assert_eq!(downscale(b, w, h, Filter::Box).unwrap().data, packed);
        assert_eq!(
            downscale(b, w + 1, h, Filter::Box).unwrap_err(),
            ImageError::Upscale {
                source: (w, h),
                target: (w + 1, h)
            }
        );
    }

    #[test]
    fn rows_past_the_end_are_empty() {
        let data = [7u8; 2 * 8 + 4]; // 3 rows of 1 BGRA pixel, stride 8, last row unpadded
        let frame = FrameRef::new(&data, 1, 3, 8, PixelFormat::Bgra).unwrap();
        let view = StridedView::<U8x4> {
            frame,
            _pixel: std::marker::PhantomData,
        };
        assert_eq!(view.iter_rows(0).count(), 3);
        assert_eq!(view.iter_rows(2).count(), 1);
        assert_eq!(view.iter_rows(3).count(), 0);
        assert_eq!(view.iter_rows(9).count(), 0);
    }

    #[test]
    fn jpeg_has_markers_and_size() {
        let data = gradient(64, 48, PixelFormat::Rgb);
        let src = FrameRef::packed(&data, 64, 48, PixelFormat::Rgb).unwrap();
        let jpeg = encode_jpeg(src, 85, Subsampling::S420).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        assert_eq!(&jpeg[jpeg.len() - 2..], &[0xFF, 0xD9]);
        assert_eq!(
            encode_jpeg(src, 0, Subsampling::S420).unwrap_err(),
            ImageError::BadQuality(0)
        );
        assert!(encode_jpeg(src, 101, Subsampling::S420).is_err());
    }

    #[test]
    fn tiers_have_their_sizes_and_order() {
        let (w, h) = (960u32, 600u32);
        let data = gradient(w, h, PixelFormat::Bgrx);
        let src = FrameRef::packed(&data, w, h, PixelFormat::Bgrx).unwrap();
        let request = TierRequest {
            tiers: vec![
                Tier::Thumbnail,
                Tier::Full,
                Tier::Fast,
                Tier::Optimized,
                Tier::Fast,
            ],
            ..TierRequest::default()
        };
        let tiers = encode_tiers(src, &request).unwrap();
        let got: Vec<_> = tiers.iter().map(|t| (t.tier, t.width, t.height)).collect();
        assert_eq!(
            got,
            vec![
                (Tier::Thumbnail, 400, 250),
                (Tier::Full, 960, 600),
                (Tier::Fast, 480, 300),
                (Tier::Optimized, 720, 450),
            ]
        );
        assert!(tiers.iter().all(|t| t.jpeg.starts_with(&[0xFF, 0xD8])));
        let bad = TierRequest {
            thumbnail_box: (0, 10),
            ..TierRequest::default()
        };
        assert!(encode_tiers(src, &bad).is_err());
    }

    #[test]
    fn thumbnail_of_the_fast_size_is_the_fast_frame() {
        // 800x600 at half size is 400x300, exactly the thumbnail box.
        let data = gradient(800, 600, PixelFormat::Rgb);
        let src = FrameRef::packed(&data, 800, 600, PixelFormat::Rgb).unwrap();
        let tiers = encode_tiers(src, &TierRequest::default()).unwrap();
        let fast = tiers.iter().find(|t| t.tier == Tier::Fast).unwrap();
        let thumb = tiers.iter().find(|t| t.tier == Tier::Thumbnail).unwrap();
        assert_eq!((thumb.width, thumb.height), (400, 300));
        assert_eq!(thumb.jpeg, fast.jpeg);
        // Without the fast tier the thumbnail is resized from the source: same size.
        let only = TierRequest {
            tiers: vec![Tier::Thumbnail],
            ..TierRequest::default()
        };
        let alone = encode_tiers(src, &only).unwrap();
        assert_eq!((alone[0].width, alone[0].height), (400, 300));
    }

    #[test]
    fn thumbnail_cascades_from_fast_only_when_far_enough() {
        let (w, h) = (1600u32, 1000u32); // fast 800x500, thumbnail 240x150: 3.3x left
        let data = gradient(w, h, PixelFormat::Bgra);
        let src = FrameRef::packed(&data, w, h, PixelFormat::Bgra).unwrap();
        let thumb_of = |filter: Filter| {
            let request = TierRequest {
                tiers: vec![Tier::Fast, Tier::Thumbnail],
                thumbnail_box: (240, 240),
                filter,
                ..TierRequest::default()
            };
            encode_tiers(src, &request).unwrap().pop().unwrap()
        };
        let encode = |f: &Frame| encode_jpeg(f.view(), DEFAULT_QUALITY, Subsampling::S420).unwrap();
        let fast = downscale(src, 800, 500, Filter::Bilinear).unwrap();
        let cascaded = downscale(fast.view(), 240, 150, Filter::Bilinear).unwrap();
        assert_eq!(thumb_of(Filter::Bilinear).jpeg, encode(&cascaded));
        let direct = downscale(src, 240, 150, Filter::Box).unwrap();
        assert_eq!(thumb_of(Filter::Box).jpeg, encode(&direct));
    }

    #[test]
    fn reducing_downscale_boxes_first_only_for_large_steps() {
        let (w, h) = (1300u32, 700u32);
        let data = gradient(w, h, PixelFormat::Rgbx);
        let src = FrameRef::packed(&data, w, h, PixelFormat::Rgbx).unwrap();
        // 1300/(100*3) = 4, 700/(100*3) = 2: box to 325x350, then the filter.
        let boxed = downscale(src, 325, 350, Filter::Box).unwrap();
        let two_step = downscale(boxed.view(), 100, 100, Filter::CatmullRom).unwrap();
        assert_eq!(
            downscale_reducing(src, 100, 100, Filter::CatmullRom, 3).unwrap(),
            two_step
        );
        // Less than 2 x gap on both axes, or the box filter: one plain resize.
        for (tw, th, filter) in [(300, 200, Filter::Bilinear), (50, 50, Filter::Box)] {
            assert_eq!(
                downscale_reducing(src, tw, th, filter, 3).unwrap(),
                downscale(src, tw, th, filter).unwrap()
            );
        }
    }

    #[test]
    fn dct_reduction_follows_pillows_draft() {
        // 2880x1800 -> optimized 2160x1350: no whole reduction fits; -> a 400x250 thumbnail: 7x,
        // so 4 (8 would leave 360x225, below the target).
        assert_eq!(dct_reduction((2880, 1800), (2160, 1350)), 1);
        assert_eq!(dct_reduction((2880, 1800), (1440, 900)), 2);
        assert_eq!(dct_reduction((2880, 1800), (400, 250)), 4);
        assert_eq!(dct_reduction((2880, 1800), (360, 225)), 8);
        assert_eq!(dct_reduction((2880, 1800), (1, 1)), 8);
        // The tighter axis decides.
        assert_eq!(dct_reduction((1000, 100), (100, 60)), 1);
    }

    /// Mean absolute difference per byte between two equally sized RGB images.
    fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
        assert_eq!(a.len(), b.len());
        let total: u64 = a
            .iter()
            .zip(b)
            .map(|(x, y)| u64::from(x.abs_diff(*y)))
            .sum();
        total as f64 / a.len() as f64
    }

    fn decode_rgb(jpeg: &[u8]) -> turbojpeg::Image<Vec<u8>> {
        turbojpeg::decompress(jpeg, turbojpeg::PixelFormat::RGB).unwrap()
    }

    #[test]
    fn derived_tier_has_its_size_and_the_sources_content() {
        let (w, h) = (960, 600);
        let pixels = gradient(w, h, PixelFormat::Rgb);
        let frame = FrameRef::new(&pixels, w, h, w as usize * 3, PixelFormat::Rgb).unwrap();
        let source = encode_jpeg(frame, 95, Subsampling::S444).unwrap();
        // A 2x DCT reduction then a resize (480x300 -> 400x250), and one that is the DCT scale
        // exactly (240x150): both against the same sizes made from the pixels directly.
        for (tw, th) in [(400, 250), (240, 150), (700, 437)] {
            let derived =
                derive_jpeg(&source, tw, th, Filter::CatmullRom, 90, Subsampling::S444).unwrap();
            assert_eq!(jpeg_size(&derived).unwrap(), (tw, th));
            let reference = downscale(frame, tw, th, Filter::CatmullRom).unwrap();
            let decoded = decode_rgb(&derived);
            let diff = mean_abs_diff(&decoded.pixels, &reference.data);
            assert!(
                diff < 3.0,
                "{tw}x{th}: mean difference {diff} from the direct resize"
            );
        }
    }

    #[test]
    fn derived_tier_refuses_upscaling_and_bad_input() {
        let pixels = gradient(64, 48, PixelFormat::Rgb);
        let frame = FrameRef::new(&pixels, 64, 48, 64 * 3, PixelFormat::Rgb).unwrap();
        let source = encode_jpeg(frame, 85, Subsampling::S420).unwrap();
        assert_eq!(
            derive_jpeg(&source, 65, 10, Filter::CatmullRom, 85, Subsampling::S420),
            Err(ImageError::Upscale {
                source: (64, 48),
                target: (65, 10)
            })
        );
        assert!(matches!(
            derive_jpeg(
                b"not a jpeg",
                10,
                10,
                Filter::CatmullRom,
                85,
                Subsampling::S420
            ),
            Err(ImageError::Decode(_))
        ));
        assert_eq!(
            derive_jpeg(&source, 10, 10, Filter::CatmullRom, 0, Subsampling::S420),
            Err(ImageError::BadQuality(0))
        );
        assert!(derive_jpeg(&source, 0, 10, Filter::CatmullRom, 85, Subsampling::S420).is_err());
    }

    #[test]
    fn pooled_buffers_are_released() {
        assert!(release_buffers() <= BUFFER_POOL_MAX_BYTES);
    }

    #[test]
    fn batch_matches_one_by_one() {
        let frames: Vec<Vec<u8>> = (0..3)
            .map(|i| gradient(200 + i * 10, 120, PixelFormat::Bgra))
            .collect();
        let views: Vec<FrameRef<'_>> = frames
            .iter()
            .enumerate()
            .map(|(i, d)| FrameRef::packed(d, 200 + i as u32 * 10, 120, PixelFormat::Bgra).unwrap())
            .collect();
        let request = TierRequest::default();
        let batch = encode_tiers_batch(&views, &request);
        for (view, result) in views.iter().zip(batch) {
            assert_eq!(result.unwrap(), encode_tiers(*view, &request).unwrap());
        }
    }

    #[test]
    fn tiers_are_grouped_keeping_the_thumbnail_with_the_fast_frame() {
        use Tier::*;
        assert_eq!(
            tier_groups(&[Full, Optimized, Fast, Thumbnail]),
            vec![vec![Full], vec![Optimized], vec![Fast, Thumbnail]]
        );
        assert_eq!(
            tier_groups(&[Thumbnail, Full, Thumbnail, Fast]),
            vec![vec![Thumbnail, Fast], vec![Full]]
        );
        assert_eq!(
            tier_groups(&[Thumbnail, Optimized]),
            vec![vec![Thumbnail], vec![Optimized]]
        );
        assert!(tier_groups(&[]).is_empty());
    }

    #[test]
    fn tiers_spread_over_the_pool_give_what_one_call_gives() {
        let data = gradient(640, 400, PixelFormat::Bgra);
        let view = FrameRef::packed(&data, 640, 400, PixelFormat::Bgra).unwrap();
        let odd = gradient(33, 21, PixelFormat::Rgb);
        let small = FrameRef::packed(&odd, 33, 21, PixelFormat::Rgb).unwrap();
        for tiers in [
            Tier::ALL.to_vec(),
            vec![Tier::Thumbnail, Tier::Full, Tier::Fast, Tier::Thumbnail],
            vec![Tier::Optimized],
        ] {
            // A box small enough for the thumbnail to cascade from the fast frame.
            let request = TierRequest {
                tiers,
                thumbnail_box: (100, 75),
                ..TierRequest::default()
            };
            let split = encode_tiers_batch_split(&[view, small, view], &request, true);
            for (frame, result) in [view, small, view].iter().zip(split) {
                assert_eq!(result.unwrap(), encode_tiers(*frame, &request).unwrap());
            }
        }
        let bad = TierRequest {
            quality: 0,
            ..TierRequest::default()
        };
        let split = encode_tiers_batch_split(&[view], &bad, true);
        assert_eq!(split[0], encode_tiers(view, &bad));
    }
}
