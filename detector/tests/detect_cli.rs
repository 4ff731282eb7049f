//! The `detect` binary on real files: JSON lines for good images, and clear
//! refusals (never a panic) for unreadable, corrupt, empty, huge and
//! textureless input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const DETECT: &str = env!("CARGO_BIN_EXE_detect");

fn seed(name: &str) -> PathBuf {
    std::env::var_os("SEED_LOGOS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/seed-logos"))
        .join(name)
}

struct Scratch(PathBuf);
impl Scratch {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("detect-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("scratch dir");
        Self(p)
    }
    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).expect("write");
        p.to_string_lossy().into_owned()
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(DETECT)
        .args(args)
        .output()
        .expect("detect runs")
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG that declares 10000x10000 pixels (and holds none): decoding it would
/// need 300 MB.
fn huge_png_header() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(10000u32.to_be_bytes());
    ihdr.extend(10000u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc32(&ihdr).to_be_bytes());
    // A little image data and the end, so the header reads as complete.
    for (kind, data) in [
        (
            &b"IDAT"[..],
            &[0x78u8, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01][..],
        ),
        (&b"IEND"[..], &[][..]),
    ] {
        let mut chunk = kind.to_vec();
        chunk.extend(data);
        png.extend((data.len() as u32).to_be_bytes());
        png.extend(&chunk);
        png.extend(crc32(&chunk).to_be_bytes());
    }
    png
}

/// A lossless WebP (VP8L) header declaring `w`x`h`, with garbage after it.
fn webp_header(w: u32, h: u32) -> Vec<u8> {
    let bits = (w - 1) | ((h - 1) << 14);
    let mut vp8l = vec![0x2f];
    vp8l.extend(bits.to_le_bytes());
    vp8l.extend([0xA5u8; 24]);
    let mut riff = b"RIFF".to_vec();
    riff.extend(((4 + 8 + vp8l.len()) as u32).to_le_bytes());
    riff.extend(b"WEBPVP8L");
    riff.extend((vp8l.len() as u32).to_le_bytes());
    riff.extend(vp8l);
    riff
}

/// `path` re-encoded as WebP (lossless) or PNG, optionally scaled.
fn reencoded(path: &Path, format: image::ImageFormat, scale: f32) -> Vec<u8> {
    let img = image::open(path).expect("seed logo").to_rgb8();
    let (w, h) = (
        ((img.width() as f32 * scale) as u32).max(1),
        ((img.height() as f32 * scale) as u32).max(1),
    );
    let img = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, format)
        .expect("encode");
    out.into_inner()
}

#[test]
fn webp_frames_and_references_are_read() {
    let scratch = Scratch::new("webp");
    let twitch = seed("twitch-1.png");
    let frame = scratch.file(
        "twitch.webp",
        &reencoded(&twitch, image::ImageFormat::WebP, 1.0),
    );
    let reference = scratch.file(
        "ref.webp",
        &reencoded(&twitch, image::ImageFormat::WebP, 0.8),
    );
    let out = run(&["--reference", &format!("twitch={reference}"), &frame]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\"twitch\""), "{stdout}");
}

#[test]
fn finds_a_reference_in_itself_and_prints_json_lines() {
    let aws = seed("aws-1.png");
    let twitch = seed("twitch-1.png");
    let (aws, twitch) = (aws.to_string_lossy(), twitch.to_string_lossy());
    let out = run(&[
        "--reference",
        &format!("aws={aws}"),
        "--reference",
        &format!("twitch={twitch}"),
        &aws,
        &twitch,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["image"], aws.as_ref());
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["labels"]
            .as_array()
            .expect("labels")
            .iter()
            .map(|l| l["name"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(names(&lines[0]), ["aws"]);
    assert_eq!(names(&lines[1]), ["twitch"]);
    let label = &lines[0]["labels"][0];
    let confidence = label["confidence"].as_f64().expect("confidence");
    assert!((0.0..=100.0).contains(&confidence));
    for side in ["left", "top", "width", "height"] {
        let v = label["box"][side].as_f64().expect("box side");
        assert!((0.0..=1.0).contains(&v), "{side} = {v}");
    }
}

#[test]
fn bad_images_are_named_and_the_rest_still_analysed() {
    let scratch = Scratch::new("images");
    let aws = seed("aws-1.png").to_string_lossy().into_owned();
    let empty = scratch.file("empty.jpg", b"");
    let corrupt = scratch.file(
        "corrupt.jpg",
        &[
            0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 2, 3,
        ],
    );
    let huge = scratch.file("huge.png", &huge_png_header());
    let text = scratch.file("notes.txt", b"not an image at all");
    let huge_webp = scratch.file("huge.webp", &webp_header(10000, 10000));
    let corrupt_webp = scratch.file("corrupt.webp", &webp_header(64, 64));
    let missing = scratch.0.join("missing.jpg").to_string_lossy().into_owned();
    let out = run(&[
        "--reference",
        &format!("aws={aws}"),
        &empty,
        &corrupt,
        &huge,
        &text,
        &missing,
        &huge_webp,
        &corrupt_webp,
        &aws,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (file, why) in [
        (&empty, "0 bytes"),
        (&corrupt, "corrupt"),
        (&huge, "10000x10000"),
        (&text, "PNG, JPEG or WebP"),
        (&missing, "cannot read"),
        (&huge_webp, "10000x10000"),
        (&corrupt_webp, "corrupt WebP"),
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(file.as_str()) && l.contains(why)),
            "{file}: {why} in {stderr}"
        );
    }
    assert!(
        stderr.contains("7 of 8 image(s) could not be analysed"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
    // The good image still got its line.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("\"aws\""));
}

#[test]
fn bad_references_stop_with_the_label_and_the_fix() {
    let scratch = Scratch::new("refs");
    let flat = {
        let img = image::GrayImage::from_pixel(300, 200, image::Luma([200]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .expect("png");
        scratch.file("flat.png", &out.into_inner())
    };
    let aws = seed("aws-1.png").to_string_lossy().into_owned();
    let tiny = scratch.file(
        "tiny.png",
        &reencoded(&seed("twitch-1.png"), image::ImageFormat::Png, 0.08),
    );
    let cases = [
        (format!("mug={flat}"), "too little texture"),
        (format!("mug={tiny}"), "too small"),
        (format!("mug={}", scratch.file("zero.png", b"")), "0 bytes"),
        ("mug".to_string(), "LABEL=IMAGE"),
        (format!("={aws}"), "needs both a label and an image path"),
    ];
    for (spec, why) in cases {
        let out = run(&["--reference", &spec, &aws]);
        assert_eq!(out.status.code(), Some(2), "{spec}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{spec}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

/// `path` with the strip from 36% to 62% of its width turned upside down:
/// in "aws" the w becomes an m.
fn look_alike_of(path: &Path) -> Vec<u8> {
    let img = image::open(path).expect("seed logo").to_rgb8();
    let mut out = img.clone();
    let (w, h) = img.dimensions();
    for x in w * 36 / 100..w * 62 / 100 {
        for y in 0..h {
            out.put_pixel(x, y, *img.get_pixel(x, h - 1 - y));
        }
    }
    let mut bytes = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(out)
        .write_to(&mut bytes, image::ImageFormat::Png)
        .expect("png");
    bytes.into_inner()
}

#[test]
fn a_wordmark_is_read_as_text_and_letters_count() {
    let scratch = Scratch::new("wordmark");
    let aws = seed("aws-1.png").to_string_lossy().into_owned();
    let twitch = seed("twitch-1.png").to_string_lossy().into_owned();
    let ams = scratch.file("ams.png", &look_alike_of(&seed("aws-1.png")));
    // No aws reference image at all: only the text can find it.
    let out = run(&[
        "--reference",
        &format!("twitch={twitch}"),
        "--wordmark",
        "aws=AWS",
        &aws,
        &ams,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].contains("\"aws\""), "aws read as text: {stdout}");
    assert!(
        !lines[1].contains("\"aws\""),
        "\"ams\" is not aws: {stdout}"
    );
}

#[test]
fn bad_wordmarks_and_missing_models_stop_with_the_fix() {
    let scratch = Scratch::new("wordmark-bad");
    let twitch = seed("twitch-1.png").to_string_lossy().into_owned();
    let nowhere = scratch.0.join("no-models").to_string_lossy().into_owned();
    let cases: [(&[&str], &str); 3] = [
        (&["--wordmark", "aws=!"], "at least two letters"),
        (&["--wordmark", "aws"], "LABEL=WORD"),
        (
            &["--wordmark", "aws=aws", "--text-models", &nowhere],
            "scripts/setup.sh",
        ),
    ];
    for (extra, why) in cases {
        let mut args = vec!["--reference", &*format!("twitch={twitch}")]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(twitch.clone());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{extra:?}: {stderr}");
    }
}

/// Twitch's dark strokes as a logo file usually comes: `ink` where the seed
/// logo is dark, transparent elsewhere (PNG with alpha).
fn mark_on_transparency(ink: u8) -> Vec<u8> {
    let img = image::open(seed("twitch-1.png"))
        .expect("seed logo")
        .to_luma8();
    let rgba = image::RgbaImage::from_fn(img.width(), img.height(), |x, y| {
        if img.get_pixel(x, y).0[0] < 100 {
            image::Rgba([ink, ink, ink, 255])
        } else {
            image::Rgba([0, 0, 0, 0])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgba8(rgba)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode");
    out.into_inner()
}

/// The same strokes, `ink` on a `ground` frame 1.3 times the logo's size.
fn mark_on_ground(ink: u8, ground: u8) -> Vec<u8> {
    let img = image::open(seed("twitch-1.png"))
        .expect("seed logo")
        .to_luma8();
    let (w, h) = (img.width() * 13 / 10, img.height() * 13 / 10);
    let (ox, oy) = ((w - img.width()) / 2, (h - img.height()) / 2);
    let frame = image::GrayImage::from_fn(w, h, |x, y| {
        let inside = x >= ox && y >= oy && x - ox < img.width() && y - oy < img.height();
        if inside && img.get_pixel(x - ox, y - oy).0[0] < 100 {
            image::Luma([ink])
        } else {
            image::Luma([ground])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(frame)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode");
    out.into_inner()
}

/// A transparent PNG works as given: a black mark on transparency (once
/// refused, its transparent pixels read as black: "0 keypoints") and a
/// white one are each found on the ground that shows them.
#[test]
fn transparent_references_work_as_given() {
    let scratch = Scratch::new("alpha");
    for (ink, ground) in [(0u8, 235u8), (255, 30)] {
        let reference = scratch.file(&format!("mark-{ink}.png"), &mark_on_transparency(ink));
        let frame = scratch.file(&format!("frame-{ink}.png"), &mark_on_ground(ink, ground));
        let out = run(&["--reference", &format!("twitch={reference}"), &frame]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "ink {ink}: {stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("\"twitch\""),
            "ink {ink}: {stdout} {stderr}"
        );
    }
}

/// A mark of corners and curves, black on transparency, as a logo's SVG.
const SVG_MARK: &str = r##"<polygon points="10,190 70,10 130,190 100,190 70,90 40,190"/>
<rect x="150" y="20" width="40" height="170"/>
<polygon points="210,20 300,20 300,60 250,60 250,90 290,90 290,130 250,130 250,190 210,190"/>
<circle cx="360" cy="105" r="85"/>
<circle cx="360" cy="105" r="45" fill="white"/>
<polygon points="330,95 395,60 380,150"/>
<rect x="470" y="20" width="30" height="30"/><rect x="520" y="70" width="30" height="30"/>
<rect x="470" y="120" width="30" height="70"/><polygon points="520,190 560,130 600,190"/>"##;

fn svg_logo() -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 610 200" width="305" height="100">{SVG_MARK}</svg>"#
    )
}

/// A 1280x720 frame with the mark drawn on a light ground, smaller and
/// turned a little: rendered from its own SVG, then encoded as a PNG.
fn frame_with_svg_mark() -> Vec<u8> {
    use resvg::{tiny_skia, usvg};
    let svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="1280" height="720"><rect width="1280" height="720" fill="#d9d4c8"/><g transform="translate(420 260) rotate(6) scale(0.55)">{SVG_MARK}</g></svg>"##
    );
    let tree = usvg::Tree::from_str(&svg, &usvg::Options::default()).expect("frame svg");
    let mut pixmap = tiny_skia::Pixmap::new(1280, 720).expect("pixmap");
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().expect("png")
}

/// An SVG logo works as given (rendered in memory, its transparency laid on
/// a contrasting ground), and an unreadable one is refused with the label
/// and the fix.
#[test]
fn svg_references_work_as_given() {
    let scratch = Scratch::new("svg");
    let reference = scratch.file("mark.svg", svg_logo().as_bytes());
    let frame = scratch.file("frame.png", &frame_with_svg_mark());
    let out = run(&["--reference", &format!("mark={reference}"), &frame]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("\"mark\""), "{stdout} {stderr}");

    let broken = scratch.file(
        "broken.svg",
        b"<svg xmlns=\"http://www.w3.org/2000/svg\"><rect",
    );
    let out = run(&["--reference", &format!("mark={broken}"), &frame]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("\"mark\"")
            && stderr.contains("broken.svg")
            && stderr.contains("is not an SVG the detector can read")
            && stderr.contains("give a PNG instead"),
        "{stderr}"
    );
}
