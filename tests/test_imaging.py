"""Downscale and JPEG quality tiers, checked against Pillow as the reference.

Pillow decodes every output; sizes, downscaled pixels (box and bilinear, +-1) and the PSNR /
file size of every tier are compared with what Pillow's own pipeline makes from the same input
at the same filter, quality and subsampling. Inputs: a synthetic UI-like frame with coloured
text, and a photograph shipped inside the matplotlib wheel (no downloads).
"""

from __future__ import annotations

import io
import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont

import ironcliw_mem as m
from ironcliw_mem import _native as native

Array = npt.NDArray[np.uint8]

PIL_FILTERS = {
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "catmull-rom": Image.Resampling.BICUBIC,
    "lanczos3": Image.Resampling.LANCZOS,
}
PIL_SUBSAMPLING = {"444": 0, "422": 1, "420": 2}


def ui_image(width: int = 1440, height: int = 900) -> Image.Image:
    """A desktop-like RGB screenshot: window chrome, panels, coloured text of several sizes."""
    img = Image.new("RGB", (width, height), (236, 239, 244))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, width, 28), fill=(40, 44, 52))
    draw.rectangle((0, 28, 220, height), fill=(250, 250, 250))
    colours = [(200, 30, 30), (20, 120, 40), (30, 60, 200), (150, 40, 160), (0, 0, 0)]
    fonts = [ImageFont.load_default(size) for size in (11, 13, 16, 22)]
    y, line = 40, 0
    while y < height - 30:
        font = fonts[line % len(fonts)]
        colour = colours[line % len(colours)]
        text = f"{line:03d} def encode_tiers(frame, quality=85): # coloured text ~ {line * 37}"
        draw.text((240, y), text, fill=colour, font=font)
        draw.text((12, y), f"item {line}", fill=colours[(line + 2) % 5], font=fonts[0])
        y += int(font.size) + 8
        line += 1
    for i in range(6):
        x0 = 900 + i * 80
        draw.rectangle((x0, 60, x0 + 60, 140), fill=colours[i % 5], outline=(0, 0, 0))
    draw.ellipse((1100, 500, 1380, 780), outline=(220, 120, 0), width=5)
    return img


def photo_image() -> Image.Image:
    """grace_hopper.jpg from matplotlib's mpl-data: a photograph shipped inside the wheel."""
    matplotlib = pytest.importorskip("matplotlib")
    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    with Image.open(path) as img:
        return img.convert("RGB")


def bgra(img: Image.Image) -> Array:
    """An RGB Pillow image as a BGRA array (what CGImage / mss give)."""
    rgb = np.asarray(img.convert("RGB"))
    alpha = np.full((*rgb.shape[:2], 1), 255, np.uint8)
    return np.ascontiguousarray(np.concatenate([rgb[..., ::-1], alpha], axis=2))


def pil_bgrx(frame: Array) -> Image.Image:
    """Pillow's fastest path for a BGRA frame: the raw BGRX decoder, alpha ignored."""
    h, w = frame.shape[:2]
    return Image.frombuffer("RGB", (w, h), frame, "raw", "BGRX", 0, 1)


def rgb_of_bgra(frame: Array) -> Array:
    return np.ascontiguousarray(frame[..., 2::-1])


def decode(jpeg: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(jpeg))
    assert img.format == "JPEG"
    img.load()
    return img


def psnr(a: Array, b: Array) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def pil_jpeg(img: Image.Image, quality: int, subsampling: str) -> bytes:
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality, subsampling=PIL_SUBSAMPLING[subsampling])
    return out.getvalue()


@pytest.fixture(scope="module")
def ui() -> Array:
    return bgra(ui_image())


@pytest.fixture(scope="module")
def ui_large() -> Array:
    """A Retina-sized frame: its thumbnail is cut from the fast tier (the cascade)."""
    return bgra(ui_image(2880, 1800))


@pytest.fixture(scope="module")
def photo() -> Array:
    return bgra(photo_image())


# --- sizes -----------------------------------------------------------------------------------


def sample_sizes() -> Iterator[tuple[int, int]]:
    rng = np.random.default_rng(4)
    yield from [(2880, 1800), (5120, 2880), (1800, 2880), (400, 300), (401, 301), (1, 1)]
    yield from [(10_000, 1), (1, 10_000), (399, 2000), (2000, 299), (800, 600), (1366, 768)]
    for _ in range(300):
        yield int(rng.integers(1, 6000)), int(rng.integers(1, 6000))


@pytest.mark.parametrize("box", [(400, 300), (300, 400), (128, 128), (1, 1), (641, 479)])
def test_thumbnail_size_equals_pillow_thumbnail(box: tuple[int, int]) -> None:
    for w, h in sample_sizes():
        img = Image.new("L", (w, h))
        img.thumbnail(box)
        assert m.tier_size("thumbnail", w, h, box) == img.size, (w, h, box)


def test_scaled_tiers_truncate_like_int() -> None:
    for w, h in sample_sizes():
        assert m.tier_size("full", w, h) == (w, h)
        assert m.tier_size("optimized", w, h) == (max(1, int(w * 0.75)), max(1, int(h * 0.75)))
        assert m.tier_size("fast", w, h) == (max(1, int(w * 0.5)), max(1, int(h * 0.5)))


def test_build_reports_the_imaging_backend() -> None:
    assert "imaging" in m.BUILD_FEATURES
    assert "jpeg:libjpeg-turbo" in m.BUILD_FEATURES
    assert m.TIERS == ["full", "optimized", "fast", "thumbnail"]
    assert set(m.PIXEL_FORMATS) == {"BGRA", "RGBA", "BGRX", "RGBX", "RGB", "BGR"}


def test_every_tier_decodes_at_its_size(ui: Array, photo: Array) -> None:
    for frame in (ui, photo):
        h, w = frame.shape[:2]
        tiers = m.encode_tiers(frame)
        assert list(tiers) == ["full", "optimized", "fast", "thumbnail"]
        for name, tier in tiers.items():
            assert tier.tier == name
            assert tier.nbytes == len(tier.jpeg)
            assert (tier.quality, tier.subsampling) == (85, "420")
            img = decode(tier.jpeg)
            assert img.size == (tier.width, tier.height) == m.tier_size(name, w, h)
            assert img.mode == "RGB"


def test_tiers_keep_the_order_asked_and_accept_enum_like_values(ui: Array) -> None:
    class Quality:
        def __init__(self, value: str) -> None:
            self.value = value

    tiers = m.encode_tiers(ui, tiers=[Quality("thumbnail"), "full", "thumbnail"])
    assert list(tiers) == ["thumbnail", "full"]
    assert list(m.encode_tiers(ui, tiers="fast")) == ["fast"]
    assert m.encode_tiers(ui, tiers=[]) == {}


# --- pixels against Pillow -------------------------------------------------------------------


TARGETS = [(0.75, 0.75), (0.5, 0.5), (0.31, 0.43), (0.9, 0.2)]


@pytest.mark.parametrize("filter_name", ["box", "bilinear"])
@pytest.mark.parametrize("which", ["ui", "photo"])
def test_downscale_within_one_of_pillow(
    filter_name: str, which: str, request: pytest.FixtureRequest
) -> None:
    frame: Array = request.getfixturevalue(which)
    h, w = frame.shape[:2]
    pil = pil_bgrx(frame)
    for sx, sy in [*TARGETS, (400 / w, 250 / h)]:
        size = (max(1, int(w * sx)), max(1, int(h * sy)))
        ours = m.downscale(frame, *size, filter=filter_name)
        assert ours.shape == (size[1], size[0], 4)
        theirs = np.asarray(pil.resize(size, PIL_FILTERS[filter_name]))
        diff = np.abs(rgb_of_bgra(ours).astype(int) - theirs.astype(int))
        assert diff.max() <= 1, (size, int(diff.max()))
        # RGB input, Pillow RGB image: the same.
        rgb = rgb_of_bgra(frame)
        ours_rgb = m.downscale(rgb, *size, filter=filter_name)
        theirs_rgb = np.asarray(Image.fromarray(rgb).resize(size, PIL_FILTERS[filter_name]))
        assert np.abs(ours_rgb.astype(int) - theirs_rgb.astype(int)).max() <= 1


@pytest.mark.parametrize("filter_name", ["catmull-rom", "lanczos3"])
def test_sharper_filters_track_pillow(filter_name: str, ui: Array) -> None:
    """Kernels with negative lobes overshoot at sharp edges and the intermediate row is clipped
    to 0..255; fast_image_resize runs the vertical pass first, Pillow the horizontal one, so a
    few edge pixels differ by more than 1. Single-axis resizes have no intermediate: +-1."""
    h, w = ui.shape[:2]
    pil = pil_bgrx(ui)
    for size in ((w, h // 2), (w // 3, h)):
        ours = rgb_of_bgra(m.downscale(ui, *size, filter=filter_name))
        theirs = np.asarray(pil.resize(size, PIL_FILTERS[filter_name]))
        assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1
    size = (int(w * 0.75), int(h * 0.75))
    ours = rgb_of_bgra(m.downscale(ui, *size, filter=filter_name))
    theirs = np.asarray(pil.resize(size, PIL_FILTERS[filter_name]))
    diff = np.abs(ours.astype(int) - theirs.astype(int))
    assert (diff > 1).mean() < 0.01, float((diff > 1).mean())
    assert psnr(ours, theirs) > 40


def test_downscale_returns_a_fresh_writable_array(ui: Array) -> None:
    out = m.downscale(ui, 100, 60, filter="box")
    assert out.dtype == np.uint8
    assert out.flags.writeable
    assert out.flags.c_contiguous
    out[:] = 0
    assert m.downscale(ui, 100, 60, filter="box").any()
    same = m.downscale(ui, ui.shape[1], ui.shape[0])
    assert np.array_equal(same, ui)


# --- encoded tiers against Pillow's own pipeline ---------------------------------------------


@pytest.mark.parametrize("subsampling", ["420", "422", "444"])
@pytest.mark.parametrize("quality", [85, 60])
@pytest.mark.parametrize(
    ("which", "filter_name"),
    [("ui", "bilinear"), ("ui_large", "bilinear"), ("ui_large", "catmull-rom"), ("photo", "box")],
)
def test_tiers_match_pillow_pipeline(
    subsampling: str, quality: int, which: str, filter_name: str, request: pytest.FixtureRequest
) -> None:
    frame: Array = request.getfixturevalue(which)
    h, w = frame.shape[:2]
    pil = pil_bgrx(frame)
    ours = m.encode_tiers(frame, quality=quality, subsampling=subsampling, filter=filter_name)
    for name, tier in ours.items():
        size = m.tier_size(name, w, h)
        # Reference: Pillow's lossless resize of the source to the tier's size.
        reference = pil if size == (w, h) else pil.resize(size, PIL_FILTERS[filter_name])
        ref = np.asarray(reference)
        theirs_jpeg = pil_jpeg(reference, quality, subsampling)
        theirs_psnr = psnr(np.asarray(decode(theirs_jpeg)), ref)
        ours_psnr = psnr(np.asarray(decode(tier.jpeg)), ref)
        assert ours_psnr >= theirs_psnr - 0.5, (name, ours_psnr, theirs_psnr)
        assert abs(tier.nbytes / len(theirs_jpeg) - 1) <= 0.05, (
            name,
            tier.nbytes,
            len(theirs_jpeg),
        )


@pytest.mark.parametrize("filter_name", ["bilinear", "catmull-rom", "lanczos3"])
@pytest.mark.parametrize(("width", "height"), [(2880, 1800), (5120, 2880)])
def test_thumbnail_alone_matches_pillow(filter_name: str, width: int, height: int) -> None:
    """Without the fast tier the thumbnail is box-reduced by an integer factor first (Pillow's
    reducing_gap); it must still look like Pillow's one-step resize."""
    frame = bgra(ui_image(width, height))
    size = m.tier_size("thumbnail", width, height)
    tier = m.encode_tiers(frame, tiers="thumbnail", filter=filter_name)["thumbnail"]
    reference = pil_bgrx(frame).resize(size, PIL_FILTERS[filter_name])
    ref = np.asarray(reference)
    theirs = pil_jpeg(reference, 85, "420")
    ours_psnr = psnr(np.asarray(decode(tier.jpeg)), ref)
    assert ours_psnr >= psnr(np.asarray(decode(theirs)), ref) - 0.5
    assert abs(tier.nbytes / len(theirs) - 1) <= 0.05


def test_encode_jpeg_equals_pillow_bytes_for_the_same_pixels(ui: Array) -> None:
    for subsampling in ("420", "422", "444"):
        ours = m.encode_jpeg(ui, quality=85, subsampling=subsampling)
        theirs = pil_jpeg(pil_bgrx(ui), 85, subsampling)
        assert abs(len(ours) / len(theirs) - 1) <= 0.05
        ref = rgb_of_bgra(ui)
        assert psnr(np.asarray(decode(ours)), ref) >= psnr(np.asarray(decode(theirs)), ref) - 0.5


def test_subsampling_is_applied(ui: Array) -> None:
    sizes = [len(m.encode_jpeg(ui, 85, s)) for s in ("420", "422", "444")]
    assert sizes[0] < sizes[1] < sizes[2]
    assert len(m.encode_jpeg(ui, 30)) < len(m.encode_jpeg(ui, 95))


# --- inputs: formats, raw buffers, strides ---------------------------------------------------


def test_every_pixel_format_gives_the_same_jpeg(ui: Array) -> None:
    rgb = rgb_of_bgra(ui)
    x = np.full((*rgb.shape[:2], 1), 7, np.uint8)  # padding byte that must be ignored
    layouts = {
        "BGRA": ui,
        "RGBA": np.concatenate([rgb, ui[..., 3:]], axis=2),
        "BGRX": np.concatenate([ui[..., :3], x], axis=2),
        "RGBX": np.concatenate([rgb, x], axis=2),
        "RGB": rgb,
        "BGR": np.ascontiguousarray(ui[..., :3]),
    }
    expected = m.encode_jpeg(ui, 85, "444")
    for fmt, arr in layouts.items():
        frame = m.Frame(np.ascontiguousarray(arr), pixel_format=fmt)  # type: ignore[arg-type]
        assert frame.pixel_format == fmt
        assert not frame.copied
        assert m.encode_jpeg(frame, 85, "444") == expected, fmt


def test_rgba_with_transparency_encodes() -> None:
    rgba = np.zeros((64, 80, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = np.arange(80, dtype=np.uint8)[None, :]
    img = decode(m.encode_jpeg(m.Frame(rgba, pixel_format="RGBA")))
    assert img.size == (80, 64)
    assert abs(int(np.asarray(img)[..., 0].mean()) - 200) <= 2


def test_raw_bytes_with_padded_stride(ui: Array) -> None:
    h, w = ui.shape[:2]
    stride = w * 4 + 64
    padded = np.zeros((h, stride), np.uint8)
    padded[:, : w * 4] = ui.reshape(h, w * 4)
    expected = m.encode_jpeg(ui)
    for data in (padded.tobytes(), bytearray(padded.tobytes()), memoryview(padded.tobytes())):
        frame = m.Frame(data, width=w, height=h, stride=stride, pixel_format="BGRA")
        assert (frame.width, frame.height, frame.stride, frame.copied) == (w, h, stride, False)
        assert m.encode_jpeg(frame) == expected
        assert np.array_equal(m.downscale(frame, 300, 200), m.downscale(ui, 300, 200))
    packed = m.Frame(ui.tobytes(), width=w, height=h)
    assert packed.stride == w * 4
    assert packed.pixel_format == "BGRA"
    assert m.encode_jpeg(packed) == expected


def test_strided_arrays(ui: Array) -> None:
    w = ui.shape[1]
    cropped = ui[10:500, 20:700]  # rows of packed pixels: used in place
    frame = m.Frame(cropped)
    assert not frame.copied
    assert frame.stride == w * 4
    assert m.encode_jpeg(frame) == m.encode_jpeg(np.ascontiguousarray(cropped))
    assert np.array_equal(m.downscale(cropped, 200, 100), m.downscale(cropped.copy(), 200, 100))
    for view in (ui[::2, ::2], ui[::-1], ui[..., ::-1], np.asfortranarray(ui)):
        frame = m.Frame(view)
        assert frame.copied
        assert m.encode_jpeg(view) == m.encode_jpeg(np.ascontiguousarray(view))


@settings(max_examples=150, deadline=None)
@given(
    width=st.integers(1, 40),
    height=st.integers(1, 30),
    pad=st.integers(0, 9),
    fmt=st.sampled_from(["BGRA", "RGBA", "BGRX", "RGBX", "RGB", "BGR"]),
    filter_name=st.sampled_from(["box", "bilinear", "catmull-rom", "lanczos3"]),
    data=st.data(),
)
def test_any_raw_geometry_equals_the_packed_array(
    width: int, height: int, pad: int, fmt: str, filter_name: str, data: st.DataObject
) -> None:
    channels = len(fmt)
    pixels = np.random.default_rng(width * 1000 + height).integers(
        0, 256, (height, width, channels), dtype=np.uint8
    )
    stride = width * channels + pad
    raw = np.zeros((height, stride), np.uint8)
    raw[:, : width * channels] = pixels.reshape(height, -1)
    frame = m.Frame(raw.tobytes(), width=width, height=height, stride=stride, pixel_format=fmt)  # type: ignore[arg-type]
    packed = m.Frame(pixels, pixel_format=fmt)  # type: ignore[arg-type]
    tw = data.draw(st.integers(1, width))
    th = data.draw(st.integers(1, height))
    got = m.downscale(frame, tw, th, filter=filter_name)  # type: ignore[arg-type]
    assert got.shape == (th, tw, channels)
    assert np.array_equal(got, m.downscale(packed, tw, th, filter=filter_name))  # type: ignore[arg-type]
    assert m.encode_jpeg(frame, 90, "444") == m.encode_jpeg(packed, 90, "444")
    tiers = m.encode_tiers(frame, thumbnail_size=(7, 5), filter=filter_name)  # type: ignore[arg-type]
    for name, tier in tiers.items():
        assert decode(tier.jpeg).size == m.tier_size(name, width, height, (7, 5))
    # One byte short of height x stride is refused, never read past.
    with pytest.raises(ValueError, match="height x stride"):
        m.Frame(raw.tobytes()[:-1], width=width, height=height, stride=stride, pixel_format=fmt)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(
    rows=st.tuples(st.integers(0, 20), st.integers(1, 30), st.sampled_from([1, 2, 3, -1])),
    cols=st.tuples(st.integers(0, 20), st.integers(1, 40), st.sampled_from([1, 2, -1])),
    channels=st.sampled_from([slice(None), slice(None, None, -1), slice(0, 3)]),
)
def test_any_numpy_view_equals_its_contiguous_copy(
    rows: tuple[int, int, int], cols: tuple[int, int, int], channels: slice
) -> None:
    base = np.random.default_rng(7).integers(0, 256, (60, 70, 4), dtype=np.uint8)

    def axis(start: int, count: int, step: int) -> slice:
        """`count` items from `start` every `step` (backwards when step is -1)."""
        return (
            slice(start + count, start, -1)
            if step < 0
            else slice(start, start + count * step, step)
        )

    view = base[axis(*rows), axis(*cols), channels]
    dense = np.ascontiguousarray(view)
    assert m.encode_jpeg(view, 90, "444") == m.encode_jpeg(dense, 90, "444")
    h, w = view.shape[:2]
    tw, th = max(1, w // 2), max(1, h // 3)
    assert np.array_equal(m.downscale(view, tw, th), m.downscale(dense, tw, th))


def test_contiguous_array_is_used_in_place() -> None:
    arr = np.zeros((32, 32, 4), np.uint8)
    frame = m.Frame(arr)
    arr[...] = 255
    assert m.downscale(frame, 8, 8).min() == 255


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.zeros((10, 10, 4), np.float32), "uint8"),
        (np.zeros((10, 10, 4), np.uint16), "uint8"),
        (np.zeros((10, 10, 4), np.int8), "uint8"),
        (np.zeros((10, 40), np.uint8), "(H, W, 3) or (H, W, 4)"),
        (np.zeros((2, 10, 10, 4), np.uint8), "(H, W, 3) or (H, W, 4)"),
        (np.zeros((10, 10, 2), np.uint8), "(H, W, 3) or (H, W, 4)"),
        (np.zeros((10, 10, 5), np.uint8), "(H, W, 3) or (H, W, 4)"),
        (np.zeros((0, 10, 4), np.uint8), "between 1 and"),
        (np.zeros((10, 0, 3), np.uint8), "between 1 and"),
        (b"\0" * 400, "width= and height="),
    ],
)
def test_bad_arrays_raise_value_error(data: object, message: str) -> None:
    pattern = re.escape(message)
    with pytest.raises(ValueError, match=pattern):
        m.encode_jpeg(data)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=pattern):
        m.encode_tiers(data)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=pattern):
        m.downscale(data, 4, 4)  # type: ignore[arg-type]


@pytest.mark.parametrize("data", [[1, 2, 3], "pixels", None, 42])
def test_non_buffers_raise_type_error(data: object) -> None:
    with pytest.raises(TypeError, match="numpy uint8 array"):
        m.encode_jpeg(data)  # type: ignore[arg-type]


def test_bad_raw_geometry() -> None:
    data = bytes(10 * 10 * 4)
    with pytest.raises(ValueError, match="height x stride"):
        m.Frame(data, width=10, height=11)
    with pytest.raises(ValueError, match="height x stride"):
        m.Frame(data, width=10, height=10, stride=41)
    with pytest.raises(ValueError, match="stride must be at least"):
        m.Frame(data, width=10, height=10, stride=39)
    with pytest.raises(ValueError, match="stride must be between 1 and"):
        m.Frame(data, width=10, height=10, stride=-40)
    with pytest.raises(ValueError, match="between 1 and"):
        m.Frame(data, width=0, height=10)
    with pytest.raises(ValueError, match="between 1 and"):
        m.Frame(data, width=70_000, height=1)
    with pytest.raises(ValueError, match="between 1 and"):
        m.Frame(data, width=10, height=-1)
    with pytest.raises(ValueError, match="width= and height="):
        m.Frame(data, width=10)
    with pytest.raises(ValueError, match="pixel_format must be one of"):
        m.Frame(data, width=10, height=10, pixel_format="ARGB")  # type: ignore[arg-type]
    assert m.Frame(data, width=10, height=10, pixel_format="rgb").channels == 3  # type: ignore[arg-type]


def test_array_geometry_conflicts() -> None:
    arr = np.zeros((10, 12, 4), np.uint8)
    with pytest.raises(ValueError, match="bytes per pixel"):
        m.Frame(arr, pixel_format="RGB")
    with pytest.raises(ValueError, match="contradicts"):
        m.Frame(arr, width=10)
    with pytest.raises(ValueError, match="stride"):
        m.Frame(arr, stride=48)
    assert m.Frame(arr, width=12, height=10).width == 12


def test_bad_parameters(ui: Array) -> None:
    small = ui[:64, :64]
    for quality in (0, 101, -5, 1000):
        with pytest.raises(ValueError, match="quality must be between 1 and 100"):
            m.encode_jpeg(small, quality=quality)
        with pytest.raises(ValueError, match="quality must be between 1 and 100"):
            m.encode_tiers(small, quality=quality)
    for sub in ("411", "", "4:4:0"):
        with pytest.raises(ValueError, match="subsampling must be one of"):
            m.encode_jpeg(small, subsampling=sub)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="filter must be one of"):
        m.downscale(small, 8, 8, filter="nearest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tier must be one of"):
        m.encode_tiers(small, tiers=["full", "huge"])
    with pytest.raises(TypeError, match="tier names"):
        m.encode_tiers(small, tiers=[1])  # type: ignore[list-item]
    for box in ((0, 300), (400, 0), (-1, 5)):
        with pytest.raises(ValueError, match="thumbnail_size"):
            m.encode_tiers(small, thumbnail_size=box)
    for size in ((0, 8), (8, 0), (70_000, 8)):
        with pytest.raises(ValueError, match="between 1 and"):
            m.downscale(small, *size)
    for size in ((65, 64), (64, 65), (60_000, 60_000)):
        with pytest.raises(ValueError, match="must fit within the source 64x64"):
            m.downscale(small, *size)
    with pytest.raises(TypeError):
        m.encode_tiers_batch(b"not frames")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="uint8"):
        m.encode_tiers_batch([small, np.zeros((4, 4, 4), np.float64)])
    assert decode(m.encode_jpeg(small, quality=1)).size == (64, 64)
    assert decode(m.encode_jpeg(small, quality=100)).size == (64, 64)


def test_tier_buffers_are_pooled_and_released(ui: Array) -> None:
    m.release_image_buffers()
    assert m.release_image_buffers() == 0
    first = m.encode_tiers(ui)
    pooled = m.release_image_buffers()
    assert 0 < pooled <= m.IMAGE_BUFFER_POOL_MAX_BYTES
    m.encode_tiers(ui)
    again = m.encode_tiers(ui)  # drawn from the pool: the same bytes
    assert {k: t.jpeg for k, t in again.items()} == {k: t.jpeg for k, t in first.items()}


# --- batch and the GIL -----------------------------------------------------------------------


def test_batch_equals_one_by_one(ui: Array, photo: Array) -> None:
    frames = [ui, photo, ui[::-1], m.Frame(rgb_of_bgra(photo))]
    batch = m.encode_tiers_batch(frames, quality=70, subsampling="444", filter="box")
    assert len(batch) == len(frames)
    for frame, result in zip(frames, batch, strict=True):
        single = m.encode_tiers(frame, quality=70, subsampling="444", filter="box")
        assert list(result) == list(single)
        for name in single:
            assert result[name].jpeg == single[name].jpeg
    assert m.encode_tiers_batch([]) == []


@pytest.fixture
def no_forced_switches() -> Iterator[None]:
    """With a huge switch interval a thread that holds the GIL keeps it: another thread runs only
    when the holder releases the GIL itself."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


@pytest.mark.usefixtures("no_forced_switches")
def test_gil_is_released_during_pixel_work() -> None:
    big = np.random.default_rng(1).integers(0, 255, (2880, 5120, 4), dtype=np.uint8)
    ticks = [0]
    stop = threading.Event()

    def ticker() -> None:
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0.0002)  # sleeping releases the GIL, so the caller can take it back

    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        time.sleep(0.01)
        calls = {
            "encode_tiers": lambda: m.encode_tiers(big),
            "encode_tiers_batch": lambda: m.encode_tiers_batch([big, big]),
            "encode_jpeg": lambda: m.encode_jpeg(big, 95, "444"),
            "downscale": lambda: m.downscale(big, 4000, 2000, filter="lanczos3"),
            "strided copy": lambda: m.Frame(big[::-1, ::-1]),
        }
        for name, call in calls.items():
            before = ticks[0]
            # A few tries: on a busy machine the ticker may not be scheduled during one short
            # call even with the GIL free. A call that holds the GIL never lets it tick.
            for _ in range(5):
                call()
                if ticks[0] > before:
                    break
            assert ticks[0] > before, f"{name} held the GIL: no other thread ran"
    finally:
        stop.set()
        thread.join()


def test_a_huge_broadcast_view_is_refused_not_copied() -> None:
    # 4 bytes of memory that describe a 17 GB frame: copying it must be an error, not an abort.
    huge = np.broadcast_to(np.zeros((1, 1, 4), np.uint8), (65500, 65500, 4))
    with pytest.raises(ValueError, match="would have to be copied"):
        m.encode_jpeg(huge, 85)
    small = np.broadcast_to(np.full((1, 1, 3), 200, np.uint8), (64, 64, 3))
    assert Image.open(io.BytesIO(m.encode_jpeg(small, 85))).size == (64, 64)


# --- a lower tier derived from a higher tier's JPEG ----------------------------------------------


def _pillow_derivation(jpeg: bytes, width: int, height: int, quality: int) -> Array:
    """Today's path before `derive_jpeg`: Pillow's draft decode, the Rust resize, decoded back."""
    with Image.open(io.BytesIO(jpeg)) as image:
        image.draft("RGB", (width, height))
        pixels = np.asarray(image.convert("RGB"))
    if (pixels.shape[1], pixels.shape[0]) != (width, height):
        pixels = m.downscale(pixels, width, height, filter="catmull-rom")
    return np.asarray(decode(m.encode_jpeg(pixels, quality, "444")).convert("RGB"))


@pytest.mark.parametrize("tier", ["fast", "thumbnail", "optimized"])
def test_derive_jpeg_matches_the_pillow_decode_path(ui_large: Array, tier: str) -> None:
    height, width = ui_large.shape[:2]
    source = m.encode_tiers(ui_large, tiers=["full"], quality=90, subsampling="444")["full"].jpeg
    target = m.tier_size(tier, width, height)
    derived = native.derive_jpeg(source, *target, quality=85, subsampling="444")
    assert derived is not None
    image = decode(derived)
    assert image.size == target
    reference = _pillow_derivation(source, *target, quality=85)
    assert psnr(np.asarray(image.convert("RGB")), reference) > 40
    # And it shows the frame: against the tier made from the pixels themselves.
    direct = m.encode_tiers(ui_large, tiers=[tier], quality=85, subsampling="444")[tier].jpeg
    assert psnr(np.asarray(image.convert("RGB")), np.asarray(decode(direct).convert("RGB"))) > 28


def test_derive_jpeg_reads_a_buffer_in_place_and_refuses_upscaling(ui: Array) -> None:
    jpeg = m.encode_jpeg(ui, 85, "420")
    height, width = ui.shape[:2]
    padded = b"header" + jpeg
    from_view = native.derive_jpeg(memoryview(padded)[6:], width // 2, height // 2)
    assert from_view == native.derive_jpeg(jpeg, width // 2, height // 2)
    assert native.derive_jpeg(jpeg, width + 1, height) is None


def test_derive_jpeg_rejects_bad_input_clearly(ui: Array) -> None:
    jpeg = m.encode_jpeg(ui, 85, "420")
    with pytest.raises(ValueError, match="JPEG decoding failed"):
        native.derive_jpeg(b"not a jpeg at all", 10, 10)
    with pytest.raises(TypeError, match="bytes-like buffer"):
        native.derive_jpeg("text", 10, 10)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"quality must be between 1 and 100"):
        native.derive_jpeg(jpeg, 10, 10, quality=0)
    with pytest.raises(ValueError, match="width must be between 1"):
        native.derive_jpeg(jpeg, 0, 10)
    with pytest.raises(ValueError, match="filter must be one of"):
        native.derive_jpeg(jpeg, 10, 10, filter="nearest")  # type: ignore[arg-type]
