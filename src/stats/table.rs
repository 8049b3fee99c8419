//! One-pass statistics of 8- and 16-bit integer and bool data (the usual detector counts):
//! every region only counts how often each of the 256 or 65,536 possible values occurs, and
//! the summary and the histogram are built from the whole table at the end, exactly.
//!
//! Counting a value by incrementing its counter costs a load and a store per element, and a
//! run of equal values (many zeros, typically) waits on the previous increment of the same
//! counter (store forwarding). So each worker keeps [`COMMON`] common values (at first the
//! raw values 0 to 3, later the most frequent ones so far, chosen again when most elements
//! of a region were not common): in blocks of [`BLOCK`] elements, vector comparisons count
//! the elements equal to each common value in lane counters, and only the other elements
//! of blocks that have some are incremented one by one, element `l` of a block in
//! sub-table `l % SUB` of [`SUB`] interleaved ones. Counters are `u32`, folded into `u64`
//! before they could overflow. Tables live in a pool shared by the engine's workers: a
//! worker takes one for a region and gives it back, so there are at most as many as
//! workers, however many regions. Values stored in the other byte order (Medipix counts)
//! are counted where they lie in the memory map: compared with the common values' bytes
//! reversed, and reversed as they are read one by one, so the tables index native values.

use emio_core::{scan, ByteOrder, DType};

use super::{Histogram, Summary};
use crate::pool::Pool;
use emio_core::summary::Element;

/// Interleaved sub-tables per table.
pub(super) const SUB: usize = 8;

/// Unused counters after each sub-table: one cache line, so one value's counters in
/// neighbouring sub-tables lie at different offsets modulo 4 KiB. Without it, a load from
/// one sub-table waited on the increment just stored to the same value (or one 1,024
/// values away) in another (4K aliasing), and the eight counters of a value shared one L1
/// set.
const PAD: usize = 16;

/// Values counted by vector comparisons (chosen among the most frequent).
pub(super) const COMMON: usize = 4;

/// Elements per block: a block whose elements are all common values costs no increment.
const BLOCK: usize = 32;

/// Blocks per piece: the `u16` lane counters of the common values never overflow.
const FLUSH: usize = 1 << 15;

/// How far ahead of the cache line it counts [`count_plain`] (and the AVX2 comparison loop)
/// asks for the next one.
pub(super) const PREFETCH_AHEAD: usize = 4096;

/// Regions counted by plain increments ([`count_plain`]) once the common values caught
/// less than half of a region's elements, before comparisons are tried again.
const PLAIN_REGIONS: u32 = 128;

/// Whether `dtype`'s values are counted in a table (8- and 16-bit integers, bool).
pub(super) fn counts(dtype: DType) -> bool {
    matches!(
        dtype,
        DType::Bool | DType::U8 | DType::I8 | DType::U16 | DType::I16
    )
}

/// One worker's counters.
struct Counters {
    /// `SUB` sub-tables of one counter per raw value, each followed by [`PAD`] unused
    /// ones ([`Self::stride`] apart).
    sub: Vec<u32>,
    /// Elements counted in `sub` since it was last folded into `wide`.
    pending: u64,
    /// Counts folded out of `sub`.
    wide: Vec<u64>,
    /// The raw values counted by comparisons rather than increments (distinct).
    common: [u16; COMMON],
    /// Regions to count before [`Self::common`] may be chosen again.
    wait: u32,
    /// Regions still to count by plain increments: the values are spread, so comparing
    /// them with the common ones would cost more than it saves.
    plain_left: u32,
}

impl Counters {
    /// Counters from one sub-table's start to the next.
    fn stride(&self) -> usize {
        self.wide.len() + PAD
    }

    fn new(values: usize) -> Counters {
        Counters {
            sub: vec![0; SUB * (values + PAD)],
            pending: 0,
            wide: vec![0; values],
            common: std::array::from_fn(|i| i as u16),
            wait: 0,
            plain_left: 0,
        }
    }

    /// The [`COMMON`] raw values counted most often so far (distinct).
    fn frequent(&self) -> [u16; COMMON] {
        let k = self.wide.len();
        // (count, raw value), most frequent first; placeholders past the last value.
        let mut top = [(0u64, usize::MAX); COMMON];
        for (v, &w) in self.wide.iter().enumerate() {
            let n = w + self.sub[v..]
                .iter()
                .step_by(self.stride())
                .map(|&x| u64::from(x))
                .sum::<u64>();
            if n > top[COMMON - 1].0 {
                let at = top.iter().position(|&(m, _)| n > m).unwrap_or(COMMON - 1);
                top.copy_within(at..COMMON - 1, at + 1);
                top[at] = (n, v);
            }
        }
        let mut unused = (0..k).filter(|v| top.iter().all(|&(_, t)| t != *v));
        top.map(|(_, v)| if v < k { v } else { unused.next().unwrap_or(0) } as u16)
    }

    /// Add the sub-tables into `wide` and clear them.
    fn fold(&mut self) {
        let stride = self.stride();
        for sub in self.sub.chunks_exact_mut(stride) {
            for (w, s) in self.wide.iter_mut().zip(sub.iter_mut()) {
                *w += u64::from(*s);
                *s = 0;
            }
        }
        self.pending = 0;
    }
}

/// Value tables of one dataset, filled by the workers of one pass.
pub(super) struct Tables {
    dtype: DType,
    pool: Pool<Counters>,
}

impl Tables {
    /// Empty tables for `dtype`, which must be one [`counts`] accepts.
    pub(super) fn new(dtype: DType) -> Tables {
        debug_assert!(counts(dtype));
        Tables {
            dtype,
            pool: Pool::new(usize::MAX),
        }
    }

    fn values(&self) -> usize {
        1 << (8 * self.dtype.size())
    }

    /// Count every element of one region's bytes, stored in byte order `order`.
    fn count(&self, bytes: &[u8], order: ByteOrder) {
        let values = self.values();
        self.pool.with(
            || Counters::new(values),
            |c| self.count_into(c, bytes, order),
        );
    }

    /// [`Tables::count`] into the worker's table `c`.
    fn count_into(&self, c: &mut Counters, bytes: &[u8], order: ByteOrder) {
        let size = self.dtype.size();
        let width = Width::of(size, order);
        // Pieces of at most 2^31 elements: a counter never exceeds u32::MAX.
        for piece in bytes.chunks(size << 31) {
            let n = (piece.len() / size) as u64;
            if c.pending + n > u64::from(u32::MAX) {
                c.fold();
            }
            c.pending += n;
            if c.plain_left > 0 {
                count_plain_any(c, piece, width);
                c.plain_left -= 1;
                if c.plain_left == 0 {
                    // Try comparisons again, with the values most frequent so far.
                    c.common = c.frequent();
                    c.wait = 8;
                }
                continue;
            }
            let scattered = count_fastest(c, piece, width);
            if scattered * 2 > n {
                // Spread values (e.g. counts of hundreds with shot noise): most elements
                // were incremented one by one after comparisons that found nothing.
                c.plain_left = PLAIN_REGIONS;
            } else if scattered * 4 > n && c.wait == 0 {
                // Many values outside the common ones: choose them again (not too often).
                c.common = c.frequent();
                c.wait = 8;
            } else {
                c.wait = c.wait.saturating_sub(1);
            }
        }
    }

    /// The counts of every value, by raw value (the element's bits as an unsigned index).
    fn total(self) -> Vec<u64> {
        let mut total = vec![0u64; self.values()];
        for mut c in self.pool.into_inner() {
            c.fold();
            for (t, w) in total.iter_mut().zip(&c.wide) {
                *t += w;
            }
        }
        total
    }

    /// The summary, the histogram (of `bins` bins, none if 0) and the distinct values with
    /// their counts (increasing) of every value counted.
    pub(super) fn finish(self, bins: usize) -> (Summary, Option<Histogram>, Vec<(i64, u64)>) {
        let dtype = self.dtype;
        let total = self.total();
        // (value, count) of every value present, in increasing value order.
        let mut present: Vec<(i64, u64)> = total
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(raw, &c)| (value(dtype, raw), c))
            .collect();
        present.sort_unstable();
        let (Some(&(min, _)), Some(&(max, _))) = (present.first(), present.last()) else {
            return (Summary::default(), None, Vec::new());
        };
        let (mut n, mut sum, mut squares) = (0i128, 0i128, 0i128);
        for &(v, c) in &present {
            let (v, c) = (i128::from(v), i128::from(c));
            n += c;
            sum += v * c;
            squares += v * v * c;
        }
        let count = n as f64;
        let summary = Summary {
            count: n as u64,
            min: min as f64,
            max: max as f64,
            sum: sum as f64,
            mean: sum as f64 / count,
            // n·Σx² − (Σx)² = n·Σ(x − mean)², exact in i128.
            m2: (n * squares - sum * sum) as f64 / count,
            ..Summary::default()
        };
        let histogram = (bins > 0).then(|| {
            let mut h = Histogram::new(min as f64, max as f64, bins, true);
            for &(v, c) in &present {
                h.add(v as f64, c);
            }
            h
        });
        (summary, histogram, present)
    }
}

/// The tables take the values as stored (those in the other byte order are reversed in
/// registers), in any order: counts add up the same whatever the order.
impl scan::Visitor for Tables {
    fn as_stored(&self) -> bool {
        true
    }

    fn piece(&self, _: u64, bytes: &[u8], order: ByteOrder) -> emio_core::Result<()> {
        self.count(bytes, order);
        Ok(())
    }
}

/// How the elements of a piece are read: their size, and whether their bytes are in the
/// other byte order (then reversed as each is read, so the tables index native values).
#[derive(Clone, Copy, Debug)]
enum Width {
    /// 8-bit elements.
    Byte,
    /// 16-bit elements in native byte order.
    Native16,
    /// 16-bit elements in the other byte order.
    Swapped16,
}

impl Width {
    /// The width of `size`-byte elements stored in byte order `order`.
    fn of(size: usize, order: ByteOrder) -> Width {
        match (size, order.is_native()) {
            (1, _) => Width::Byte,
            (_, true) => Width::Native16,
            (_, false) => Width::Swapped16,
        }
    }
}

/// Count the elements of `piece` into `c` with the fastest loop this processor runs (AVX2
/// where present, else the portable one); returns how many were counted one by one rather
/// than as common values.
fn count_fastest(c: &mut Counters, piece: &[u8], width: Width) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if super::avx2::available() {
        use super::avx2::{count, U16, U8};
        let common = c.common;
        // SAFETY: the processor supports AVX2, checked just above.
        return unsafe {
            match width {
                Width::Byte => count::<U8, 256>(&mut sub_tables(c), common, piece),
                Width::Native16 => count::<U16<u16>, 65536>(&mut sub_tables(c), common, piece),
                Width::Swapped16 => {
                    count::<U16<Swapped16>, 65536>(&mut sub_tables(c), common, piece)
                }
            }
        };
    }
    count_portable(c, piece, width)
}

/// [`count_fastest`] in portable code.
fn count_portable(c: &mut Counters, piece: &[u8], width: Width) -> u64 {
    match width {
        Width::Byte => count::<u8, 256>(c, piece),
        Width::Native16 => count::<u16, 65536>(c, piece),
        Width::Swapped16 => count::<Swapped16, 65536>(c, piece),
    }
}

/// Count the elements of `piece` into `c` by plain increments ([`count_plain`]).
fn count_plain_any(c: &mut Counters, piece: &[u8], width: Width) {
    match width {
        Width::Byte => count_plain::<u8, 256>(c, piece),
        Width::Native16 => count_plain::<u16, 65536>(c, piece),
        Width::Swapped16 => count_plain::<Swapped16, 65536>(c, piece),
    }
}

/// `c`'s `SUB` sub-tables of `K` counters, each as an array (so indices masked to `K` are
/// in bounds without checks).
fn sub_tables<const K: usize>(c: &mut Counters) -> [&mut [u32; K]; SUB] {
    let stride = c.stride();
    let mut tables = c
        .sub
        .chunks_exact_mut(stride)
        .map(|t| <&mut [u32; K]>::try_from(&mut t[..K]).expect("K counters"));
    std::array::from_fn(|_| tables.next().expect("SUB tables"))
}

/// Count the raw `T` elements of `bytes` into `c`'s `SUB` sub-tables of `K` counters, each
/// by an increment, element `l` of each group of `SUB` in sub-table `l`: for spread values,
/// where comparisons with common values would find few. The loop is bound by its loads
/// and stores, so a group is read as 64-bit words ([`words`]) and its elements taken out of
/// them in registers (one load per element less than reading each), and each cache line
/// asks for the one [`PREFETCH_AHEAD`] bytes further (the hardware prefetcher alone left
/// the loop waiting on memory).
#[inline(always)]
fn count_plain<T: Raw, const K: usize>(c: &mut Counters, bytes: &[u8]) {
    let mut subs = sub_tables::<K>(c);
    let lines = bytes.chunks_exact(64);
    let rest = lines.remainder();
    for (i, line) in lines.enumerate() {
        let ahead = i * 64 + PREFETCH_AHEAD;
        if let Some(far) = bytes.get(ahead..ahead + 1) {
            scan::prefetch(far);
        }
        for group in line.chunks_exact(T::SIZE * SUB) {
            count_group::<T, K>(&mut subs, group);
        }
    }
    let groups = rest.chunks_exact(T::SIZE * SUB);
    let tail = groups.remainder();
    for group in groups {
        count_group::<T, K>(&mut subs, group);
    }
    for e in tail.chunks_exact(T::SIZE) {
        subs[0][T::read(e).index() & (K - 1)] += 1;
    }
}

/// Count the `SUB` raw `T` elements of `group`, element `l` in `subs[l]`.
#[inline(always)]
pub(super) fn count_group<T: Raw, const K: usize>(subs: &mut [&mut [u32; K]; SUB], group: &[u8]) {
    let lanes = 8 / T::SIZE;
    for (w, word) in words(group).into_iter().take(SUB / lanes).enumerate() {
        for j in 0..lanes {
            subs[w * lanes + j][T::lane(word, j).index() & (K - 1)] += 1;
        }
    }
}

/// The bytes of `group` (8 or 16, as [`count_plain`] reads them) as little-endian 64-bit
/// words, the second 0 for 8 bytes.
#[inline(always)]
fn words(group: &[u8]) -> [u64; 2] {
    let word = |b: &[u8]| b.try_into().map_or(0, u64::from_le_bytes);
    [
        word(&group[..8]),
        word(group.get(8..16).unwrap_or_default()),
    ]
}

/// The value of raw value `raw` (an index into the table) of `dtype`.
fn value(dtype: DType, raw: usize) -> i64 {
    match dtype {
        DType::Bool => i64::from(raw != 0),
        DType::I8 => i64::from(raw as u8 as i8),
        DType::I16 => i64::from(raw as u16 as i16),
        _ => raw as i64,
    }
}

/// A raw element type counted in a table: its bits are the index.
pub(super) trait Raw: Element + PartialEq {
    /// Whether the element is stored in the other byte order (its stored bytes are the
    /// native value's reversed).
    const SWAPPED: bool = false;
    /// The table index.
    fn index(self) -> usize;
    /// The element of a table index below its table's size.
    fn narrow(v: u16) -> Self;
    /// Element `j` of a little-endian 64-bit word holding `8 / SIZE` stored elements.
    fn lane(word: u64, j: usize) -> Self;
}

impl Raw for u8 {
    #[inline(always)]
    fn index(self) -> usize {
        usize::from(self)
    }
    fn narrow(v: u16) -> Self {
        v as u8
    }
    #[inline(always)]
    fn lane(word: u64, j: usize) -> Self {
        (word >> (8 * j)) as u8
    }
}

impl Raw for u16 {
    #[inline(always)]
    fn index(self) -> usize {
        usize::from(self)
    }
    fn narrow(v: u16) -> Self {
        v
    }
    #[inline(always)]
    fn lane(word: u64, j: usize) -> Self {
        u16::from_le((word >> (16 * j)) as u16)
    }
}

/// A 16-bit element stored in the other byte order, read as its native value.
#[derive(Clone, Copy, PartialEq)]
pub(super) struct Swapped16(u16);

impl Element for Swapped16 {
    const SIZE: usize = 2;
    #[inline(always)]
    fn read(b: &[u8]) -> Self {
        Swapped16(u16::from_ne_bytes([b[0], b[1]]).swap_bytes())
    }
}

impl Raw for Swapped16 {
    const SWAPPED: bool = true;
    #[inline(always)]
    fn index(self) -> usize {
        usize::from(self.0)
    }
    fn narrow(v: u16) -> Self {
        Swapped16(v)
    }
    #[inline(always)]
    fn lane(word: u64, j: usize) -> Self {
        Swapped16(u16::from_be((word >> (16 * j)) as u16))
    }
}

/// Count the raw `T` elements of `bytes` into `c`'s `SUB` sub-tables of `K` counters: a
/// block's elements equal to one of `c.common` by vector comparisons (lane counters), the
/// others, only in blocks that have some, by increments (element `l` of a block in
/// sub-table `l % SUB`). Returns how many elements were incremented one by one.
#[inline(always)]
fn count<T: Raw, const K: usize>(c: &mut Counters, bytes: &[u8]) -> u64 {
    let common = c.common.map(T::narrow);
    let subs = sub_tables::<K>(c);
    let mut scattered = 0u64;
    for piece in bytes.chunks(T::SIZE * BLOCK * FLUSH) {
        let mut hits = [[0u16; BLOCK]; COMMON];
        let blocks = piece.chunks_exact(T::SIZE * BLOCK);
        let rest = blocks.remainder();
        for block in blocks {
            let x: [T; BLOCK] =
                std::array::from_fn(|l| T::read(&block[l * T::SIZE..(l + 1) * T::SIZE]));
            let mut miss = [1u16; BLOCK];
            for (h, &v) in hits.iter_mut().zip(&common) {
                for ((h, m), &x) in h.iter_mut().zip(miss.iter_mut()).zip(&x) {
                    let hit = u16::from(x == v);
                    *h += hit;
                    *m &= hit ^ 1;
                }
            }
            if miss.iter().fold(0, |a, &m| a | m) != 0 {
                for (l, (&x, &m)) in x.iter().zip(&miss).enumerate() {
                    subs[l % SUB][x.index() & (K - 1)] += u32::from(m);
                    scattered += u64::from(m);
                }
            }
        }
        for e in rest.chunks_exact(T::SIZE) {
            subs[0][T::read(e).index() & (K - 1)] += 1;
            scattered += 1;
        }
        for (h, &v) in hits.iter().zip(&common) {
            subs[0][v.index() & (K - 1)] += h.iter().map(|&n| u32::from(n)).sum::<u32>();
        }
    }
    scattered
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every value's count after counting `bytes` of `width` with `loop_`.
    fn counted(width: Width, common: [u16; COMMON], bytes: &[u8], loop_: CountLoop) -> Vec<u64> {
        let size = if matches!(width, Width::Byte) { 1 } else { 2 };
        let mut c = Counters::new(1 << (8 * size));
        c.common = common;
        let scattered = loop_(&mut c, bytes, width);
        assert!(scattered <= (bytes.len() / size) as u64);
        c.fold();
        c.wide
    }

    type CountLoop = fn(&mut Counters, &[u8], Width) -> u64;

    /// Spread values switch a worker to plain increments; after [`PLAIN_REGIONS`] regions
    /// it compares again, with the values most frequent so far, and stays with comparisons
    /// while they catch most elements (sparse counts). Every count stays exact.
    #[test]
    fn spread_values_are_counted_by_plain_increments_until_comparisons_pay_again() {
        let tables = Tables::new(DType::U16);
        let region = |f: &dyn Fn(usize) -> u16| -> Vec<u8> {
            (0..256).flat_map(|i| f(i).to_ne_bytes()).collect()
        };
        let spread = region(&|i| 400 + (i * 37 % 200) as u16);
        let sparse = region(&|i| if i % 16 == 0 { 7 } else { 0 });
        let state = |t: &Tables| {
            t.pool
                .with(|| Counters::new(0), |c| (c.plain_left, c.common))
        };
        tables.count(&spread, ByteOrder::NATIVE);
        assert_eq!(
            state(&tables).0,
            PLAIN_REGIONS,
            "spread values: plain increments next"
        );
        for _ in 0..PLAIN_REGIONS - 1 {
            tables.count(&sparse, ByteOrder::NATIVE);
        }
        assert_eq!(state(&tables).0, 1);
        tables.count(&sparse, ByteOrder::NATIVE);
        let (plain_left, common) = state(&tables);
        assert_eq!(plain_left, 0);
        assert!(common.contains(&0) && common.contains(&7), "{common:?}");
        for _ in 0..10 {
            tables.count(&sparse, ByteOrder::NATIVE);
        }
        assert_eq!(state(&tables).0, 0, "comparisons catch sparse counts");
        let total = tables.total();
        let sparse_regions = PLAIN_REGIONS as u64 + 10;
        assert_eq!(total[0], sparse_regions * 240);
        assert_eq!(total[7], sparse_regions * 16);
        assert_eq!(total[400..600].iter().sum::<u64>(), 256);
        assert_eq!(total.iter().sum::<u64>(), 256 * (sparse_regions + 1));
    }

    proptest! {
        /// The fastest loop this processor runs, and the plain increments, count exactly as
        /// the portable comparison loop: runs of the common values, other values (from none
        /// to all of a block's elements: blocks counted one by one and blocks counted
        /// whole), and lengths that leave partial blocks; 16-bit values stored in the other
        /// byte order are counted as their native values.
        #[test]
        fn the_counting_loops_agree(
            width in prop_oneof![Just(Width::Byte), Just(Width::Native16), Just(Width::Swapped16)],
            common in proptest::array::uniform4(0..300u16),
            common_eighths in 0..=8u8,
            picks in proptest::collection::vec((0..8u8, 0..4usize, any::<u16>()), 0..3000),
        ) {
            let byte = matches!(width, Width::Byte);
            let mut common = common;
            for (i, c) in common.iter_mut().enumerate() {
                // Distinct values that fit the element.
                *c = (*c + i as u16 * 300) & if byte { 0xff } else { 0xffff };
            }
            prop_assume!((0..COMMON).all(|i| (0..i).all(|j| common[i] != common[j])));
            let values: Vec<u16> = picks
                .iter()
                .map(|&(eighth, which, other)| {
                    // Blocks of every density of other values: scattered and dense ones.
                    if eighth < common_eighths { common[which] } else { other }
                })
                .collect();
            let encode = |swap: bool| -> Vec<u8> {
                values
                    .iter()
                    .flat_map(|&v| match (byte, swap) {
                        (true, _) => vec![v as u8],
                        (false, false) => v.to_ne_bytes().to_vec(),
                        (false, true) => v.swap_bytes().to_ne_bytes().to_vec(),
                    })
                    .collect()
            };
            let native = if byte { Width::Byte } else { Width::Native16 };
            let expected = counted(native, common, &encode(false), count_portable);
            let bytes = encode(matches!(width, Width::Swapped16));
            prop_assert_eq!(&counted(width, common, &bytes, count_portable), &expected);
            prop_assert_eq!(&counted(width, common, &bytes, count_fastest), &expected);
            let plain = |c: &mut Counters, bytes: &[u8], width: Width| {
                count_plain_any(c, bytes, width);
                0
            };
            prop_assert_eq!(&counted(width, common, &bytes, plain), &expected);
        }
    }
}
