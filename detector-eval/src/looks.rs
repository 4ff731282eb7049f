//! How a brand's logo shows up in the world, applied to a seed logo before
//! it is placed in a scene: inverted, recoloured, restyled (outline, drop
//! shadow, 3D extrusion, glow), printed on a card held by fingers, shown on a
//! screen (moiré, glare), or set in a banner beside other logos and text.
//!
//! Each look works on the logo's *mask*: how far each pixel is from the
//! logo's canvas colour (the corner), so it applies to any reference.

use detector::geometry::XorShift;
use image::{Rgb, RgbImage};

fn clamp8(v: f32) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

fn luma(p: Rgb<u8>) -> f32 {
    0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
}

/// A random colour whose luma differs from `from` by at least `apart`
/// (a person must be able to read the logo; isoluminant prints do not sell).
fn colour_apart(rng: &mut XorShift, from: f32, apart: f32) -> Rgb<u8> {
    loop {
        let c = Rgb([
            (rng.unit() * 255.0) as u8,
            (rng.unit() * 255.0) as u8,
            (rng.unit() * 255.0) as u8,
        ]);
        if (luma(c) - from).abs() >= apart {
            return c;
        }
    }
}

fn random_colour(rng: &mut XorShift) -> Rgb<u8> {
    colour_apart(rng, 0.0, 0.0)
}

/// In [0, 1]: 1 where the pixel is logo, 0 where it is the canvas colour.
pub fn mask(img: &RgbImage) -> Vec<f32> {
    let bg = *img.get_pixel(0, 0);
    img.pixels()
        .map(|p| {
            let d: f32 = (0..3)
                .map(|c| (p[c] as f32 - bg[c] as f32).powi(2))
                .sum::<f32>()
                .sqrt();
            ((d - 20.0) / 60.0).clamp(0.0, 1.0)
        })
        .collect()
}

/// Each channel's negative: a dark-on-white logo becomes white on black.
pub fn inverted(img: &RgbImage) -> RgbImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        *p = Rgb([255 - p[0], 255 - p[1], 255 - p[2]]);
    }
    out
}

/// Recoloured: either a duotone (the logo's luma mapped from one colour to
/// another, so it may come out lighter than its ground: a white logo on a
/// brand-coloured slide) or the brand's palette turned (every hue rotated,
/// as on merchandise in a season's colours).
pub fn recoloured(img: &RgbImage, rng: &mut XorShift) -> RgbImage {
    let mut out = img.clone();
    if rng.below(2) == 0 {
        let a = random_colour(rng);
        let b = colour_apart(rng, luma(a), 90.0);
        for p in out.pixels_mut() {
            let t = luma(*p) / 255.0;
            *p = Rgb([0, 1, 2].map(|c| clamp8(a[c] as f32 * (1.0 - t) + b[c] as f32 * t)));
        }
    } else {
        // Rotation about the grey axis (luma kept to first order).
        let turn = (60.0 + rng.unit() as f32 * 240.0).to_radians();
        let (sn, cs) = turn.sin_cos();
        let k = 1.0 / 3.0f32;
        let sq = k.sqrt();
        let m = |i: usize, j: usize| {
            let same = if i == j { cs } else { 0.0 };
            let cross = match (i + 3 - j) % 3 {
                0 => 0.0,
                1 => sq * sn,
                _ => -sq * sn,
            };
            same + k * (1.0 - cs) + cross
        };
        for p in out.pixels_mut() {
            let v = [p[0] as f32, p[1] as f32, p[2] as f32];
            *p = Rgb([0, 1, 2].map(|i| clamp8((0..3).map(|j| m(i, j) * v[j]).sum())));
        }
    }
    out
}

/// Separable max filter of radius `r` (a square dilation).
fn dilate(m: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let mut tmp = vec![0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
            tmp[y * w + x] = m[y * w + x0..y * w + x1].iter().fold(0.0, |a, &b| a.max(b));
        }
    }
    let mut out = vec![0f32; w * h];
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            out[y * w + x] = (y0..y1).map(|yy| tmp[yy * w + x]).fold(0.0, f32::max);
        }
    }
    out
}

/// Three box blurs of radius `r` (close to a Gaussian).
fn soften(m: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let mut cur = m.to_vec();
    for _ in 0..3 {
        let mut tmp = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
                tmp[y * w + x] = cur[y * w + x0..y * w + x1].iter().sum::<f32>() / (x1 - x0) as f32;
            }
        }
        for y in 0..h {
            let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
            for x in 0..w {
                cur[y * w + x] = (y0..y1).map(|yy| tmp[yy * w + x]).sum::<f32>() / (y1 - y0) as f32;
            }
        }
    }
    cur
}

fn shifted(m: &[f32], w: usize, h: usize, dx: usize, dy: usize) -> Vec<f32> {
    let mut out = vec![0f32; w * h];
    for y in dy..h {
        for x in dx..w {
            out[y * w + x] = m[(y - dy) * w + x - dx];
        }
    }
    out
}

/// Paints `colour` over `img` where `layer` says, as coverage in [0, 1].
fn paint(img: &mut RgbImage, layer: &[f32], colour: Rgb<u8>, opacity: f32) {
    for (p, &a) in img.pixels_mut().zip(layer) {
        let a = (a * opacity).clamp(0.0, 1.0);
        *p = Rgb([0, 1, 2].map(|c| clamp8(p[c] as f32 * (1.0 - a) + colour[c] as f32 * a)));
    }
}

/// The kinds of restyling a brand's logo gets on a stage, a mug or a shirt.
#[derive(Clone, Copy, Debug)]
pub enum Style {
    Outline,
    DropShadow,
    Extrusion,
    Glow,
}

/// The logo restyled, on a margin wide enough for the effect.
pub fn styled(img: &RgbImage, style: Style, rng: &mut XorShift) -> RgbImage {
    let unit = (img.width().max(img.height()) as usize / 60).max(2);
    let pad = 4 * unit;
    let (w, h) = (
        img.width() as usize + 2 * pad,
        img.height() as usize + 2 * pad,
    );
    let bg = *img.get_pixel(0, 0);
    let mut canvas = RgbImage::from_pixel(w as u32, h as u32, bg);
    image::imageops::overlay(&mut canvas, img, pad as i64, pad as i64);
    let logo = canvas.clone();
    let m = mask(&logo);
    let contrast = colour_apart(rng, luma(bg), 100.0);
    match style {
        Style::Outline => {
            let ring = dilate(&m, w, h, unit + rng.below(unit + 1));
            paint(&mut canvas, &ring, contrast, 1.0);
        }
        Style::DropShadow => {
            let d = unit + rng.below(2 * unit);
            let shadow = soften(&shifted(&m, w, h, d, d), w, h, unit / 2 + 1);
            paint(&mut canvas, &shadow, Rgb([20, 20, 20]), 0.7);
        }
        Style::Extrusion => {
            let depth = 2 * unit + rng.below(2 * unit);
            let side = Rgb([contrast[0] / 2, contrast[1] / 2, contrast[2] / 2]);
            for k in (1..=depth).rev() {
                paint(&mut canvas, &shifted(&m, w, h, k, k), side, 1.0);
            }
        }
        Style::Glow => {
            let halo = soften(&dilate(&m, w, h, unit), w, h, unit);
            paint(&mut canvas, &halo, contrast, 0.9);
        }
    }
    // The logo itself on top of its effect.
    for ((p, q), a) in canvas.pixels_mut().zip(logo.pixels()).zip(&m) {
        *p = Rgb([0, 1, 2].map(|c| clamp8(p[c] as f32 * (1.0 - a) + q[c] as f32 * a)));
    }
    canvas
}

/// The logo printed on a white card with a margin and a little shading.
/// Returns the card and where the logo sits on it (x, y, w, h).
pub fn on_paper(img: &RgbImage, rng: &mut XorShift) -> (RgbImage, [u32; 4]) {
    let margin = img.width().max(img.height()) / 6 + 4;
    let (w, h) = (img.width() + 2 * margin, img.height() + 2 * margin);
    let paper = Rgb([245, 244, 238]);
    let mut card = RgbImage::from_pixel(w, h, paper);
    // Printed: the logo's canvas colour is the paper's.
    let m = mask(img);
    for (x, y, p) in img.enumerate_pixels() {
        let a = m[(y * img.width() + x) as usize];
        let q = card.get_pixel_mut(x + margin, y + margin);
        *q = Rgb([0, 1, 2].map(|c| clamp8(q[c] as f32 * (1.0 - a) + p[c] as f32 * a)));
    }
    // Light falling across the card, and a fold's soft shadow.
    let slope = (rng.unit() as f32 - 0.5) * 0.5;
    let fold = rng.unit() as f32;
    for (x, y, p) in card.enumerate_pixels_mut() {
        let u = x as f32 / w as f32;
        let v = y as f32 / h as f32;
        let shade = 1.0 + slope * (u - 0.5) - 0.12 * (-((v - fold) * 12.0).powi(2)).exp();
        *p = Rgb([0, 1, 2].map(|c| clamp8(p[c] as f32 * shade)));
    }
    (card, [margin, margin, img.width(), img.height()])
}

/// Fingers holding the card: two or three skin-coloured rounded bars from
/// one edge, over the margin and a little of the logo.
pub fn fingers(img: &mut RgbImage, bbox: [f32; 4], rng: &mut XorShift) {
    let (bw, bh) = (bbox[2] - bbox[0], bbox[3] - bbox[1]);
    let skin = Rgb([
        (185.0 + rng.unit() * 45.0) as u8,
        (135.0 + rng.unit() * 35.0) as u8,
        (105.0 + rng.unit() * 35.0) as u8,
    ]);
    let from_left = rng.below(2) == 0;
    let n = 2 + rng.below(2);
    let thick = bh * 0.09;
    let reach = bw * (0.12 + rng.unit() as f32 * 0.08);
    for k in 0..n {
        let cy = bbox[1] + bh * (0.3 + 0.18 * k as f32);
        let (x0, x1) = if from_left {
            (bbox[0] - bw * 0.1, bbox[0] + reach)
        } else {
            (bbox[2] - reach, bbox[2] + bw * 0.1)
        };
        for y in (cy - thick) as i64..(cy + thick) as i64 {
            for x in x0 as i64..x1 as i64 {
                if x < 0 || y < 0 || x >= img.width() as i64 || y >= img.height() as i64 {
                    continue;
                }
                let t = ((y as f32 - cy) / thick).abs();
                let shade = 1.0 - 0.25 * t * t;
                img.put_pixel(
                    x as u32,
                    y as u32,
                    Rgb([0, 1, 2].map(|c| clamp8(skin[c] as f32 * shade))),
                );
            }
        }
    }
}

/// The logo as a screen shows it to a camera: lit from behind (the canvas a
/// little blue), a fine grating of pixel rows that the camera resamples into
/// moiré, and a glare spot that washes part of it out.
pub fn on_screen(img: &RgbImage, rng: &mut XorShift) -> RgbImage {
    let mut out = img.clone();
    let (w, h) = (img.width() as f32, img.height() as f32);
    let period = 3.0 + rng.unit() as f32 * 3.0;
    let tilt = (rng.unit() as f32 - 0.5) * 0.3;
    let depth = 0.15 + rng.unit() as f32 * 0.15;
    let (gx, gy) = (w * (0.2 + 0.6 * rng.unit() as f32), h * rng.unit() as f32);
    let glare_r = w.min(h) * (0.3 + 0.3 * rng.unit() as f32);
    let glare = 0.5 + rng.unit() as f32 * 0.4;
    for (x, y, p) in out.enumerate_pixels_mut() {
        let (xf, yf) = (x as f32, y as f32);
        let phase = (yf + tilt * xf) / period * std::f32::consts::TAU;
        let grating = 1.0 - depth * (0.5 + 0.5 * phase.sin());
        let d2 = ((xf - gx).powi(2) + (yf - gy).powi(2)) / (glare_r * glare_r);
        let g = glare * (-d2 * 2.0).exp() * 255.0;
        let tint = [0.95, 0.98, 1.05];
        *p = Rgb([0, 1, 2].map(|c| clamp8(p[c] as f32 * tint[c] * grating + g)));
    }
    out
}

/// A banner: the logo beside other brands' logos, with lines of small print
/// ("POWERED BY", sponsor lists). Returns the banner and where the logo
/// sits on it (x, y, w, h).
pub fn banner(logo: &RgbImage, others: &[RgbImage], rng: &mut XorShift) -> (RgbImage, [u32; 4]) {
    let cell_h = 200u32;
    let fit = |img: &RgbImage, h: u32| {
        let w = (img.width() as f32 * h as f32 / img.height() as f32).round() as u32;
        image::imageops::resize(img, w.max(1), h, image::imageops::FilterType::Triangle)
    };
    let ground = if rng.below(2) == 0 {
        Rgb([250, 250, 250])
    } else {
        colour_apart(rng, luma(*logo.get_pixel(0, 0)), 0.0)
    };
    let mut tiles: Vec<(RgbImage, bool)> = vec![(fit(logo, cell_h), true)];
    for _ in 0..2 + rng.below(2) {
        if others.is_empty() {
            break;
        }
        tiles.push((fit(&others[rng.below(others.len())], cell_h * 3 / 4), false));
    }
    // The logo's slot among the others.
    let slot = rng.below(tiles.len());
    tiles.swap(0, slot);
    let gap = 40u32;
    let width = tiles.iter().map(|t| t.0.width() + gap).sum::<u32>() + gap;
    let height = cell_h + 120;
    let mut out = RgbImage::from_pixel(width, height, ground);
    let ink = colour_apart(rng, luma(ground), 110.0);
    demo_show::font::draw_text(&mut out, gap as i64, 14, 4, ink, "POWERED BY");
    let mut x = gap;
    let mut logo_at = [0; 4];
    for (tile, is_logo) in &tiles {
        let y = 60 + (cell_h - tile.height()) / 2;
        image::imageops::overlay(&mut out, tile, x as i64, y as i64);
        if *is_logo {
            logo_at = [x, y, tile.width(), tile.height()];
        }
        x += tile.width() + gap;
    }
    let words = ["SPONSORS", "LIVE", "STAGE", "EXPO", "TICKETS", "2026"];
    let mut line = String::new();
    for _ in 0..6 {
        line.push_str(words[rng.below(words.len())]);
        line.push(' ');
    }
    demo_show::font::draw_text(&mut out, gap as i64, (height - 44) as i64, 3, ink, &line);
    (out, logo_at)
}
