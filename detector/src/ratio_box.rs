//! Where something is in a frame, as ratios of the frame's width and height:
//! the same box whatever size the frame was analysed at, and the shape
//! Rekognition gives (the backend converts it into its `BoundingBox`).

/// A box as ratios of the frame (0 to 1): left, top, width, height.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RatioBox {
    pub left: f32,
    pub top: f32,
    pub width: f32,
    pub height: f32,
}

impl RatioBox {
    /// A box `x, y, w, h` in pixels of an image `fw` x `fh`.
    pub fn of_pixels([x, y, w, h]: [f32; 4], fw: f32, fh: f32) -> Self {
        Self {
            left: x / fw,
            top: y / fh,
            width: w / fw,
            height: h / fh,
        }
    }

    /// The box around a quad of points in an image `fw` x `fh`, cut to the
    /// image; `None` when nothing of it is inside.
    pub fn around(quad: &[(f64, f64); 4], fw: f64, fh: f64) -> Option<Self> {
        let xs = quad.iter().map(|q| q.0);
        let ys = quad.iter().map(|q| q.1);
        let (x0, x1) = (
            xs.clone().fold(f64::MAX, f64::min).max(0.0),
            xs.fold(f64::MIN, f64::max).min(fw),
        );
        let (y0, y1) = (
            ys.clone().fold(f64::MAX, f64::min).max(0.0),
            ys.fold(f64::MIN, f64::max).min(fh),
        );
        if x1 <= x0 || y1 <= y0 {
            return None;
        }
        Some(Self {
            left: (x0 / fw) as f32,
            top: (y0 / fh) as f32,
            width: ((x1 - x0) / fw) as f32,
            height: ((y1 - y0) / fh) as f32,
        })
    }

    /// Whether the two boxes overlap (touching edges do not).
    pub fn meets(&self, other: &Self) -> bool {
        self.left < other.left + other.width
            && other.left < self.left + self.width
            && self.top < other.top + other.height
            && other.top < self.top + self.height
    }

    /// Left, top, width, height: for code that scores boxes as arrays.
    pub fn to_array(self) -> [f32; 4] {
        [self.left, self.top, self.width, self.height]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quad_is_boxed_and_cut_to_the_image() {
        let quad = [(-10.0, 20.0), (60.0, 10.0), (70.0, 80.0), (0.0, 90.0)];
        let b = RatioBox::around(&quad, 100.0, 50.0).unwrap();
        assert_eq!(b.to_array(), [0.0, 0.2, 0.7, 0.8]);
        let outside = [(110.0, 0.0), (120.0, 0.0), (120.0, 10.0), (110.0, 10.0)];
        assert_eq!(RatioBox::around(&outside, 100.0, 50.0), None);
    }

    #[test]
    fn boxes_meet_only_when_they_overlap() {
        let a = RatioBox::of_pixels([0.0, 0.0, 10.0, 10.0], 100.0, 100.0);
        let b = RatioBox::of_pixels([5.0, 5.0, 10.0, 10.0], 100.0, 100.0);
        let c = RatioBox::of_pixels([10.0, 0.0, 10.0, 10.0], 100.0, 100.0);
        assert!(a.meets(&b) && b.meets(&a));
        assert!(!a.meets(&c) && !c.meets(&a));
    }
}
