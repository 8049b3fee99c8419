//! Decoding tables of a Deflate block's Huffman codes (RFC 1951, 3.2.2 and 3.2.5): a
//! literal/length table and a distance table, each a primary table indexed by the next
//! bits of the stream with subtables for longer codes, and the fast table the decoder's
//! main loop reads, whose entries each decode one or two literals or a whole match.

use super::InflateError;

/// Index bits of the primary literal/length table.
pub(super) const LIT_BITS: u32 = 11;
/// Index bits of the primary distance table.
pub(super) const DIST_BITS: u32 = 8;
/// Index bits of the fast table ([`Tables::fast`]).
pub(super) const FAST_BITS: u32 = 11;
/// Longest Huffman code Deflate allows.
const MAX_CODE_LEN: usize = 15;
/// Symbols of the literal/length alphabet (286 and 287 are never valid).
pub(super) const LITLEN_SYMBOLS: usize = 288;
/// Symbols of the distance alphabet (30 and 31 are never valid).
pub(super) const DIST_SYMBOLS: usize = 32;
/// Symbols of the code-length alphabet.
pub(super) const CODE_LENGTH_SYMBOLS: usize = 19;
/// Index bits of the code-length table (its longest code: one level).
pub(super) const CODE_LENGTH_BITS: u32 = 7;

/// Entries a table of `bits` primary index bits may need for `symbols` symbols: the
/// primary table and at most one subtable per code longer than `bits`, none larger than
/// the longest code allows.
const fn table_len(bits: u32, symbols: usize) -> usize {
    (1 << bits) + symbols * (1 << (MAX_CODE_LEN as u32 - bits))
}
const LITLEN_TABLE_LEN: usize = table_len(LIT_BITS, LITLEN_SYMBOLS);
const DIST_TABLE_LEN: usize = table_len(DIST_BITS, DIST_SYMBOLS);

// Literal/length and distance entries (u32). The low byte is always the bits the entry
// consumes from where it is looked up.
/// A literal: bits 8..16 hold it.
pub(super) const LITERAL: u32 = 1 << 31;
/// Not a literal nor a length: a subtable pointer, the end of the block or invalid.
pub(super) const EXCEPTIONAL: u32 = 1 << 30;
/// A literal/length subtable pointer: bits 8..16 hold its index bits, 16..29 where it
/// starts.
pub(super) const SUBTABLE: u32 = 1 << 29;
/// The end of the block (bit 15: clear in subtable pointers, whose bits 8..16 hold at
/// most 4 index bits).
pub(super) const END_OF_BLOCK: u32 = 1 << 15;
/// A distance subtable pointer (laid out as [`SUBTABLE`]'s).
pub(super) const DIST_SUBTABLE: u32 = 1 << 14;
/// A distance code that is never valid (30 and 31, or one an incomplete code lacks).
pub(super) const DIST_INVALID: u32 = 1 << 13;
// A length or distance entry: bits 8..13 hold its code's length (the extra bits follow
// the code), bits 16.. the base value; the low byte counts code and extra bits.

// Fast-table entries (u64): bits 0..8 the bits consumed, 8..16 where a match's distance
// extra bits start, 16..32 the literals (first in the low byte), 32..48 the distance
// base (0 for literals), 48..63 the length (the number of literals).
/// Fast-table entry that is not a literal nor a whole match: decode through the tables.
pub(super) const FAST_EXCEPTIONAL: u64 = 1 << 63;
/// Fast-table entry of one or two literals.
pub(super) const FAST_LITERAL: u64 = 1 << 15;

/// Base lengths of length symbols 257..=285 and their extra bits.
const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// Base distances of distance symbols 0..=29 and their extra bits.
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// The tables of one block, reused from block to block (and kept per thread).
pub(super) struct Tables {
    pub(super) litlen: Box<[u32; LITLEN_TABLE_LEN]>,
    pub(super) dist: Box<[u32; DIST_TABLE_LEN]>,
    /// Indexed by the next [`FAST_BITS`] bits: one or two literals, or a match whose
    /// length code (with its extra bits) and distance code both lie within the index (at
    /// most 24 bits with the distance's extra bits); anything else is
    /// [`FAST_EXCEPTIONAL`]. Entries are stored little-endian (`to_le`), so an entry's
    /// literals are its bytes 2 and 3 on every host: the fast loop loads them from the
    /// table (8 bytes, hence one more entry, never indexed). Built on the block's first
    /// use of the fast loop ([`Tables::build_fast_once`]): blocks decoded wholly symbol by
    /// symbol (small outputs) never pay for it.
    pub(super) fast: Box<[u64; (1 << FAST_BITS) + 1]>,
    /// Where the literal/length codes start (for the fast table's build).
    starts: Starts,
    /// Whether the literal/length code is complete (else the fast table is all
    /// exceptional), and whether the fast table is this block's.
    complete: bool,
    fast_built: bool,
}

/// A zeroed boxed array, built on the heap.
fn boxed<T: Copy + Default, const N: usize>() -> Box<[T; N]> {
    vec![T::default(); N]
        .into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| unreachable!("the vector has N elements"))
}

impl Tables {
    pub(super) fn new() -> Self {
        Tables {
            litlen: boxed(),
            dist: boxed(),
            fast: boxed(),
            starts: Starts::default(),
            complete: false,
            fast_built: false,
        }
    }

    /// Build the tables of a block whose codes have these lengths (one per symbol, 0 for
    /// unused; `litlen` of [`LITLEN_SYMBOLS`], `dist` of [`DIST_SYMBOLS`]).
    pub(super) fn build(&mut self, litlen: &[u8], dist: &[u8]) -> Result<(), InflateError> {
        self.fast_built = false;
        self.starts.len = 0;
        self.complete = build(
            Alphabet::LitLen,
            litlen,
            &mut self.litlen[..],
            &mut self.starts,
        )?;
        build(
            Alphabet::Dist,
            dist,
            &mut self.dist[..],
            &mut Starts::default(),
        )?;
        Ok(())
    }

    /// Build the block's fast table unless it is built.
    pub(super) fn build_fast_once(&mut self) {
        if !self.fast_built {
            if self.complete {
                self.build_fast();
            } else {
                // A single code (zlib's only incomplete literal/length code): through
                // the tables.
                self.fast.fill(FAST_EXCEPTIONAL.to_le());
            }
            self.fast_built = true;
        }
    }

    /// The fast table from the literal/length and distance tables: a literal whose code
    /// leaves room for another literal's takes both; a length whose code and extra bits
    /// leave room for its distance's code takes the match whole. Code by code (`starts`,
    /// the literal/length table's): the entries of a code are those its bits start, one
    /// for every value of the bits after it, which index the second literal or the
    /// distance sequentially.
    fn build_fast(&mut self) {
        let (litlen, dist, fast) = (&self.litlen[..], &self.dist[..], &mut self.fast[..]);
        for &start in self.starts.list() {
            let start = usize::from(start);
            let first = litlen[start];
            // The code's own bits (a length's extra bits come after them).
            let code_len = if first & (LITERAL | EXCEPTIONAL) != 0 {
                first & 0xff
            } else {
                first >> 8 & 0x1f
            };
            let rest = FAST_BITS - code_len;
            let slots = (0..1usize << rest).map(|after| start | after << code_len);
            if first & LITERAL != 0 {
                let byte = u64::from(first >> 8 & 0xff);
                for (after, i) in slots.enumerate() {
                    let second = litlen[after];
                    let entry = if second & LITERAL != 0 && second & 0xff <= rest {
                        let bytes = byte | u64::from(second >> 8 & 0xff) << 8;
                        fast_literals(bytes, 2, code_len + (second & 0xff))
                    } else {
                        fast_literals(byte, 1, code_len)
                    };
                    fast[i] = entry.to_le();
                }
                continue;
            }
            let length_extra = (first & 0xff) - code_len;
            if first & EXCEPTIONAL != 0 || length_extra >= rest {
                for i in slots {
                    fast[i] = FAST_EXCEPTIONAL.to_le();
                }
                continue;
            }
            let dist_rest = rest - length_extra;
            for (after, i) in slots.enumerate() {
                let length = u64::from(first >> 16) + (after as u64 & ((1 << length_extra) - 1));
                let d = dist[(after >> length_extra) & ((1 << DIST_BITS) - 1)];
                let dist_code = d >> 8 & 0x1f;
                let entry = if d & (DIST_SUBTABLE | DIST_INVALID) != 0 || dist_code > dist_rest {
                    FAST_EXCEPTIONAL
                } else {
                    let extra_at = code_len + length_extra + dist_code;
                    u64::from(extra_at + (d & 0xff) - dist_code)
                        | u64::from(extra_at) << 8
                        | u64::from(d >> 16) << 32
                        | length << 48
                };
                fast[i] = entry.to_le();
            }
        }
    }
}

/// A fast-table entry of `count` literals (`bytes`, the first in the low byte) whose
/// codes take `bits` bits: its distance 0, its length `count`.
fn fast_literals(bytes: u64, count: u64, bits: u32) -> u64 {
    u64::from(bits) | u64::from(bits) << 8 | FAST_LITERAL | bytes << 16 | count << 48
}

/// The code-length code's table of a dynamic block: one level of [`CODE_LENGTH_BITS`]
/// bits, each entry `symbol << 8 | code length`.
pub(super) fn code_length_table(
    lens: &[u8; CODE_LENGTH_SYMBOLS],
) -> Result<[u32; 1 << CODE_LENGTH_BITS], InflateError> {
    let mut table = [0u32; 1 << CODE_LENGTH_BITS];
    build(
        Alphabet::CodeLengths,
        lens,
        &mut table,
        &mut Starts::default(),
    )?;
    Ok(table)
}

/// The code lengths of a block of fixed Huffman codes (RFC 1951, 3.2.6): literal/length
/// lengths, then distance lengths.
pub(super) fn fixed_lengths() -> [u8; LITLEN_SYMBOLS + DIST_SYMBOLS] {
    let mut lens = [0u8; LITLEN_SYMBOLS + DIST_SYMBOLS];
    lens[..144].fill(8);
    lens[144..256].fill(9);
    lens[256..280].fill(7);
    lens[280..LITLEN_SYMBOLS].fill(8);
    lens[LITLEN_SYMBOLS..].fill(5);
    lens
}

/// Which of a block's codes a table decodes: what its entries hold and how complete the
/// code must be.
#[derive(Clone, Copy, PartialEq)]
enum Alphabet {
    CodeLengths,
    LitLen,
    Dist,
}

impl Alphabet {
    /// Index bits of the primary table.
    fn bits(self) -> u32 {
        match self {
            Alphabet::CodeLengths => CODE_LENGTH_BITS,
            Alphabet::LitLen => LIT_BITS,
            Alphabet::Dist => DIST_BITS,
        }
    }

    /// The entry of `symbol` whose code (and the extra bits after it) take `len` bits
    /// from where the entry is looked up.
    fn entry(self, symbol: usize, len: u32) -> u32 {
        match (self, symbol) {
            (Alphabet::CodeLengths, _) => (symbol as u32) << 8 | len,
            (Alphabet::LitLen, 0..=255) => LITERAL | (symbol as u32) << 8 | len,
            (Alphabet::LitLen, 256) => EXCEPTIONAL | END_OF_BLOCK | len,
            (Alphabet::LitLen, 257..=285) => {
                let k = symbol - 257;
                u32::from(LENGTH_BASE[k]) << 16 | len << 8 | (len + u32::from(LENGTH_EXTRA[k]))
            }
            (Alphabet::Dist, 0..=29) => {
                u32::from(DIST_BASE[symbol]) << 16
                    | len << 8
                    | (len + u32::from(DIST_EXTRA[symbol]))
            }
            _ => self.invalid(),
        }
    }

    /// An entry no valid stream reaches.
    fn invalid(self) -> u32 {
        match self {
            Alphabet::Dist => DIST_INVALID,
            _ => EXCEPTIONAL,
        }
    }

    /// A pointer to a subtable of `sub_bits` index bits at `start`.
    fn pointer(self, start: usize, sub_bits: u32) -> u32 {
        let flag = match self {
            Alphabet::Dist => DIST_SUBTABLE,
            _ => EXCEPTIONAL | SUBTABLE,
        };
        flag | (start as u32) << 16 | sub_bits << 8 | self.bits()
    }

    /// Whether an incomplete code is accepted, as zlib does: a literal/length or
    /// distance code of a single one-bit code or of none (a block without matches), never
    /// an incomplete code-length code.
    fn accepts_incomplete(self, used: u16, one_bit: u16) -> bool {
        self != Alphabet::CodeLengths && (used == 0 || (used == 1 && one_bit == 1))
    }
}

/// Where each code of a table starts in its primary table (its bits, reversed), and each
/// subtable pointer, in canonical order.
struct Starts {
    at: [u16; LITLEN_SYMBOLS],
    len: usize,
}

impl Default for Starts {
    fn default() -> Self {
        Starts {
            at: [0; LITLEN_SYMBOLS],
            len: 0,
        }
    }
}

impl Starts {
    fn push(&mut self, start: u32) {
        self.at[self.len] = start as u16;
        self.len += 1;
    }

    fn list(&self) -> &[u16] {
        &self.at[..self.len]
    }
}

/// Build the table of the canonical code of `lens` (one length per symbol, 0 for unused):
/// a primary table of `code.bits()` index bits, then one subtable for every run of longer
/// codes sharing their first bits, each code's and subtable's start noted in `starts`:
/// whether the code is complete. An over-subscribed code, or an incomplete one `code`
/// does not accept, is [`InflateError::BadData`].
fn build(
    code: Alphabet,
    lens: &[u8],
    table: &mut [u32],
    starts: &mut Starts,
) -> Result<bool, InflateError> {
    let bits = code.bits();
    let mut count = [0u16; MAX_CODE_LEN + 1];
    for &len in lens {
        count[usize::from(len)] += 1;
    }
    count[0] = 0;
    // Kraft: the code space left after each length (below zero: over-subscribed).
    let mut left: i32 = 1;
    for &c in &count[1..] {
        left = (left << 1) - i32::from(c);
        if left < 0 {
            return Err(InflateError::BadData);
        }
    }
    let primary = 1usize << bits;
    let used: u16 = count.iter().sum();
    if left > 0 {
        if !code.accepts_incomplete(used, count[1]) {
            return Err(InflateError::BadData);
        }
        // The entries the code does not reach.
        table[..primary].fill(code.invalid());
    }
    // Symbols in canonical order: by length, then by symbol.
    let mut offset = [0u16; MAX_CODE_LEN + 1];
    for len in 1..MAX_CODE_LEN {
        offset[len + 1] = offset[len] + count[len];
    }
    let mut sorted = [0u16; LITLEN_SYMBOLS];
    for (symbol, &len) in lens.iter().enumerate() {
        if len != 0 {
            let slot = &mut offset[usize::from(len)];
            sorted[usize::from(*slot)] = symbol as u16;
            *slot += 1;
        }
    }
    let sorted = &sorted[..usize::from(used)];
    let len_of = |k: usize| u32::from(lens[usize::from(sorted[k])]);
    // The canonical code after `c` (of the code at `k`): one more, widened to the next
    // code's length.
    let next_code = |c: u32, k: usize| {
        let len = len_of(k);
        let next_len = if k + 1 < sorted.len() {
            len_of(k + 1)
        } else {
            len
        };
        (c + 1) << (next_len - len)
    };
    let mut c: u32 = 0;
    let mut k = 0;
    let mut next_free = primary;
    while k < sorted.len() {
        let len = len_of(k);
        if len <= bits {
            let e = code.entry(usize::from(sorted[k]), len);
            starts.push(reverse(c, len));
            for slot in table[..primary]
                .iter_mut()
                .skip(reverse(c, len) as usize)
                .step_by(1 << len)
            {
                *slot = e;
            }
            c = next_code(c, k);
            k += 1;
            continue;
        }
        // The codes sharing these first `bits` bits follow in canonical order, the
        // longest last: one subtable for all of them.
        let prefix = c >> (len - bits);
        let (mut group_end, mut gc, mut max_len) = (k, c, len);
        while group_end < sorted.len() && gc >> (len_of(group_end) - bits) == prefix {
            max_len = len_of(group_end);
            gc = next_code(gc, group_end);
            group_end += 1;
        }
        let sub_bits = max_len - bits;
        let start = next_free;
        next_free += 1 << sub_bits;
        table[reverse(prefix, bits) as usize] = code.pointer(start, sub_bits);
        starts.push(reverse(prefix, bits));
        while k < group_end {
            let low = len_of(k) - bits;
            let e = code.entry(usize::from(sorted[k]), low);
            for slot in table[start..start + (1 << sub_bits)]
                .iter_mut()
                .skip(reverse(c & ((1 << low) - 1), low) as usize)
                .step_by(1 << low)
            {
                *slot = e;
            }
            c = next_code(c, k);
            k += 1;
        }
    }
    Ok(left == 0)
}

/// `code`'s low `len` bits in reverse order (Deflate sends a code's first bit first).
fn reverse(code: u32, len: u32) -> u32 {
    code.reverse_bits() >> (32 - len)
}
