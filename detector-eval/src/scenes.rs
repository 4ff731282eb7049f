//! The detector's evaluation set: 1280x720 scenes this code composes from a
//! seed, so anyone regenerates exactly the same set. Logos (the seed logos in
//! `../shared/seed-logos`) are warped onto varied backgrounds — noise
//! textures, rooms with shelves, clutter with lettering — under one
//! condition each (size, rotation, perspective, lighting, JPEG, motion blur,
//! occlusion, two logos), the ways a brand shows up in the world
//! ([`crate::looks`]: inverted, recoloured, restyled, printed and held, on a
//! screen, in a banner, and 40-100 px wide), plus negatives: no logo, other
//! brands' logos, and look-alikes of the references (a letter-wide strip
//! turned upside down, so "aws" reads "ams").

use detector::geometry::{fit, Homography, XorShift};
use image::{Rgb, RgbImage};
use std::path::{Path, PathBuf};

pub const WIDTH: u32 = 1280;
pub const HEIGHT: u32 = 720;

/// Where the seed logos are: `SEED_LOGOS` or `../shared/seed-logos` beside
/// the checkout.
pub fn seed_logos_dir() -> PathBuf {
    std::env::var_os("SEED_LOGOS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/seed-logos"))
}

/// The references: (label, file name) in the seed folder.
pub const SEED_REFERENCES: [(&str, &str); 3] = [
    ("aws", "aws-1.png"),
    ("aws", "aws-2.png"),
    ("twitch", "twitch-1.png"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    Clean,
    Small,
    Large,
    Rotation,
    Perspective,
    Lighting,
    Jpeg,
    MotionBlur,
    Occlusion,
    TwoLogos,
    Tiny,
    Inverted,
    Recoloured,
    Styled,
    Paper,
    Screen,
    Banner,
    NoLogo,
    OtherLogos,
    LookAlike,
    // Appended: a condition's discriminant seeds its scenes, so the older
    // conditions keep theirs.
    Photo,
    PhotoNoLogo,
}

impl Condition {
    pub const ALL: [Condition; 22] = [
        Condition::Clean,
        Condition::Small,
        Condition::Large,
        Condition::Rotation,
        Condition::Perspective,
        Condition::Lighting,
        Condition::Jpeg,
        Condition::MotionBlur,
        Condition::Occlusion,
        Condition::TwoLogos,
        Condition::Tiny,
        Condition::Inverted,
        Condition::Recoloured,
        Condition::Styled,
        Condition::Paper,
        Condition::Screen,
        Condition::Banner,
        Condition::Photo,
        Condition::NoLogo,
        Condition::OtherLogos,
        Condition::LookAlike,
        Condition::PhotoNoLogo,
    ];

    /// The conditions with no catalog logo in the frame: anything found is
    /// a false label.
    pub fn is_negative(self) -> bool {
        matches!(
            self,
            Condition::NoLogo
                | Condition::OtherLogos
                | Condition::LookAlike
                | Condition::PhotoNoLogo
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Condition::Clean => "clean (15-35% wide, +-5 deg)",
            Condition::Small => "small (5-10% of the width)",
            Condition::Large => "large (35-50% of the width)",
            Condition::Rotation => "rotation (10-20 deg)",
            Condition::Perspective => "perspective (corners moved up to 15%)",
            Condition::Lighting => "lighting (gain 0.4-1.6, offset, gradient)",
            Condition::Jpeg => "JPEG quality 20-40",
            Condition::MotionBlur => "motion blur (3-9 px)",
            Condition::Occlusion => "occlusion (20-30% covered)",
            Condition::TwoLogos => "two logos in one frame",
            Condition::Tiny => "tiny (40-100 px wide)",
            Condition::Inverted => "inverted (negative)",
            Condition::Recoloured => "recoloured (duotone, or hues turned)",
            Condition::Styled => "styled (outline, drop shadow, 3D extrusion, glow)",
            Condition::Paper => "printed on a card, held by fingers",
            Condition::Screen => "on a screen (moire, glare)",
            Condition::Banner => "in a banner with other logos and text",
            Condition::Photo => "on a real photograph",
            Condition::NoLogo => "no logo",
            Condition::OtherLogos => "other brands' logos",
            Condition::LookAlike => "look-alikes (one letter changed)",
            Condition::PhotoNoLogo => "real photographs, no logo",
        }
    }
}

/// A logo image to place: RGB, trimmed to its content.
#[derive(Clone)]
pub struct Sprite {
    pub label: Option<String>,
    pub image: RgbImage,
}

pub struct Scene {
    pub jpeg: Vec<u8>,
    /// Labels really present, with their box (ratios: left, top, width, height).
    pub truth: Vec<(String, [f32; 4])>,
}

/// The RGB image without plain margins (the corner colour), like the
/// detector trims its references.
pub fn trimmed(img: &RgbImage) -> RgbImage {
    let bg = *img.get_pixel(0, 0);
    let plain = |p: &Rgb<u8>| (0..3).all(|c| (p[c] as i32 - bg[c] as i32).abs() <= 12);
    let (w, h) = img.dimensions();
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for (x, y, p) in img.enumerate_pixels() {
        if !plain(p) {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x + 1);
            y1 = y1.max(y + 1);
        }
    }
    if x1 <= x0 || y1 <= y0 {
        return img.clone();
    }
    let pad = ((x1 - x0).max(y1 - y0) / 20).max(2);
    let (x0, y0) = (x0.saturating_sub(pad), y0.saturating_sub(pad));
    let (x1, y1) = ((x1 + pad).min(w), (y1 + pad).min(h));
    image::imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image()
}

/// Loads a seed logo as a sprite, scaled so its long side is at most 800 px.
pub fn load_sprite(label: &str, path: &Path) -> anyhow::Result<Sprite> {
    let img = image::open(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?
        .to_rgb8();
    let img = trimmed(&img);
    let scale = (800.0 / img.width().max(img.height()) as f32).min(1.0);
    let img = image::imageops::resize(
        &img,
        ((img.width() as f32 * scale) as u32).max(1),
        ((img.height() as f32 * scale) as u32).max(1),
        image::imageops::FilterType::Triangle,
    );
    Ok(Sprite {
        label: Some(label.to_owned()),
        image: img,
    })
}

/// A look-alike of `sprite`: the strip from 36% to 62% of its width turned
/// upside down (in "aws" the w becomes an m).
pub fn look_alike(sprite: &Sprite) -> Sprite {
    let mut img = sprite.image.clone();
    let (w, h) = img.dimensions();
    let (x0, x1) = (w * 36 / 100, w * 62 / 100);
    for x in x0..x1 {
        for y in 0..h / 2 {
            let a = *sprite.image.get_pixel(x, y);
            let b = *sprite.image.get_pixel(x, h - 1 - y);
            img.put_pixel(x, y, b);
            img.put_pixel(x, h - 1 - y, a);
        }
    }
    Sprite {
        label: None,
        image: img,
    }
}

fn clamp8(v: f32) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

/// Smooth value noise in [0, 1] with `octaves` octaves.
fn value_noise(rng: &mut XorShift, w: u32, h: u32, cell: f32, octaves: u32) -> Vec<f32> {
    let mut out = vec![0f32; (w * h) as usize];
    let mut amp = 1.0;
    let mut total = 0.0;
    let mut c = cell;
    for _ in 0..octaves {
        let gw = (w as f32 / c) as usize + 2;
        let gh = (h as f32 / c) as usize + 2;
        let grid: Vec<f32> = (0..gw * gh).map(|_| rng.unit() as f32).collect();
        for y in 0..h {
            let fy = y as f32 / c;
            let (iy, ty) = (fy as usize, fy.fract());
            let ty = ty * ty * (3.0 - 2.0 * ty);
            for x in 0..w {
                let fx = x as f32 / c;
                let (ix, tx) = (fx as usize, fx.fract());
                let tx = tx * tx * (3.0 - 2.0 * tx);
                let g = |i: usize, j: usize| grid[j * gw + i];
                let v = (g(ix, iy) * (1.0 - tx) + g(ix + 1, iy) * tx) * (1.0 - ty)
                    + (g(ix, iy + 1) * (1.0 - tx) + g(ix + 1, iy + 1) * tx) * ty;
                out[(y * w + x) as usize] += v * amp;
            }
        }
        total += amp;
        amp *= 0.5;
        c /= 2.0;
    }
    out.iter_mut().for_each(|v| *v /= total);
    out
}

fn random_colour(rng: &mut XorShift) -> Rgb<u8> {
    Rgb([
        (rng.unit() * 255.0) as u8,
        (rng.unit() * 255.0) as u8,
        (rng.unit() * 255.0) as u8,
    ])
}

fn fill_rect(img: &mut RgbImage, x0: i64, y0: i64, w: i64, h: i64, c: Rgb<u8>) {
    for y in y0.max(0)..(y0 + h).min(img.height() as i64) {
        for x in x0.max(0)..(x0 + w).min(img.width() as i64) {
            img.put_pixel(x as u32, y as u32, c);
        }
    }
}

fn fill_ellipse(
    img: &mut RgbImage,
    cx: f32,
    cy: f32,
    rx: f32,
    ry: f32,
    c: Rgb<u8>,
    rng: &mut XorShift,
) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    for y in ((cy - ry) as i64).max(0)..((cy + ry) as i64 + 1).min(h) {
        for x in ((cx - rx) as i64).max(0)..((cx + rx) as i64 + 1).min(w) {
            let (dx, dy) = ((x as f32 - cx) / rx, (y as f32 - cy) / ry);
            if dx * dx + dy * dy <= 1.0 {
                // Skin-like: flat colour with faint grain and shading.
                let shade = 1.0 - 0.15 * (dx * dx + dy * dy) + 0.03 * (rng.unit() as f32 - 0.5);
                let p = Rgb([
                    clamp8(c[0] as f32 * shade),
                    clamp8(c[1] as f32 * shade),
                    clamp8(c[2] as f32 * shade),
                ]);
                img.put_pixel(x as u32, y as u32, p);
            }
        }
    }
}

/// A background: a textured wall, a room with shelves, or clutter with
/// lettering and shapes.
/// The real photographs the scikit-image wheel ships (astronaut, coffee,
/// a cat, coins, a motorcycle, a rocket, a scanned page, text on a wall...),
/// which `scripts/setup.sh` fetches from PyPI into `.cache/photo-backgrounds`
/// (never committed; `PHOTO_BACKGROUNDS` names another folder).
pub fn photo_backgrounds() -> &'static [RgbImage] {
    static PHOTOS: std::sync::OnceLock<Vec<RgbImage>> = std::sync::OnceLock::new();
    PHOTOS.get_or_init(|| {
        let dir = std::env::var_os("PHOTO_BACKGROUNDS")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/photo-backgrounds"));
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|f| f.extension().is_some_and(|e| e == "png" || e == "jpg"));
        files.sort();
        let photos: Vec<RgbImage> = files
            .iter()
            .filter_map(|f| image::open(f).ok().map(|i| i.to_rgb8()))
            .collect();
        assert!(
            photos.len() >= 10,
            "only {} photographs in {}; run scripts/setup.sh, which fetches them from the scikit-image wheel",
            photos.len(),
            dir.display()
        );
        photos
    })
}

/// A 1280x720 frame cut from a real photograph: a random 16:9 crop of 60-100%
/// of it, mirrored half the time, scaled (most photos are smaller than the
/// frame, so they come out soft, like a streamed picture).
fn photo_background(rng: &mut XorShift) -> RgbImage {
    let photos = photo_backgrounds();
    let photo = &photos[rng.below(photos.len())];
    let (w, h) = (photo.width() as f64, photo.height() as f64);
    let scale = 0.6 + rng.unit() * 0.4;
    let (mut cw, mut ch) = (w * scale, w * scale * 9.0 / 16.0);
    if ch > h * scale {
        ch = h * scale;
        cw = ch * 16.0 / 9.0;
    }
    let (cw, ch) = (cw.max(16.0) as u32, ch.max(9.0) as u32);
    let x = rng.below((photo.width() - cw.min(photo.width()) + 1) as usize) as u32;
    let y = rng.below((photo.height() - ch.min(photo.height()) + 1) as usize) as u32;
    let crop = image::imageops::crop_imm(photo, x, y, cw, ch).to_image();
    let mut frame =
        image::imageops::resize(&crop, WIDTH, HEIGHT, image::imageops::FilterType::Triangle);
    if rng.below(2) == 0 {
        image::imageops::flip_horizontal_in_place(&mut frame);
    }
    frame
}

fn background(rng: &mut XorShift) -> RgbImage {
    let mut img = RgbImage::new(WIDTH, HEIGHT);
    let (a, b) = (random_colour(rng), random_colour(rng));
    let cell = 160.0 + rng.unit() as f32 * 200.0;
    let noise = value_noise(rng, WIDTH, HEIGHT, cell, 5);
    for (i, p) in img.pixels_mut().enumerate() {
        let t = noise[i];
        *p = Rgb([
            clamp8(a[0] as f32 * (1.0 - t) + b[0] as f32 * t),
            clamp8(a[1] as f32 * (1.0 - t) + b[1] as f32 * t),
            clamp8(a[2] as f32 * (1.0 - t) + b[2] as f32 * t),
        ]);
    }
    match rng.below(3) {
        0 => {}
        1 => {
            // A room: desk, shelves with books, a picture frame.
            let desk_y = 480 + rng.below(160) as i64;
            fill_rect(
                &mut img,
                0,
                desk_y,
                WIDTH as i64,
                HEIGHT as i64,
                random_colour(rng),
            );
            for shelf in 0..2 {
                let y = 120 + shelf * 170 + rng.below(40) as i64;
                fill_rect(&mut img, 0, y, WIDTH as i64, 10, Rgb([90, 60, 40]));
                let mut x = rng.below(100) as i64;
                while x < WIDTH as i64 {
                    let (bw, bh) = (12 + rng.below(30) as i64, 60 + rng.below(70) as i64);
                    fill_rect(&mut img, x, y - bh, bw, bh, random_colour(rng));
                    x += bw + rng.below(6) as i64;
                }
            }
        }
        _ => {
            // Clutter: shapes and lines of lettering.
            for _ in 0..40 {
                let c = random_colour(rng);
                let (x, y) = (
                    rng.below(WIDTH as usize) as i64,
                    rng.below(HEIGHT as usize) as i64,
                );
                if rng.below(2) == 0 {
                    fill_rect(
                        &mut img,
                        x,
                        y,
                        20 + rng.below(200) as i64,
                        20 + rng.below(120) as i64,
                        c,
                    );
                } else {
                    fill_ellipse(
                        &mut img,
                        x as f32,
                        y as f32,
                        10.0 + rng.unit() as f32 * 80.0,
                        10.0 + rng.unit() as f32 * 80.0,
                        c,
                        rng,
                    );
                }
            }
            for _ in 0..12 {
                let text: String = (0..4 + rng.below(10))
                    .map(|_| (b'A' + rng.below(26) as u8) as char)
                    .collect();
                let (x, y) = (rng.below(1100) as i64, rng.below(680) as i64);
                demo_show::font::draw_text(
                    &mut img,
                    x,
                    y,
                    2 + rng.below(4) as u32,
                    random_colour(rng),
                    &text,
                );
            }
        }
    }
    img
}

/// Where a sprite lands: its outline in the frame.
struct Placement {
    width_ratio: f32,
    angle_deg: f32,
    perspective: f32,
}

/// Draws `sprite` into `img` with the placement, avoiding `taken` boxes;
/// returns its bounding box in pixels and the map from sprite to frame
/// pixels, or `None` when it cannot fit.
fn place(
    img: &mut RgbImage,
    sprite: &RgbImage,
    p: &Placement,
    rng: &mut XorShift,
    taken: &[[f32; 4]],
) -> Option<([f32; 4], Homography)> {
    let (sw, sh) = (sprite.width() as f64, sprite.height() as f64);
    let w = p.width_ratio as f64 * WIDTH as f64;
    let h = w * sh / sw;
    if h > HEIGHT as f64 * 0.9 {
        return None;
    }
    let (sn, cs) = (p.angle_deg as f64).to_radians().sin_cos();
    for _attempt in 0..30 {
        let margin = (w.max(h) * 0.75).min(WIDTH as f64 / 2.0 - 1.0);
        let cx = margin + rng.unit() * (WIDTH as f64 - 2.0 * margin).max(1.0);
        let cy = (h * 0.75).min(HEIGHT as f64 / 2.0 - 1.0)
            + rng.unit() * (HEIGHT as f64 - 1.5 * h).max(1.0);
        let corners = [
            (-w / 2.0, -h / 2.0),
            (w / 2.0, -h / 2.0),
            (w / 2.0, h / 2.0),
            (-w / 2.0, h / 2.0),
        ];
        let dst: Vec<(f64, f64)> = corners
            .iter()
            .map(|&(x, y)| {
                let jx = (rng.unit() - 0.5) * 2.0 * p.perspective as f64 * w;
                let jy = (rng.unit() - 0.5) * 2.0 * p.perspective as f64 * h;
                let (x, y) = (x + jx, y + jy);
                (cx + x * cs - y * sn, cy + x * sn + y * cs)
            })
            .collect();
        let xs = dst.iter().map(|p| p.0);
        let ys = dst.iter().map(|p| p.1);
        let bbox = [
            xs.clone().fold(f64::MAX, f64::min),
            ys.clone().fold(f64::MAX, f64::min),
            xs.fold(f64::MIN, f64::max),
            ys.fold(f64::MIN, f64::max),
        ];
        if bbox[0] < 0.0 || bbox[1] < 0.0 || bbox[2] > WIDTH as f64 || bbox[3] > HEIGHT as f64 {
            continue;
        }
        let b = [
            bbox[0] as f32,
            bbox[1] as f32,
            bbox[2] as f32,
            bbox[3] as f32,
        ];
        if taken
            .iter()
            .any(|t| b[0] < t[2] && t[0] < b[2] && b[1] < t[3] && t[1] < b[3])
        {
            continue;
        }
        let src = [(0.0, 0.0), (sw, 0.0), (sw, sh), (0.0, sh)];
        let pairs: Vec<_> = dst.iter().zip(src.iter()).map(|(d, s)| (*d, *s)).collect();
        let back: Homography = fit(&pairs)?;
        let forward_pairs: Vec<_> = src.iter().zip(dst.iter()).map(|(s, d)| (*s, *d)).collect();
        let forward: Homography = fit(&forward_pairs)?;
        for y in bbox[1] as u32..(bbox[3].ceil() as u32).min(HEIGHT) {
            for x in bbox[0] as u32..(bbox[2].ceil() as u32).min(WIDTH) {
                let Some((u, v)) = back.apply(x as f64 + 0.5, y as f64 + 0.5) else {
                    continue;
                };
                if u < 0.0 || v < 0.0 || u >= sw - 1.0 || v >= sh - 1.0 {
                    continue;
                }
                let (iu, iv) = (u as u32, v as u32);
                let (fu, fv) = ((u - iu as f64) as f32, (v - iv as f64) as f32);
                let px = |dx, dy| sprite.get_pixel(iu + dx, iv + dy);
                let mut out = [0u8; 3];
                for (c, o) in out.iter_mut().enumerate() {
                    let top = px(0, 0)[c] as f32 * (1.0 - fu) + px(1, 0)[c] as f32 * fu;
                    let bottom = px(0, 1)[c] as f32 * (1.0 - fu) + px(1, 1)[c] as f32 * fu;
                    *o = clamp8(top * (1.0 - fv) + bottom * fv);
                }
                img.put_pixel(x, y, Rgb(out));
            }
        }
        return Some((b, forward));
    }
    None
}

/// The frame box (pixels: x0, y0, x1, y1) of the rectangle `r` (x, y, w, h)
/// of a sprite placed with `forward`.
fn mapped_box(forward: &Homography, r: [u32; 4]) -> Option<[f32; 4]> {
    let (x0, y0, x1, y1) = (
        r[0] as f64,
        r[1] as f64,
        (r[0] + r[2]) as f64,
        (r[1] + r[3]) as f64,
    );
    let mut b = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
    for (x, y) in [(x0, y0), (x1, y0), (x1, y1), (x0, y1)] {
        let (u, v) = forward.apply(x, y)?;
        b = [
            b[0].min(u as f32),
            b[1].min(v as f32),
            b[2].max(u as f32),
            b[3].max(v as f32),
        ];
    }
    Some(b)
}

fn jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    // Encoding into memory cannot fail for a valid RGB image.
    let _ = enc.encode_image(img);
    out
}

/// Scene number `index` of `condition`, from `positives` (sprites with a
/// label) and `others` (sprites of brands that are not in the catalog).
pub fn scene(condition: Condition, index: u64, positives: &[Sprite], others: &[Sprite]) -> Scene {
    let mut rng = XorShift::new(
        0x5CE7E ^ (index.wrapping_mul(0x9E37_79B9_7F4A_7C15)) ^ ((condition as u64) << 48),
    );
    let mut img = match condition {
        Condition::Photo | Condition::PhotoNoLogo => photo_background(&mut rng),
        _ => background(&mut rng),
    };
    let mut truth = Vec::new();
    let mut taken = Vec::new();
    let mut placement = Placement {
        width_ratio: 0.15 + rng.unit() as f32 * 0.2,
        angle_deg: (rng.unit() as f32 - 0.5) * 10.0,
        perspective: 0.02,
    };
    match condition {
        Condition::Small => placement.width_ratio = 0.05 + rng.unit() as f32 * 0.05,
        Condition::Large => placement.width_ratio = 0.35 + rng.unit() as f32 * 0.15,
        Condition::Rotation => {
            let a = 10.0 + rng.unit() as f32 * 10.0;
            placement.angle_deg = if rng.below(2) == 0 { a } else { -a };
        }
        Condition::Perspective => placement.perspective = 0.05 + rng.unit() as f32 * 0.10,
        Condition::Tiny => placement.width_ratio = (40.0 + rng.unit() as f32 * 60.0) / WIDTH as f32,
        Condition::Paper => {
            placement.width_ratio = 0.2 + rng.unit() as f32 * 0.2;
            placement.angle_deg = (rng.unit() as f32 - 0.5) * 20.0;
            placement.perspective = 0.03 + rng.unit() as f32 * 0.05;
        }
        Condition::Screen => placement.perspective = 0.03 + rng.unit() as f32 * 0.07,
        Condition::Banner => placement.width_ratio = 0.5 + rng.unit() as f32 * 0.3,
        _ => {}
    }
    let pick = |rng: &mut XorShift, set: &[Sprite]| set[rng.below(set.len())].clone();
    let sprites: Vec<Sprite> = match condition {
        Condition::NoLogo | Condition::PhotoNoLogo => vec![],
        Condition::OtherLogos => vec![pick(&mut rng, others)],
        Condition::LookAlike => vec![look_alike(&pick(&mut rng, positives))],
        Condition::TwoLogos => {
            let first = pick(&mut rng, positives);
            let second = loop {
                let s = pick(&mut rng, positives);
                if s.label != first.label {
                    break s;
                }
            };
            placement.width_ratio = 0.12 + rng.unit() as f32 * 0.15;
            vec![first, second]
        }
        _ => vec![pick(&mut rng, positives)],
    };
    for sprite in &sprites {
        // The look this condition gives the logo, and where the logo itself
        // sits in what is placed (x, y, w, h).
        let whole = |i: &RgbImage| [0, 0, i.width(), i.height()];
        let (drawn, logo_rect) = match condition {
            Condition::Inverted => {
                let i = crate::looks::inverted(&sprite.image);
                let r = whole(&i);
                (i, r)
            }
            Condition::Recoloured => {
                let i = crate::looks::recoloured(&sprite.image, &mut rng);
                let r = whole(&i);
                (i, r)
            }
            Condition::Styled => {
                use crate::looks::Style;
                let style = [
                    Style::Outline,
                    Style::DropShadow,
                    Style::Extrusion,
                    Style::Glow,
                ][rng.below(4)];
                let i = crate::looks::styled(&sprite.image, style, &mut rng);
                let pad = (i.width() - sprite.image.width()) / 2;
                let r = [pad, pad, sprite.image.width(), sprite.image.height()];
                (i, r)
            }
            Condition::Paper => crate::looks::on_paper(&sprite.image, &mut rng),
            Condition::Screen => {
                let i = crate::looks::on_screen(&sprite.image, &mut rng);
                let r = whole(&i);
                (i, r)
            }
            Condition::Banner => {
                let others: Vec<RgbImage> = others.iter().map(|o| o.image.clone()).collect();
                crate::looks::banner(&sprite.image, &others, &mut rng)
            }
            _ => (sprite.image.clone(), whole(&sprite.image)),
        };
        let Some((placed, forward)) = place(&mut img, &drawn, &placement, &mut rng, &taken) else {
            continue;
        };
        taken.push(placed);
        if condition == Condition::Paper {
            crate::looks::fingers(&mut img, placed, &mut rng);
        }
        let Some(b) = mapped_box(&forward, logo_rect) else {
            continue;
        };
        if condition == Condition::Occlusion {
            // A hand-like blob over 20-30% of the logo, from one side.
            let (bw, bh) = (b[2] - b[0], b[3] - b[1]);
            let cover = 0.2 + rng.unit() as f32 * 0.1;
            let skin = Rgb([
                (190.0 + rng.unit() * 40.0) as u8,
                (140.0 + rng.unit() * 30.0) as u8,
                (110.0 + rng.unit() * 30.0) as u8,
            ]);
            let (cx, cy, rx, ry) = match rng.below(4) {
                0 => (b[0], (b[1] + b[3]) / 2.0, bw * cover * 1.3, bh * 0.9),
                1 => (b[2], (b[1] + b[3]) / 2.0, bw * cover * 1.3, bh * 0.9),
                2 => ((b[0] + b[2]) / 2.0, b[1], bw * 0.9, bh * cover * 1.3),
                _ => ((b[0] + b[2]) / 2.0, b[3], bw * 0.9, bh * cover * 1.3),
            };
            fill_ellipse(&mut img, cx, cy, rx, ry, skin, &mut rng);
        }
        if let Some(label) = &sprite.label {
            truth.push((
                label.clone(),
                [
                    b[0] / WIDTH as f32,
                    b[1] / HEIGHT as f32,
                    (b[2] - b[0]) / WIDTH as f32,
                    (b[3] - b[1]) / HEIGHT as f32,
                ],
            ));
        }
    }
    // Whole-frame effects.
    match condition {
        Condition::Lighting => {
            let gain = 0.4 + rng.unit() as f32 * 1.2;
            let offset = (rng.unit() as f32 - 0.5) * 60.0;
            let slope = (rng.unit() as f32 - 0.5) * 0.8;
            for (x, _, p) in img.enumerate_pixels_mut() {
                let g = gain * (1.0 + slope * (x as f32 / WIDTH as f32 - 0.5));
                for c in 0..3 {
                    p[c] = clamp8(p[c] as f32 * g + offset);
                }
            }
        }
        Condition::MotionBlur => {
            let len = 3 + rng.below(7) as i64;
            let angle = rng.unit() * std::f64::consts::PI;
            let (dx, dy) = (angle.cos(), angle.sin());
            let src = img.clone();
            for (x, y, p) in img.enumerate_pixels_mut() {
                let mut acc = [0f32; 3];
                for k in 0..len {
                    let t = k as f64 - (len - 1) as f64 / 2.0;
                    let sx = (x as f64 + t * dx).round().clamp(0.0, WIDTH as f64 - 1.0) as u32;
                    let sy = (y as f64 + t * dy).round().clamp(0.0, HEIGHT as f64 - 1.0) as u32;
                    let q = src.get_pixel(sx, sy);
                    for c in 0..3 {
                        acc[c] += q[c] as f32;
                    }
                }
                *p = Rgb([
                    clamp8(acc[0] / len as f32),
                    clamp8(acc[1] / len as f32),
                    clamp8(acc[2] / len as f32),
                ]);
            }
        }
        _ => {}
    }
    // Sensor noise, then the encoder (IVS thumbnails are JPEG).
    for p in img.pixels_mut() {
        let n = (rng.unit() as f32 + rng.unit() as f32 - 1.0) * 6.0;
        for c in 0..3 {
            p[c] = clamp8(p[c] as f32 + n);
        }
    }
    let quality = if condition == Condition::Jpeg {
        20 + rng.below(21) as u8
    } else {
        80
    };
    Scene {
        jpeg: jpeg(&img, quality),
        truth,
    }
}

/// Counts for one scene or a whole condition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
}

impl Tally {
    pub fn add(&mut self, other: Tally) {
        self.true_positives += other.true_positives;
        self.false_positives += other.false_positives;
        self.false_negatives += other.false_negatives;
    }
    /// 1 when nothing was reported (no false alarm possible).
    pub fn precision(&self) -> f64 {
        let reported = self.true_positives + self.false_positives;
        if reported == 0 {
            1.0
        } else {
            self.true_positives as f64 / reported as f64
        }
    }
    /// 1 when nothing was there to find.
    pub fn recall(&self) -> f64 {
        let present = self.true_positives + self.false_negatives;
        if present == 0 {
            1.0
        } else {
            self.true_positives as f64 / present as f64
        }
    }
}

/// Intersection over the smaller box: a reference that is part of a bigger
/// sign (the aws logo inside the aws cloud) still marks the right place.
fn overlap(a: [f32; 4], b: [f32; 4]) -> f32 {
    let ix = (a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0]);
    let iy = (a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1]);
    if ix <= 0.0 || iy <= 0.0 {
        return 0.0;
    }
    ix * iy / (a[2] * a[3]).min(b[2] * b[3]).max(1e-9)
}

/// Scores reported labels against the truth: a label counts as found when
/// its box overlaps the true one (at least half of the smaller box); a label reported where it is
/// not, or far from where it is, is a false positive.
pub fn score(found: &[(String, [f32; 4])], truth: &[(String, [f32; 4])]) -> Tally {
    let mut tally = Tally::default();
    let mut matched = vec![false; truth.len()];
    for (label, bbox) in found {
        let hit = truth
            .iter()
            .enumerate()
            .find(|(i, (l, b))| !matched[*i] && l == label && overlap(*b, *bbox) >= 0.5);
        match hit {
            Some((i, _)) => {
                matched[i] = true;
                tally.true_positives += 1;
            }
            None => tally.false_positives += 1,
        }
    }
    tally.false_negatives = matched.iter().filter(|m| !**m).count();
    tally
}

/// The seed labels' wordmarks: both seed logos are words.
pub const SEED_WORDMARKS: [(&str, &str); 2] = [("aws", "aws"), ("twitch", "twitch")];

/// The seed references and sprites, and the demo's logos as other brands.
pub struct EvalSet {
    pub references: Vec<detector::Reference>,
    pub positives: Vec<Sprite>,
    pub others: Vec<Sprite>,
}

/// `references` as a detector with `params`, with the seed wordmarks as its
/// second signal (read as `params.reading` says) when `wordmarks` is set
/// (the models come from `scripts/setup.sh`).
pub fn seed_detector(
    references: Vec<detector::Reference>,
    params: detector::Params,
    wordmarks: bool,
) -> anyhow::Result<detector::BuiltinDetector> {
    let detector = detector::BuiltinDetector::with_params(references, params)?;
    if !wordmarks {
        return Ok(detector);
    }
    let reader = detector::text::TextReader::load(&detector::text::default_models_dir())?;
    let wordmarks = SEED_WORDMARKS
        .iter()
        .map(|(label, word)| detector::text::Wordmark::new(label, word))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(detector.with_wordmarks(std::sync::Arc::new(reader), wordmarks))
}

pub fn eval_set() -> anyhow::Result<EvalSet> {
    let dir = seed_logos_dir();
    let mut references = Vec::new();
    let mut positives = Vec::new();
    for (label, file) in SEED_REFERENCES {
        let path = dir.join(file);
        references.push(detector::Reference::load(label, &path).map_err(|e| {
            anyhow::anyhow!("{e} (the seed logos live in ../shared/seed-logos beside the checkout, or set SEED_LOGOS)")
        })?);
        positives.push(load_sprite(label, &path)?);
    }
    let others = demo_show::demo::PRODUCTS
        .iter()
        .filter_map(|p| demo_show::demo::logo(p))
        .map(|img| Sprite {
            label: None,
            image: trimmed(&img),
        })
        .collect();
    Ok(EvalSet {
        references,
        positives,
        others,
    })
}

/// `n` made-up brands as extra references (a word in block letters and a
/// few shapes on a coloured card), to measure the detector with a bigger
/// catalog. They never appear in the scenes.
pub fn made_up_references(n: usize) -> Vec<detector::Reference> {
    let mut rng = XorShift::new(0xB4A2D5);
    (0..n)
        .map(|i| {
            let mut card = RgbImage::from_pixel(420, 200, random_colour(&mut rng));
            for _ in 0..10 {
                let (x, y) = (rng.below(400) as i64, rng.below(180) as i64);
                fill_rect(
                    &mut card,
                    x,
                    y,
                    20 + rng.below(80) as i64,
                    10 + rng.below(40) as i64,
                    random_colour(&mut rng),
                );
            }
            let word: String = (0..5 + rng.below(4))
                .map(|_| (b'A' + rng.below(26) as u8) as char)
                .collect();
            demo_show::font::draw_text(&mut card, 20, 60, 6, random_colour(&mut rng), &word);
            demo_show::font::draw_text(
                &mut card,
                20,
                140,
                3,
                random_colour(&mut rng),
                "EST. 2026 SINCE",
            );
            let gray = detector::gray::Gray::from_rgb(
                card.width() as usize,
                card.height() as usize,
                card.as_raw(),
            );
            detector::Reference::new(format!("brand{i}"), format!("made-up brand {word}"), gray)
        })
        .collect()
}
