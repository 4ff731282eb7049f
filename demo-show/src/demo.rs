//! The demo show: a live scene the studio renders itself, in which the demo
//! catalog's products (fictional brands whose logos are drawn here, in code)
//! enter, stay about 20 seconds and leave, on a loop.

use crate::font;
use image::{Rgb, RgbImage};
use std::time::SystemTime;

pub const WIDTH: u32 = 1280;
pub const HEIGHT: u32 = 720;
pub const FPS: u32 = 30;

/// The demo catalog, served at `/demo/catalog.json`; its image paths are
/// relative to it and are the logos drawn by [`logo`].
pub const CATALOG_JSON: &str = include_str!("../../studio/demo/catalog.json");

/// The demo products' ids, which are also their detection labels.
pub const PRODUCTS: [&str; 3] = ["kestrel", "lumen", "tidewater"];

/// When a logo is on screen in the show, which loops every [`LOOP_SECS`].
#[derive(Debug, Clone, Copy)]
pub struct Appearance {
    pub product: &'static str,
    pub enter: f64,
    pub leave: f64,
    /// Top-left corner while on screen.
    pub x: i64,
    pub y: i64,
}

pub const LOOP_SECS: f64 = 90.0;

/// The show's schedule: each product alone for ~22 s, then two at once.
pub const SCHEDULE: [Appearance; 4] = [
    Appearance {
        product: "kestrel",
        enter: 3.0,
        leave: 25.0,
        x: 120,
        y: 200,
    },
    Appearance {
        product: "lumen",
        enter: 28.0,
        leave: 50.0,
        x: 800,
        y: 180,
    },
    Appearance {
        product: "tidewater",
        enter: 53.0,
        leave: 75.0,
        x: 160,
        y: 240,
    },
    Appearance {
        product: "kestrel",
        enter: 60.0,
        leave: 75.0,
        x: 820,
        y: 260,
    },
];

const SLIDE_SECS: f64 = 0.8;

/// Which products are fully on screen at `show_secs` into the loop.
pub fn on_screen(show_secs: f64) -> Vec<&'static str> {
    let t = show_secs.rem_euclid(LOOP_SECS);
    SCHEDULE
        .iter()
        .filter(|a| t >= a.enter + SLIDE_SECS && t < a.leave - SLIDE_SECS)
        .map(|a| a.product)
        .collect()
}

const LOGO_W: u32 = 360;
const LOGO_H: u32 = 220;

fn fill_rect(img: &mut RgbImage, x0: i64, y0: i64, w: i64, h: i64, c: Rgb<u8>) {
    let (iw, ih) = (img.width() as i64, img.height() as i64);
    for y in y0.max(0)..(y0 + h).min(ih) {
        for x in x0.max(0)..(x0 + w).min(iw) {
            img.put_pixel(x as u32, y as u32, c);
        }
    }
}

fn fill_circle(img: &mut RgbImage, cx: f64, cy: f64, r: f64, c: Rgb<u8>) {
    let (iw, ih) = (img.width() as i64, img.height() as i64);
    let (x0, x1) = (
        ((cx - r).floor() as i64).max(0),
        ((cx + r).ceil() as i64).min(iw - 1),
    );
    let (y0, y1) = (
        ((cy - r).floor() as i64).max(0),
        ((cy + r).ceil() as i64).min(ih - 1),
    );
    for y in y0..=y1 {
        for x in x0..=x1 {
            let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
            if dx * dx + dy * dy <= r * r {
                img.put_pixel(x as u32, y as u32, c);
            }
        }
    }
}

fn fill_triangle(img: &mut RgbImage, p: [(f64, f64); 3], c: Rgb<u8>) {
    let edge = |a: (f64, f64), b: (f64, f64), x: f64, y: f64| {
        (b.0 - a.0) * (y - a.1) - (b.1 - a.1) * (x - a.0)
    };
    let xs = p.iter().map(|q| q.0);
    let ys = p.iter().map(|q| q.1);
    let x0 = xs.clone().fold(f64::MAX, f64::min).floor().max(0.0) as u32;
    let x1 = xs
        .fold(f64::MIN, f64::max)
        .ceil()
        .min(img.width() as f64 - 1.0) as u32;
    let y0 = ys.clone().fold(f64::MAX, f64::min).floor().max(0.0) as u32;
    let y1 = ys
        .fold(f64::MIN, f64::max)
        .ceil()
        .min(img.height() as f64 - 1.0) as u32;
    for y in y0..=y1 {
        for x in x0..=x1 {
            let (fx, fy) = (x as f64 + 0.5, y as f64 + 0.5);
            let e = [
                edge(p[0], p[1], fx, fy),
                edge(p[1], p[2], fx, fy),
                edge(p[2], p[0], fx, fy),
            ];
            if e.iter().all(|v| *v >= 0.0) || e.iter().all(|v| *v <= 0.0) {
                img.put_pixel(x, y, c);
            }
        }
    }
}

fn thick_line(img: &mut RgbImage, a: (f64, f64), b: (f64, f64), width: f64, c: Rgb<u8>) {
    let steps = ((b.0 - a.0).hypot(b.1 - a.1) / (width / 3.0))
        .ceil()
        .max(1.0) as usize;
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        fill_circle(
            img,
            a.0 + (b.0 - a.0) * t,
            a.1 + (b.1 - a.1) * t,
            width / 2.0,
            c,
        );
    }
}

fn centered_text(img: &mut RgbImage, y: i64, scale: u32, c: Rgb<u8>, text: &str) {
    let x = (img.width() as i64 - font::text_width(text, scale) as i64) / 2;
    font::draw_text(img, x, y, scale, c, text);
}

fn framed(bg: Rgb<u8>, border: Rgb<u8>) -> RgbImage {
    let mut img = RgbImage::from_pixel(LOGO_W, LOGO_H, border);
    fill_rect(&mut img, 6, 6, LOGO_W as i64 - 12, LOGO_H as i64 - 12, bg);
    img
}

/// A demo product's logo, drawn in code; `None` for an unknown id.
pub fn logo(product: &str) -> Option<RgbImage> {
    let white = Rgb([255, 255, 255]);
    match product {
        "kestrel" => {
            let orange = Rgb([226, 88, 20]);
            let mut img = framed(orange, Rgb([40, 20, 10]));
            // A kestrel in flight: two swept wings, a body and a head.
            fill_triangle(
                &mut img,
                [(180.0, 70.0), (90.0, 30.0), (150.0, 95.0)],
                white,
            );
            fill_triangle(
                &mut img,
                [(180.0, 70.0), (270.0, 30.0), (210.0, 95.0)],
                white,
            );
            fill_triangle(
                &mut img,
                [(165.0, 70.0), (195.0, 70.0), (180.0, 125.0)],
                white,
            );
            fill_circle(&mut img, 180.0, 62.0, 12.0, white);
            centered_text(&mut img, 138, 6, white, "KESTREL");
            centered_text(&mut img, 188, 2, Rgb([60, 24, 6]), "TRAIL RUNNING CO");
            Some(img)
        }
        "lumen" => {
            let navy = Rgb([22, 34, 74]);
            let yellow = Rgb([255, 204, 51]);
            let mut img = framed(navy, Rgb([250, 250, 240]));
            for i in 0..12 {
                let a = i as f64 * std::f64::consts::TAU / 12.0;
                let (s, c) = a.sin_cos();
                thick_line(
                    &mut img,
                    (180.0 + 48.0 * c, 70.0 + 48.0 * s),
                    (180.0 + 66.0 * c, 70.0 + 66.0 * s),
                    7.0,
                    yellow,
                );
            }
            fill_circle(&mut img, 180.0, 70.0, 36.0, yellow);
            fill_circle(&mut img, 192.0, 62.0, 26.0, navy);
            centered_text(&mut img, 146, 7, yellow, "LUMEN");
            Some(img)
        }
        "tidewater" => {
            let teal = Rgb([8, 110, 118]);
            let mut img = framed(teal, Rgb([240, 250, 250]));
            for (k, y0) in [44.0, 74.0, 104.0].into_iter().enumerate() {
                let phase = k as f64 * 0.9;
                let mut prev = None;
                for x in (30..=330).step_by(6) {
                    let p = (x as f64, y0 + 12.0 * ((x as f64) / 28.0 + phase).sin());
                    if let Some(q) = prev {
                        thick_line(&mut img, q, p, 7.0, white);
                    }
                    prev = Some(p);
                }
            }
            centered_text(&mut img, 138, 5, white, "TIDEWATER");
            centered_text(&mut img, 186, 3, Rgb([190, 240, 235]), "COLD BREW");
            Some(img)
        }
        _ => None,
    }
}

/// PNG bytes of a demo logo.
pub fn logo_png(product: &str) -> Option<Vec<u8>> {
    let img = logo(product)?;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).ok()?;
    Some(out.into_inner())
}

/// Renders the show frame by frame.
pub struct Show {
    background: RgbImage,
    logos: Vec<(&'static str, RgbImage)>,
    frame: RgbImage,
}

impl Default for Show {
    fn default() -> Self {
        Self::new()
    }
}

impl Show {
    pub fn new() -> Self {
        let mut background = RgbImage::new(WIDTH, HEIGHT);
        for (_, y, p) in background.enumerate_pixels_mut() {
            let t = y as f32 / HEIGHT as f32;
            *p = Rgb([
                (28.0 + 30.0 * t) as u8,
                (32.0 + 26.0 * t) as u8,
                (52.0 + 20.0 * t) as u8,
            ]);
        }
        // A desk and a back wall shelf line.
        fill_rect(
            &mut background,
            0,
            560,
            WIDTH as i64,
            160,
            Rgb([92, 64, 46]),
        );
        fill_rect(&mut background, 0, 556, WIDTH as i64, 6, Rgb([130, 94, 66]));
        fill_rect(&mut background, 0, 130, WIDTH as i64, 4, Rgb([70, 78, 100]));
        font::draw_text(
            &mut background,
            40,
            640,
            3,
            Rgb([235, 225, 210]),
            "LOCAL STUDIO - DEMO SHOW",
        );
        fill_rect(&mut background, 40, 36, 96, 40, Rgb([200, 30, 40]));
        font::draw_text(&mut background, 54, 46, 3, Rgb([255, 255, 255]), "LIVE");
        let logos = PRODUCTS
            .iter()
            .filter_map(|p| logo(p).map(|img| (*p, img)))
            .collect();
        Self {
            frame: background.clone(),
            background,
            logos,
        }
    }

    /// The frame `show_secs` into the show, with `now` on the clock. Raw
    /// RGB24, row-major: what ffmpeg's rawvideo input reads.
    pub fn render(&mut self, show_secs: f64, now: SystemTime) -> &[u8] {
        self.frame.copy_from_slice(&self.background);
        let t = show_secs.rem_euclid(LOOP_SECS);

        // Movement: a light sweeping along the shelf and a ball on the desk.
        let sweep = ((show_secs * 0.25).sin() * 0.5 + 0.5) * (WIDTH as f64 - 200.0);
        fill_rect(
            &mut self.frame,
            sweep as i64,
            126,
            200,
            12,
            Rgb([250, 236, 180]),
        );
        let ball_x = 640.0 + 520.0 * (show_secs * 0.7).sin();
        let ball_y = 600.0 - 30.0 * (show_secs * 3.1).sin().abs();
        fill_circle(&mut self.frame, ball_x, ball_y, 18.0, Rgb([90, 200, 120]));

        for a in SCHEDULE.iter().filter(|a| t >= a.enter && t < a.leave) {
            let Some((_, logo)) = self.logos.iter().find(|(p, _)| *p == a.product) else {
                continue;
            };
            // Slide in from the left edge, out to the right edge.
            let x = if t < a.enter + SLIDE_SECS {
                let k = (t - a.enter) / SLIDE_SECS;
                -(LOGO_W as f64) + (a.x as f64 + LOGO_W as f64) * k
            } else if t > a.leave - SLIDE_SECS {
                let k = (t - (a.leave - SLIDE_SECS)) / SLIDE_SECS;
                a.x as f64 + (WIDTH as f64 - a.x as f64) * k
            } else {
                a.x as f64
            };
            let bob = 8.0 * (show_secs * 1.3 + a.enter).sin();
            blit(&mut self.frame, logo, x as i64, a.y + bob as i64);
        }

        // The UTC time of day, to the tenth of a second.
        let ms = now
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
            % 86_400_000;
        let text = format!(
            "{:02}:{:02}:{:02}.{}",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000 / 100
        );
        fill_rect(&mut self.frame, 930, 30, 320, 56, Rgb([12, 14, 22]));
        font::draw_text(&mut self.frame, 946, 42, 5, Rgb([240, 240, 240]), &text);
        self.frame.as_raw()
    }
}

/// Copies `src` onto `dst` at (x, y), clipped to `dst`.
fn blit(dst: &mut RgbImage, src: &RgbImage, x: i64, y: i64) {
    let (dw, dh) = (dst.width() as i64, dst.height() as i64);
    let (sw, sh) = (src.width() as i64, src.height() as i64);
    let (x0, x1) = (x.max(0), (x + sw).min(dw));
    if x0 >= x1 {
        return;
    }
    for row in y.max(0)..(y + sh).min(dh) {
        let sy = row - y;
        let s = ((sy * sw + (x0 - x)) * 3) as usize;
        let d = ((row * dw + x0) * 3) as usize;
        let n = ((x1 - x0) * 3) as usize;
        let (src_raw, dst_raw): (&[u8], &mut [u8]) = (src.as_raw(), &mut *dst);
        dst_raw[d..d + n].copy_from_slice(&src_raw[s..s + n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ad_contract::Catalog;

    #[test]
    fn the_demo_catalog_is_valid_and_matches_the_logos() {
        let catalog = Catalog::from_json(CATALOG_JSON).unwrap();
        for id in PRODUCTS {
            let product = catalog
                .get_str(id)
                .unwrap_or_else(|| panic!("{id} in catalog"));
            assert!(product.link_url.starts_with("https://"));
            assert_eq!(product.image_url, format!("{id}.png"));
            assert!(logo_png(id).is_some());
        }
        assert!(logo("nope").is_none());
    }

    /// `studio/demo/` is a complete catalog folder (the CDK app deploys it
    /// by default; `detect` and `adctl` read it): its PNGs must be exactly
    /// what the show draws. `UPDATE_DEMO_LOGOS=1 cargo test -p studio
    /// demo_logo_files` rewrites them after a change to `logo`.
    #[test]
    fn demo_logo_files_are_what_the_show_draws() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../studio/demo");
        for id in PRODUCTS {
            let path = dir.join(format!("{id}.png"));
            let drawn = logo(id).unwrap();
            if std::env::var_os("UPDATE_DEMO_LOGOS").is_some() {
                std::fs::write(&path, logo_png(id).unwrap()).unwrap();
            }
            let file = image::open(&path)
                .unwrap_or_else(|e| {
                    panic!(
                        "{}: {e}; run UPDATE_DEMO_LOGOS=1 cargo test -p demo-show demo_logo_files",
                        path.display()
                    )
                })
                .to_rgb8();
            assert!(
                file == drawn,
                "{} differs from logo({id:?}); run UPDATE_DEMO_LOGOS=1 cargo test -p demo-show demo_logo_files",
                path.display()
            );
        }
    }

    #[test]
    fn logos_differ_from_each_other() {
        let a = logo("kestrel").unwrap();
        let b = logo("lumen").unwrap();
        let differing = a.pixels().zip(b.pixels()).filter(|(p, q)| p != q).count();
        assert!(differing > (LOGO_W * LOGO_H / 2) as usize);
    }

    #[test]
    fn each_product_appears_for_about_twenty_seconds() {
        for id in PRODUCTS {
            let visible = (0..(LOOP_SECS * 10.0) as u32)
                .filter(|t| on_screen(*t as f64 / 10.0).contains(&id))
                .count() as f64
                / 10.0;
            assert!(visible >= 18.0, "{id}: {visible} s");
        }
        assert!(on_screen(1.0).is_empty(), "the loop opens with no product");
        assert_eq!(on_screen(65.0).len(), 2, "two at once");
    }

    #[test]
    fn frames_show_the_logo_when_scheduled() {
        let mut show = Show::new();
        let now = SystemTime::now();
        let logo = logo("kestrel").unwrap();
        let frame = show.render(10.0, now).to_vec();
        let frame = RgbImage::from_raw(WIDTH, HEIGHT, frame).unwrap();
        let a = SCHEDULE[0];
        let bob = (8.0 * (10.0f64 * 1.3 + a.enter).sin()) as i64;
        // The logo's centre pixel is where the schedule puts it.
        let p = frame.get_pixel((a.x + 180) as u32, (a.y + bob + 170) as u32);
        assert_eq!(p, logo.get_pixel(180, 170));
        let empty = show.render(1.0, now).to_vec();
        assert_eq!(empty.len(), (WIDTH * HEIGHT * 3) as usize);
    }
}
