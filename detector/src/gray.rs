//! 8-bit grey images and the few operations the detector needs on them:
//! decoding with bounds, resizing, blurring and trimming margins. Written
//! here rather than taken from `imageproc` so the Lambda carries only the
//! `image` codecs, and so every step's cost is visible.

use crate::VisionError;
use std::io::Cursor;

/// Images larger than this (either side) are refused before decoding, so a
/// hostile or mistaken upload can never make the detector allocate without
/// bound. The worst case we must take: IVS thumbnails (at most 1920x1080),
/// and catalog references or test photos, which may come from a phone
/// (4032x3024) or a camera (4288x2848). Memory is bounded by
/// [`MAX_PIXELS`]; the side only keeps a strip of pixels out.
pub const MAX_SIDE: u32 = 8192;
/// Decoded pixels allowed at most (16 Mpx, about 64 MB as RGBA while
/// decoding). An 8192x8192 PNG of one colour is 200 KB on the wire and
/// would have taken 270 MB.
pub const MAX_PIXELS: u64 = 4096 * 4096;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gray {
    pub w: usize,
    pub h: usize,
    pub px: Vec<u8>,
}

impl Gray {
    pub fn new(w: usize, h: usize) -> Self {
        Self {
            w,
            h,
            px: vec![0; w * h],
        }
    }

    #[inline]
    pub fn at(&self, x: usize, y: usize) -> u8 {
        self.px[y * self.w + x]
    }

    /// Luma of an RGB image (Rec. 601 weights, as JPEG's Y).
    pub fn from_rgb(w: usize, h: usize, rgb: &[u8]) -> Self {
        let px = rgb
            .chunks_exact(3)
            .map(|p| ((p[0] as u32 * 77 + p[1] as u32 * 150 + p[2] as u32 * 29 + 128) >> 8) as u8)
            .collect();
        Self { w, h, px }
    }

    /// Grey of any decoded image. One with transparency (logo files usually
    /// come as transparent PNGs) is laid on the ground that contrasts with
    /// its own outer edge, so the logo's outline stays visible: a black mark
    /// on transparency goes on white, a white one on black. Read as plain
    /// luma, transparent pixels would be black and a black mark would vanish.
    pub fn from_dynamic(img: &image::DynamicImage) -> Self {
        if !img.color().has_alpha() {
            let luma = img.to_luma8();
            return Self {
                w: luma.width() as usize,
                h: luma.height() as usize,
                px: luma.into_raw(),
            };
        }
        let rgba = img.to_rgba8();
        let (w, h) = (rgba.width() as usize, rgba.height() as usize);
        let px: Vec<[u8; 4]> = rgba.pixels().map(|p| p.0).collect();
        let luma = |p: [u8; 4]| {
            ((p[0] as u32 * 77 + p[1] as u32 * 150 + p[2] as u32 * 29 + 128) >> 8) as u8
        };
        let ground = ground_for_outline(w, h, &px, luma);
        let px = px
            .iter()
            .map(|&p| {
                let a = p[3] as u32;
                ((luma(p) as u32 * a + ground as u32 * (255 - a) + 127) / 255) as u8
            })
            .collect();
        Self { w, h, px }
    }

    /// Bilinear sample at (x, y) in pixel-centre coordinates; `None` outside.
    #[inline]
    pub fn sample(&self, x: f32, y: f32) -> Option<f32> {
        if !(x >= 0.0 && y >= 0.0) {
            return None;
        }
        let (x0, y0) = (x as usize, y as usize);
        if x0 + 1 >= self.w || y0 + 1 >= self.h {
            return None;
        }
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let i = y0 * self.w + x0;
        let p = &self.px;
        let top = p[i] as f32 * (1.0 - fx) + p[i + 1] as f32 * fx;
        let bottom = p[i + self.w] as f32 * (1.0 - fx) + p[i + self.w + 1] as f32 * fx;
        Some(top * (1.0 - fy) + bottom * fy)
    }

    /// Half size, each pixel the mean of a 2x2 block.
    pub fn halve(&self) -> Gray {
        let (w, h) = (self.w / 2, self.h / 2);
        let mut out = Gray::new(w, h);
        for y in 0..h {
            let (r0, r1) = (2 * y * self.w, (2 * y + 1) * self.w);
            for x in 0..w {
                let s = self.px[r0 + 2 * x] as u32
                    + self.px[r0 + 2 * x + 1] as u32
                    + self.px[r1 + 2 * x] as u32
                    + self.px[r1 + 2 * x + 1] as u32;
                out.px[y * w + x] = ((s + 2) / 4) as u8;
            }
        }
        out
    }

    /// Resized to `w`x`h`: halved while that stays at or above the target
    /// (area averaging, no aliasing), then bilinear.
    pub fn resize(&self, w: usize, h: usize) -> Gray {
        let mut src = std::borrow::Cow::Borrowed(self);
        while src.w / 2 >= w && src.h / 2 >= h && src.w >= 4 && src.h >= 4 {
            src = std::borrow::Cow::Owned(src.halve());
        }
        if src.w == w && src.h == h {
            return src.into_owned();
        }
        bilinear(&src, w.max(1), h.max(1))
    }

    /// Gaussian blur (separable, clamped edges).
    pub fn blur(&self, sigma: f32) -> Gray {
        if sigma < 0.3 || self.w == 0 || self.h == 0 {
            return self.clone();
        }
        let kernel = gaussian_kernel(sigma);
        let r = kernel.len() / 2;
        let (w, h) = (self.w, self.h);
        let mut tmp = vec![0u32; w * h];
        for y in 0..h {
            let row = &self.px[y * w..(y + 1) * w];
            for x in 0..w {
                let mut acc = 0u32;
                for (k, kv) in kernel.iter().enumerate() {
                    let xx = (x + k).saturating_sub(r).min(w - 1);
                    acc += row[xx] as u32 * kv;
                }
                tmp[y * w + x] = acc;
            }
        }
        let mut out = Gray::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0u64;
                for (k, kv) in kernel.iter().enumerate() {
                    let yy = (y + k).saturating_sub(r).min(h - 1);
                    acc += tmp[yy * w + x] as u64 * *kv as u64;
                }
                out.px[y * w + x] = ((acc + (1 << 23)) >> 24) as u8;
            }
        }
        out
    }

    /// The image inside a margin of `pad` pixels, each the nearest edge
    /// pixel's value.
    pub fn padded(&self, pad: usize) -> Gray {
        let (w, h) = (self.w + 2 * pad, self.h + 2 * pad);
        let mut out = Gray::new(w, h);
        if self.w == 0 || self.h == 0 {
            return out;
        }
        for y in 0..h {
            let sy = y.saturating_sub(pad).min(self.h - 1);
            for x in 0..w {
                let sx = x.saturating_sub(pad).min(self.w - 1);
                out.px[y * w + x] = self.px[sy * self.w + sx];
            }
        }
        out
    }

    /// The image without its margins: rows and columns at the edges that are
    /// all within a few grey levels of the corner colour. Reference images
    /// are often a logo on a large plain canvas; the canvas is not the product.
    pub fn trim(&self) -> Gray {
        if self.w < 3 || self.h < 3 {
            return self.clone();
        }
        let bg = self.at(0, 0) as i32;
        let plain = |v: u8| (v as i32 - bg).abs() <= 12;
        let row_plain = |y: usize| {
            self.px[y * self.w..(y + 1) * self.w]
                .iter()
                .all(|&v| plain(v))
        };
        let col_plain = |x: usize, y0: usize, y1: usize| (y0..y1).all(|y| plain(self.at(x, y)));
        let mut y0 = 0;
        while y0 < self.h && row_plain(y0) {
            y0 += 1;
        }
        let mut y1 = self.h;
        while y1 > y0 && row_plain(y1 - 1) {
            y1 -= 1;
        }
        if y1 <= y0 {
            return self.clone();
        }
        let mut x0 = 0;
        while x0 < self.w && col_plain(x0, y0, y1) {
            x0 += 1;
        }
        let mut x1 = self.w;
        while x1 > x0 && col_plain(x1 - 1, y0, y1) {
            x1 -= 1;
        }
        // Keep a small margin: keypoints and the verification need the
        // logo's outer edges, which sit against the canvas.
        let pad = ((x1 - x0).max(y1 - y0) / 20).max(2);
        let (x0, y0) = (x0.saturating_sub(pad), y0.saturating_sub(pad));
        let (x1, y1) = ((x1 + pad).min(self.w), (y1 + pad).min(self.h));
        let mut out = Gray::new(x1 - x0, y1 - y0);
        for y in y0..y1 {
            out.px[(y - y0) * out.w..(y - y0 + 1) * out.w]
                .copy_from_slice(&self.px[y * self.w + x0..y * self.w + x1]);
        }
        out
    }
}

/// Bilinear resampling with per-column weights computed once and 8-bit
/// fixed-point arithmetic: the pyramid resamples millions of pixels a frame.
fn bilinear(src: &Gray, w: usize, h: usize) -> Gray {
    let axis = |n_out: usize, n_in: usize| -> Vec<(usize, u32)> {
        let k = n_in as f32 / n_out as f32;
        (0..n_out)
            .map(|i| {
                let f = ((i as f32 + 0.5) * k - 0.5).clamp(0.0, (n_in - 1) as f32);
                let i0 = (f as usize).min(n_in.saturating_sub(2));
                let t = ((f - i0 as f32) * 256.0).round().clamp(0.0, 256.0) as u32;
                (i0, t)
            })
            .collect()
    };
    let mut out = Gray::new(w, h);
    if src.w < 2 || src.h < 2 {
        for y in 0..h {
            for x in 0..w {
                out.px[y * w + x] = src.at(x * src.w / w, y * src.h / h);
            }
        }
        return out;
    }
    let xs = axis(w, src.w);
    let ys = axis(h, src.h);
    // Separably, with the same integers as blending four pixels at once:
    // each source row once along x (8-bit weights, so at most 255 x 256),
    // then rows blended down y, a loop over whole rows that vectorises.
    let mut along: Vec<Option<Vec<u16>>> = vec![None; src.h];
    let horizontal = |y: usize| -> Vec<u16> {
        let r = &src.px[y * src.w..(y + 1) * src.w];
        xs.iter()
            .map(|&(x0, tx)| (r[x0] as u32 * (256 - tx) + r[x0 + 1] as u32 * tx) as u16)
            .collect()
    };
    for &(y0, _) in &ys {
        for y in [y0, y0 + 1] {
            if along[y].is_none() {
                along[y] = Some(horizontal(y));
            }
        }
    }
    for (y, &(y0, ty)) in ys.iter().enumerate() {
        let (Some(top), Some(bottom)) = (&along[y0], &along[y0 + 1]) else {
            continue;
        };
        for ((o, &t), &b) in out.px[y * w..(y + 1) * w].iter_mut().zip(top).zip(bottom) {
            let v = t as u32 * (256 - ty) + b as u32 * ty;
            *o = ((v + (1 << 15)) >> 16) as u8;
        }
    }
    out
}

/// A normalised Gaussian kernel in 12-bit fixed point (two passes: 24 bits,
/// so the horizontal sums fit in u32 and the vertical ones in u64).
fn gaussian_kernel(sigma: f32) -> Vec<u32> {
    let r = (sigma * 3.0).ceil().max(1.0) as i32;
    let weights: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = weights.iter().sum();
    let mut k: Vec<u32> = weights
        .iter()
        .map(|w| (w / sum * 4096.0).round() as u32)
        .collect();
    // Exact unit gain, so flat areas stay exactly flat.
    let total: u32 = k.iter().sum();
    let mid = k.len() / 2;
    k[mid] = (k[mid] + 4096).saturating_sub(total);
    k
}

/// The formats the detector reads: what IVS writes (JPEG), what logos come
/// as (PNG), and what shops serve product pictures as (WebP).
const FORMATS: [image::ImageFormat; 3] = [
    image::ImageFormat::Jpeg,
    image::ImageFormat::Png,
    image::ImageFormat::WebP,
];

/// The ground (0 or 255) a transparent image is laid on: the one farther
/// from the mean luma of its outer edge (opaque pixels beside transparent
/// ones). An image with no such edge (fully opaque) keeps white, which
/// nothing then shows.
fn ground_for_outline(w: usize, h: usize, px: &[[u8; 4]], luma: impl Fn([u8; 4]) -> u8) -> u8 {
    let opaque = |x: usize, y: usize| px[y * w + x][3] >= 128;
    let (mut sum, mut n) = (0u64, 0u64);
    for y in 0..h {
        for x in 0..w {
            if !opaque(x, y) {
                continue;
            }
            let edge = (x > 0 && !opaque(x - 1, y))
                || (x + 1 < w && !opaque(x + 1, y))
                || (y > 0 && !opaque(x, y - 1))
                || (y + 1 < h && !opaque(x, y + 1));
            if edge {
                sum += luma(px[y * w + x]) as u64;
                n += 1;
            }
        }
    }
    if n == 0 || sum / n < 128 {
        255
    } else {
        0
    }
}

/// Decodes PNG, JPEG or WebP bytes to grey, refusing empty, unknown, corrupt
/// and oversized images with a message that says which and what to do. The
/// size is read from the header and checked before any pixel is allocated.
pub fn decode(bytes: &[u8]) -> Result<Gray, VisionError> {
    if bytes.is_empty() {
        return Err(VisionError::Image(
            "the image is empty (0 bytes); give a PNG, JPEG or WebP file".into(),
        ));
    }
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| VisionError::Image(format!("cannot read the image: {e}")))?;
    let Some(format) = reader.format() else {
        return Err(VisionError::Image(
            "not a PNG, JPEG or WebP image (unrecognised signature); give a PNG, JPEG or WebP file"
                .into(),
        ));
    };
    if !FORMATS.contains(&format) {
        return Err(VisionError::Image(format!(
            "{format:?} images are not read; convert it to PNG, JPEG or WebP"
        )));
    }
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| VisionError::Image(format!("corrupt {format:?} header: {e}")))?;
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE || w as u64 * h as u64 > MAX_PIXELS {
        return Err(VisionError::Image(format!(
            "the image is {w}x{h}; the detector takes 1x1 up to {MAX_SIDE}x{MAX_SIDE} pixels ({} Mpx at most): scale it down first",
            MAX_PIXELS / (1024 * 1024)
        )));
    }
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_PIXELS * 4 + (16 << 20));
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| VisionError::Image(format!("corrupt {format:?} image: {e}")))?;
    Ok(Gray::from_dynamic(&img))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 40x20 transparent image with an opaque 20x10 square of `rgb` in
    /// the middle, encoded as PNG.
    fn mark_on_transparency(rgb: [u8; 3]) -> Vec<u8> {
        let img = image::RgbaImage::from_fn(40, 20, |x, y| {
            if (10..30).contains(&x) && (5..15).contains(&y) {
                image::Rgba([rgb[0], rgb[1], rgb[2], 255])
            } else {
                image::Rgba([0, 0, 0, 0])
            }
        });
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png
    }

    #[test]
    fn a_black_mark_on_transparency_is_laid_on_white() {
        let g = decode(&mark_on_transparency([0, 0, 0])).unwrap();
        assert_eq!((g.at(0, 0), g.at(20, 10)), (255, 0));
        // Its margins trim away, leaving the mark.
        let t = g.trim();
        assert!(t.w <= 24 && t.h <= 14, "{}x{}", t.w, t.h);
    }

    #[test]
    fn a_white_mark_on_transparency_is_laid_on_black() {
        let g = decode(&mark_on_transparency([255, 255, 255])).unwrap();
        assert_eq!((g.at(0, 0), g.at(20, 10)), (0, 255));
    }

    #[test]
    fn half_transparent_pixels_blend_with_the_ground() {
        let img = image::RgbaImage::from_fn(4, 4, |x, _| {
            image::Rgba([
                0,
                0,
                0,
                if x == 0 {
                    0
                } else if x == 1 {
                    128
                } else {
                    255
                },
            ])
        });
        let g = Gray::from_dynamic(&image::DynamicImage::ImageRgba8(img));
        assert_eq!(g.at(0, 0), 255);
        assert!((120..=135).contains(&g.at(1, 0)), "{}", g.at(1, 0));
        assert_eq!(g.at(3, 0), 0);
    }

    #[test]
    fn blur_keeps_flat_areas_flat_and_smooths_edges() {
        let mut g = Gray::new(20, 10);
        g.px.iter_mut().for_each(|p| *p = 100);
        assert!(g.blur(1.5).px.iter().all(|&p| p == 100));
        for y in 0..10 {
            for x in 10..20 {
                g.px[y * 20 + x] = 200;
            }
        }
        let b = g.blur(1.5);
        assert!(b.at(9, 5) > 100 && b.at(10, 5) < 200);
        assert_eq!(b.at(0, 5), 100);
        assert_eq!(b.at(19, 5), 200);
    }

    #[test]
    fn resize_averages_and_keeps_size() {
        let mut g = Gray::new(64, 32);
        for (i, p) in g.px.iter_mut().enumerate() {
            *p = if (i % 64) < 32 { 0 } else { 255 };
        }
        let r = g.resize(10, 5);
        assert_eq!((r.w, r.h), (10, 5));
        assert!(r.at(0, 2) < 10 && r.at(9, 2) > 245);
        let up = g.resize(100, 50);
        assert_eq!((up.w, up.h), (100, 50));
    }

    #[test]
    fn trim_removes_plain_margins_only() {
        let mut g = Gray::new(100, 60);
        g.px.iter_mut().for_each(|p| *p = 250);
        for y in 20..40 {
            for x in 30..70 {
                g.px[y * 100 + x] = 10;
            }
        }
        let t = g.trim();
        assert!(t.w >= 40 && t.w <= 50, "{}", t.w);
        assert!(t.h >= 20 && t.h <= 30, "{}", t.h);
        let flat = Gray {
            w: 5,
            h: 5,
            px: vec![7; 25],
        };
        assert_eq!(flat.trim(), flat);
    }

    #[test]
    fn decode_refuses_bad_input_with_reasons() {
        let msg = |b: &[u8]| decode(b).unwrap_err().to_string();
        assert!(msg(b"").contains("0 bytes"));
        assert!(msg(b"hello, not an image").contains("PNG, JPEG or WebP"));
        // A JPEG signature followed by garbage.
        assert!(msg(&[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4, 5]).contains("corrupt"));
        assert!(msg(b"GIF89a\x01\x00\x01\x00\x00\x00\x00").contains("Gif images are not read"));
    }

    /// A lossless WebP (VP8L) of `w`x`h` grey pixels, written by hand so the
    /// tests need no encoder: a header, then every pixel as one literal
    /// green code with the other channels fixed.
    fn webp_header_only(w: u32, h: u32) -> Vec<u8> {
        // VP8L: signature 0x2f, then 14 bits width-1, 14 bits height-1,
        // 1 bit alpha, 3 bits version (0).
        let bits = (w - 1) | ((h - 1) << 14);
        let mut vp8l = vec![0x2f];
        vp8l.extend_from_slice(&bits.to_le_bytes());
        vp8l.extend_from_slice(&[0u8; 8]);
        let mut riff = b"RIFF".to_vec();
        riff.extend_from_slice(&((4 + 8 + vp8l.len()) as u32).to_le_bytes());
        riff.extend_from_slice(b"WEBPVP8L");
        riff.extend_from_slice(&(vp8l.len() as u32).to_le_bytes());
        riff.extend_from_slice(&vp8l);
        riff
    }

    #[test]
    fn webp_is_read_and_its_bounds_hold() {
        // A real lossless WebP round trip through the image crate's encoder.
        let mut rgb = image::RgbImage::new(40, 30);
        for (x, y, p) in rgb.enumerate_pixels_mut() {
            *p = image::Rgb([(x * 6) as u8, (y * 8) as u8, 90]);
        }
        let mut bytes = Vec::new();
        image::DynamicImage::ImageRgb8(rgb.clone())
            .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::WebP)
            .expect("encode webp");
        let g = decode(&bytes).expect("decode webp");
        assert_eq!((g.w, g.h), (40, 30));
        // Lossless: exactly the grey of the pixels encoded.
        assert_eq!(g, Gray::from_dynamic(&image::DynamicImage::ImageRgb8(rgb)));
        // Declares 10000x10000: refused from the header, nothing allocated.
        let huge = decode(&webp_header_only(10000, 10000))
            .unwrap_err()
            .to_string();
        assert!(huge.contains("10000x10000"), "{huge}");
        // A plausible header with garbage after it: an error, not a panic.
        let corrupt = decode(&webp_header_only(64, 64)).unwrap_err().to_string();
        assert!(corrupt.contains("corrupt WebP"), "{corrupt}");
        let truncated = decode(&bytes[..bytes.len() / 2]).unwrap_err().to_string();
        assert!(truncated.contains("WebP"), "{truncated}");
    }

    #[test]
    fn a_small_file_of_many_pixels_is_refused_before_it_is_decoded() {
        // One colour compresses to almost nothing: 4200x4200 is a few KB of
        // PNG and would be 70 MB of RGBA. Over the bound on either side, or
        // in pixels, it is refused from the header.
        for (w, h) in [(4200u32, 4200u32), (8193, 8)] {
            let img = image::GrayImage::new(w, h);
            let mut png = Vec::new();
            image::DynamicImage::ImageLuma8(img)
                .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
                .expect("encode png");
            let err = decode(&png).unwrap_err().to_string();
            assert!(
                err.contains(&format!("{w}x{h}")) && err.contains("scale it down"),
                "{err}"
            );
        }
        // A camera's photo side still passes.
        let img = image::GrayImage::new(4288, 8);
        let mut png = Vec::new();
        image::DynamicImage::ImageLuma8(img)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("encode png");
        assert_eq!(decode(&png).map(|g| (g.w, g.h)), Ok((4288, 8)));
    }
}
