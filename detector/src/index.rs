//! One index over the descriptors of every reference, so that matching a
//! frame costs less than a pass over the whole catalog.
//!
//! Multi-probe locality-sensitive hashing for Hamming space (Gionis et al.,
//! 1999; Lv et al., "Multi-probe LSH", 2007): each table keys a descriptor
//! by `bits` of its 256 bits, chosen at random from a fixed seed; a query
//! looks in its own bucket and in the `bits` buckets one bit away. Two
//! descriptors `d` bits apart share a probed bucket in one table with
//! probability `q^k + k(1-q)q^(k-1)` (`q = 1 - d/256`), so over 16 tables a
//! good match (d <= 50) is missed about 2% of the time with 12-bit keys.
//!
//! The key grows with the catalog (one bit per doubling), so a bucket holds
//! about one descriptor whatever the catalog's size: the work per frame
//! descriptor grows with the number of probes, not with the catalog.
//! What is approximate: a far-away neighbour may be missed, so the ratio
//! test sometimes sees no rival; the geometric checks and the verification
//! downstream are what reject wrong matches, not the ratio test alone.

use crate::geometry::XorShift;
use crate::orb::{hamming, Descriptor};

const TABLES: usize = 16;
const MIN_KEY_BITS: usize = 10;
const MAX_KEY_BITS: usize = 18;
/// Bits keys are drawn from (see [`balanced_bits`]).
const POOL: usize = 128;

/// Below this many descriptors a plain scan is as fast (measured: with the
/// two seed products, about 1,700 descriptors, the index looked at a third
/// of them per query) and exact.
const SCAN_BELOW: usize = 8192;

struct Table {
    /// Bit positions (0..256) that make the key, most significant first.
    positions: Vec<u8>,
    /// Bucket `k` holds `ids[starts[k]..starts[k + 1]]`.
    starts: Vec<u32>,
    ids: Vec<u32>,
}

impl Table {
    fn key(&self, d: &Descriptor) -> usize {
        self.positions.iter().fold(0usize, |key, &p| {
            (key << 1) | ((d[(p >> 6) as usize] >> (p & 63)) & 1) as usize
        })
    }

    fn bucket(&self, key: usize) -> &[u32] {
        &self.ids[self.starts[key] as usize..self.starts[key + 1] as usize]
    }
}

/// Where a descriptor came from: reference and keypoint within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    pub reference: u32,
    pub keypoint: u32,
}

/// The three nearest descriptors of one reference to one frame descriptor:
/// (distance, keypoint in that reference), nearest first; missing entries
/// are `(u32::MAX, u32::MAX)`.
pub type Nearest = [(u32, u32); 3];

/// The bits keys are drawn from: the half of the 256 that are closest to
/// an even split of ones and zeros over the indexed descriptors. BRIEF bits
/// are far from uniform on logos (flat regions, the polarity fold), and a
/// key of lopsided bits puts most descriptors in a few buckets.
fn balanced_bits(descriptors: &[Descriptor]) -> Vec<u8> {
    let mut ones = [0usize; 256];
    for d in descriptors {
        for (b, count) in ones.iter_mut().enumerate() {
            *count += ((d[b >> 6] >> (b & 63)) & 1) as usize;
        }
    }
    let half = descriptors.len() / 2;
    let mut bits: Vec<u8> = (0..=255).collect();
    bits.sort_by_key(|&b| (ones[b as usize].abs_diff(half), b));
    bits.truncate(POOL);
    bits
}

pub struct DescriptorIndex {
    descriptors: Vec<Descriptor>,
    origins: Vec<Origin>,
    references: usize,
    tables: Vec<Table>,
}

impl DescriptorIndex {
    /// Indexes `references`, each a list of descriptors.
    pub fn build<'a>(references: impl IntoIterator<Item = &'a [Descriptor]>) -> Self {
        let mut descriptors = Vec::new();
        let mut origins = Vec::new();
        let mut count = 0;
        for (r, list) in references.into_iter().enumerate() {
            count = r + 1;
            for (k, d) in list.iter().enumerate() {
                descriptors.push(*d);
                origins.push(Origin {
                    reference: r as u32,
                    keypoint: k as u32,
                });
            }
        }
        let n = descriptors.len();
        let tables = if n < SCAN_BELOW {
            Vec::new()
        } else {
            let bits = (usize::BITS - n.leading_zeros()) as usize;
            let bits = bits.clamp(MIN_KEY_BITS, MAX_KEY_BITS);
            let pool = balanced_bits(&descriptors);
            let mut rng = XorShift::new(0x1D_E5C0_0000_0256);
            (0..TABLES)
                .map(|_| {
                    let mut all = pool.clone();
                    // Partial Fisher-Yates: the first `bits` positions.
                    for i in 0..bits {
                        let j = i + rng.below(all.len() - i);
                        all.swap(i, j);
                    }
                    all.truncate(bits);
                    let mut table = Table {
                        positions: all,
                        starts: Vec::new(),
                        ids: Vec::new(),
                    };
                    let keys: Vec<usize> = descriptors.iter().map(|d| table.key(d)).collect();
                    let mut starts = vec![0u32; (1 << bits) + 1];
                    for &k in &keys {
                        starts[k + 1] += 1;
                    }
                    for k in 0..1 << bits {
                        starts[k + 1] += starts[k];
                    }
                    let mut fill = starts.clone();
                    let mut ids = vec![0u32; n];
                    for (id, &k) in keys.iter().enumerate() {
                        ids[fill[k] as usize] = id as u32;
                        fill[k] += 1;
                    }
                    table.starts = starts;
                    table.ids = ids;
                    table
                })
                .collect()
        };
        Self {
            descriptors,
            origins,
            references: count,
            tables,
        }
    }

    /// Descriptors indexed.
    pub fn len(&self) -> usize {
        self.descriptors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.descriptors.is_empty()
    }

    /// For each reference, the frame descriptors whose nearest neighbour in
    /// that reference is within `max_distance`: (frame descriptor, its
    /// three nearest in the reference).
    pub fn nearest(&self, frame: &[Descriptor], max_distance: u32) -> Vec<Vec<(usize, Nearest)>> {
        let mut out = vec![Vec::new(); self.references];
        const NONE: Nearest = [(u32::MAX, u32::MAX); 3];
        // Per frame descriptor: the best three per reference, and which
        // references were touched (to report and reset only those); the
        // candidates seen are stamped with the query, so no clearing.
        let mut best = vec![NONE; self.references];
        let mut touched: Vec<u32> = Vec::new();
        let mut seen = vec![u32::MAX; self.descriptors.len()];
        for (fi, fd) in frame.iter().enumerate() {
            let mut consider = |id: usize| {
                let origin = self.origins[id];
                let d = hamming(fd, &self.descriptors[id]);
                let top = &mut best[origin.reference as usize];
                if top[0].1 == u32::MAX {
                    touched.push(origin.reference);
                }
                insert(top, (d, origin.keypoint));
            };
            if self.tables.is_empty() {
                (0..self.descriptors.len()).for_each(&mut consider);
            } else {
                for table in &self.tables {
                    let key = table.key(fd);
                    let bits = table.positions.len();
                    for probe in std::iter::once(key).chain((0..bits).map(|b| key ^ (1 << b))) {
                        for &id in table.bucket(probe) {
                            if seen[id as usize] != fi as u32 {
                                seen[id as usize] = fi as u32;
                                consider(id as usize);
                            }
                        }
                    }
                }
            }
            for r in touched.drain(..) {
                let top = std::mem::replace(&mut best[r as usize], NONE);
                if top[0].0 <= max_distance {
                    out[r as usize].push((fi, top));
                }
            }
        }
        out
    }
}

/// Puts `entry` among the three nearest in `top`, kept sorted.
#[inline]
fn insert(top: &mut Nearest, entry: (u32, u32)) {
    if entry.0 < top[2].0 {
        top[2] = entry;
        if top[2].0 < top[1].0 {
            top.swap(1, 2);
            if top[1].0 < top[0].0 {
                top.swap(0, 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(rng: &mut XorShift) -> Descriptor {
        [
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
        ]
    }

    /// `d` with `flips` distinct bits turned.
    fn nudged(d: &Descriptor, flips: usize, rng: &mut XorShift) -> Descriptor {
        let mut out = *d;
        let mut turned = std::collections::HashSet::new();
        while turned.len() < flips {
            let b = rng.below(256);
            if turned.insert(b) {
                out[b / 64] ^= 1 << (b % 64);
            }
        }
        out
    }

    fn exact(refs: &[Vec<Descriptor>], fd: &Descriptor, r: usize) -> u32 {
        refs[r]
            .iter()
            .map(|d| hamming(fd, d))
            .min()
            .unwrap_or(u32::MAX)
    }

    #[test]
    fn a_small_catalog_is_scanned_exactly() {
        let mut rng = XorShift::new(3);
        let refs: Vec<Vec<Descriptor>> = (0..2)
            .map(|_| (0..300).map(|_| random(&mut rng)).collect())
            .collect();
        let index = DescriptorIndex::build(refs.iter().map(Vec::as_slice));
        let frame: Vec<Descriptor> = (0..50)
            .map(|i| nudged(&refs[i % 2][i], 20, &mut rng))
            .collect();
        let found = index.nearest(&frame, 256);
        for (r, list) in found.iter().enumerate() {
            assert_eq!(list.len(), frame.len());
            for (fi, top) in list {
                assert_eq!(top[0].0, exact(&refs, &frame[*fi], r));
                assert!(top[0].0 <= top[1].0 && top[1].0 <= top[2].0);
            }
        }
    }

    #[test]
    fn near_neighbours_in_a_large_catalog_are_found_and_far_ones_are_not() {
        let mut rng = XorShift::new(5);
        let refs: Vec<Vec<Descriptor>> = (0..20)
            .map(|_| (0..1000).map(|_| random(&mut rng)).collect())
            .collect();
        let index = DescriptorIndex::build(refs.iter().map(Vec::as_slice));
        assert!(!index.tables.is_empty());
        // 400 queries, each 40 bits from a known descriptor (a good match).
        let queries: Vec<(usize, usize)> = (0..400).map(|i| (i % 20, (i * 7) % 1000)).collect();
        let frame: Vec<Descriptor> = queries
            .iter()
            .map(|&(r, k)| nudged(&refs[r][k], 40, &mut rng))
            .collect();
        let found = index.nearest(&frame, 70);
        let mut hit = 0;
        for (fi, &(r, k)) in queries.iter().enumerate() {
            if found[r]
                .iter()
                .any(|(f, top)| *f == fi && top[0] == (40, k as u32))
            {
                hit += 1;
            }
        }
        // Theory says about 97% at 40 bits with 15-bit keys; allow for luck.
        assert!(hit >= 370, "{hit} of 400 near neighbours found");
        // Random descriptors are about 128 bits from everything: none is
        // within 70 bits, so nothing is reported.
        let strangers: Vec<Descriptor> = (0..200).map(|_| random(&mut rng)).collect();
        assert!(index.nearest(&strangers, 70).iter().all(Vec::is_empty));
    }
}
