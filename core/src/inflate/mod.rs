//! Deflate decompression (RFC 1951) of a whole zlib stream (RFC 1950) into a buffer of
//! known size: TIFF strips and HDF5 chunks, whose decoded size the container states; and
//! of gzip members (RFC 1952, `gzip.rs`) one after another: `.mrc.gz` files, whose header
//! states their size.
//!
//! The output is one slice, so a match copies from the output itself (no window), and
//! most of a block is decoded by a loop (`fast.rs`) that checks the input and output once
//! per two symbols. That loop reads one table (`tables.rs`) whose entries each decode one
//! or two literals or a whole match (length and distance codes together), and writes
//! either as one 8-byte load and store chosen without a branch: noisy images are mostly
//! short matches and literals in no predictable order, which a decoder branching per
//! symbol kind (zlib, libdeflate) mispredicts at every other symbol. On 16-bit images
//! with shot noise this decodes 1.5-1.7 times as fast as libdeflate (docs/performance.md,
//! session 46). The rest of a block (long codes, its end, the last bytes of input and
//! output) goes symbol by symbol through checked reads and writes. Streams compressed
//! [`LONG_MATCH_RATIO`] times or more, mostly long matches, go to libdeflate, which
//! copies those faster.
//!
//! A stream the decoder refuses is [`InflateError::BadData`] whatever the damage: callers
//! that name the damage run a streaming decoder on it. It refuses every stream zlib
//! refuses (codes zlib rejects, distances too far back, a wrong Adler-32, ...), so it
//! never gives bytes where zlib gives an error.

mod fast;
mod gzip;
mod tables;
#[cfg(test)]
mod tests;

use std::cell::RefCell;

use tables::{
    code_length_table, fixed_lengths, Tables, CODE_LENGTH_BITS, CODE_LENGTH_SYMBOLS, DIST_BITS,
    DIST_INVALID, DIST_SUBTABLE, DIST_SYMBOLS, END_OF_BLOCK, EXCEPTIONAL, LITERAL, LITLEN_SYMBOLS,
    LIT_BITS, SUBTABLE,
};

/// Why a stream did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// Not a valid zlib stream, or cut short.
    BadData,
    /// The stream decodes to more bytes than the output holds.
    InsufficientSpace,
}

impl std::fmt::Display for InflateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InflateError::BadData => "not a valid zlib stream",
            InflateError::InsufficientSpace => "the stream decodes to more than the output holds",
        })
    }
}

impl std::error::Error for InflateError {}

type Result<T> = std::result::Result<T, InflateError>;

pub use gzip::gzip_decompress;

/// Order in which a dynamic block lists the code lengths of the code-length alphabet.
const CODE_LENGTH_ORDER: [usize; CODE_LENGTH_SYMBOLS] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

thread_local! {
    /// This thread's tables, made on first use (60 KiB).
    static TABLES: RefCell<Option<Tables>> = const { RefCell::new(None) };
    /// This thread's libdeflate decompressor, made on first use.
    static LIBDEFLATE: RefCell<Option<libdeflater::Decompressor>> = const { RefCell::new(None) };
}

/// Streams whose output is at least this many times their size go to libdeflate: they
/// are mostly long matches, which its branch per symbol kind copies faster than the fast
/// loop's branchless step (0.6-0.8 times libdeflate's speed on sparse detector frames and
/// spectra compressed 4.6-16 times; 1.0-1.6 times on images compressed 1.1-4.8 times:
/// docs/performance.md, session 46).
pub const LONG_MATCH_RATIO: usize = 4;

/// Decode the zlib stream `input` into `out`: the bytes written. A stream that decodes to
/// fewer bytes than `out` holds leaves the rest of `out` unspecified; one that decodes to
/// more is [`InflateError::InsufficientSpace`], found before anything past `out` is
/// written. Bytes after the stream's Adler-32 are ignored. Streams that `out` holds
/// [`LONG_MATCH_RATIO`] times over are decoded by libdeflate instead, with the same
/// results.
pub fn zlib_decompress(input: &[u8], out: &mut [u8]) -> Result<usize> {
    if out.len() >= LONG_MATCH_RATIO.saturating_mul(input.len()) {
        return libdeflate_decompress(input, out);
    }
    zlib_decompress_by_emio(input, out)
}

/// [`zlib_decompress`] by libdeflate.
fn libdeflate_decompress(input: &[u8], out: &mut [u8]) -> Result<usize> {
    LIBDEFLATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let decompressor = slot.get_or_insert_with(libdeflater::Decompressor::new);
        decompressor
            .zlib_decompress(input, out)
            .map_err(|e| match e {
                libdeflater::DecompressionError::InsufficientSpace => {
                    InflateError::InsufficientSpace
                }
                libdeflater::DecompressionError::BadData => InflateError::BadData,
            })
    })
}

/// [`zlib_decompress`] by emio's own decoder whatever the stream's ratio (what
/// [`zlib_decompress`] does below [`LONG_MATCH_RATIO`]): for tests, fuzzing and
/// benchmarks of the decoder itself.
pub fn zlib_decompress_by_emio(input: &[u8], out: &mut [u8]) -> Result<usize> {
    let [cmf, flg, ..] = *input else {
        return Err(InflateError::BadData);
    };
    // Deflate with a window of at most 32 KiB, a valid check, no preset dictionary.
    let header = u16::from(cmf) << 8 | u16::from(flg);
    if cmf & 0x0f != 8 || cmf >> 4 > 7 || header % 31 != 0 || flg & 0x20 != 0 {
        return Err(InflateError::BadData);
    }
    let deflated = &input[2..];
    let (end, written) = inflate_raw(deflated, out, &mut |_| true)?.expect("never stopped");
    let trailer = deflated.get(end..end + 4).ok_or(InflateError::BadData)?;
    let stored = u32::from_be_bytes(trailer.try_into().expect("four bytes"));
    if zlib_rs::adler32::adler32(1, &out[..written]) != stored {
        return Err(InflateError::BadData);
    }
    Ok(written)
}

/// Decode the raw Deflate stream (RFC 1951) at the start of `input` into `out`, with this
/// thread's tables: the input bytes it takes (up to the byte after its final block) and
/// the bytes written; `None` when `go_on`, asked after each block but the final one with
/// the bytes written so far, said to stop. Errors as [`zlib_decompress`]'s.
fn inflate_raw(
    input: &[u8],
    out: &mut [u8],
    go_on: &mut dyn FnMut(usize) -> bool,
) -> Result<Option<(usize, usize)>> {
    TABLES.with(|cell| {
        let mut slot = cell.borrow_mut();
        let tables = slot.get_or_insert_with(Tables::new);
        let mut inflater = Inflater {
            input,
            ip: 0,
            bitbuf: 0,
            bitsleft: 0,
            out,
            op: 0,
            tables,
        };
        if !inflater.run(go_on)? {
            return Ok(None);
        }
        Ok(Some((inflater.byte_position()?, inflater.op)))
    })
}

/// The decoder's state: input and output positions, the bit buffer, the tables.
struct Inflater<'a, 'o, 't> {
    input: &'a [u8],
    /// Next input byte to load into the bit buffer. It may run up to 8 bytes past the
    /// input's end (zeros loaded), which [`Inflater::byte_position`] refuses.
    ip: usize,
    /// The next bits of the stream, first in the low bit. Past `bitsleft` it holds zeros
    /// or the true bits that follow (a refill loads them again in place).
    bitbuf: u64,
    /// Bits of `bitbuf` that are loaded and not consumed.
    bitsleft: u32,
    out: &'o mut [u8],
    op: usize,
    tables: &'t mut Tables,
}

impl Inflater<'_, '_, '_> {
    /// Decode every block up to and including the final one (true), asking `go_on` after
    /// each other block whether to go on (false when it said no).
    fn run(&mut self, go_on: &mut dyn FnMut(usize) -> bool) -> Result<bool> {
        loop {
            let header = self.bits(3)?;
            match header >> 1 {
                0 => self.stored_block()?,
                1 => {
                    let lens = fixed_lengths();
                    let (litlen, dist) = lens.split_at(LITLEN_SYMBOLS);
                    self.tables.build(litlen, dist)?;
                    self.huffman_block()?;
                }
                2 => {
                    self.dynamic_tables()?;
                    self.huffman_block()?;
                }
                _ => return Err(InflateError::BadData),
            }
            if header & 1 == 1 {
                return Ok(true);
            }
            if !go_on(self.op) {
                return Ok(false);
            }
        }
    }

    /// The input position of the first byte after the bits consumed so far; an error if
    /// the stream consumed bits past the input's end.
    fn byte_position(&self) -> Result<usize> {
        let consumed_bits = self.ip * 8 - self.bitsleft as usize;
        let end = consumed_bits.div_ceil(8);
        if end > self.input.len() {
            return Err(InflateError::BadData);
        }
        Ok(end)
    }

    /// Make sure the bit buffer holds at least `n` bits (`n` <= 56), loading zeros past
    /// the input's end (at most 8 bytes of them: a stream that needs more is cut short).
    fn ensure(&mut self, n: u32) -> Result<()> {
        while self.bitsleft < n {
            let byte = match self.input.get(self.ip) {
                Some(&b) => b,
                None if self.ip < self.input.len() + 8 => 0,
                None => return Err(InflateError::BadData),
            };
            self.bitbuf |= u64::from(byte) << self.bitsleft;
            self.ip += 1;
            self.bitsleft += 8;
        }
        Ok(())
    }

    fn consume(&mut self, n: u32) {
        self.bitbuf >>= n;
        self.bitsleft -= n;
    }

    /// Take the next `n` bits (`n` <= 32), first in the low bit.
    fn bits(&mut self, n: u32) -> Result<u32> {
        self.ensure(n)?;
        let value = (self.bitbuf & ((1u64 << n) - 1)) as u32;
        self.consume(n);
        Ok(value)
    }

    /// A stored block: its bytes copied as they are.
    fn stored_block(&mut self) -> Result<()> {
        // Up to the byte boundary; then the bytes the buffer holds are given back and the
        // block's lengths read from the input itself.
        self.consume(self.bitsleft % 8);
        let start = self.byte_position()?;
        self.ip = start;
        self.bitbuf = 0;
        self.bitsleft = 0;
        let header = self
            .input
            .get(start..start + 4)
            .ok_or(InflateError::BadData)?;
        let len = u16::from_le_bytes([header[0], header[1]]);
        if len != !u16::from_le_bytes([header[2], header[3]]) {
            return Err(InflateError::BadData);
        }
        let (from, len) = (start + 4, usize::from(len));
        let bytes = self
            .input
            .get(from..from + len)
            .ok_or(InflateError::BadData)?;
        self.out
            .get_mut(self.op..self.op + len)
            .ok_or(InflateError::InsufficientSpace)?
            .copy_from_slice(bytes);
        self.op += len;
        self.ip = from + len;
        Ok(())
    }

    /// Read a dynamic block's code lengths (RFC 1951, 3.2.7) and build its tables.
    fn dynamic_tables(&mut self) -> Result<()> {
        let nlit = self.bits(5)? as usize + 257;
        let ndist = self.bits(5)? as usize + 1;
        let ncode = self.bits(4)? as usize + 4;
        if nlit > 286 || ndist > 30 {
            return Err(InflateError::BadData);
        }
        let mut code_lens = [0u8; CODE_LENGTH_SYMBOLS];
        for &symbol in &CODE_LENGTH_ORDER[..ncode] {
            code_lens[symbol] = self.bits(3)? as u8;
        }
        let table = code_length_table(&code_lens)?;
        // Literal/length lengths, then distance lengths, as one sequence: a repeat may
        // run from one into the other.
        let mut sequence = [0u8; 286 + 30];
        let mut i = 0;
        while i < nlit + ndist {
            self.ensure(CODE_LENGTH_BITS)?;
            let entry = table[(self.bitbuf & ((1 << CODE_LENGTH_BITS) - 1)) as usize];
            self.consume(entry & 0xff);
            let (value, repeat) = match entry >> 8 {
                len @ 0..=15 => (len as u8, 1),
                16 => {
                    let previous = i.checked_sub(1).ok_or(InflateError::BadData)?;
                    (sequence[previous], 3 + self.bits(2)? as usize)
                }
                17 => (0, 3 + self.bits(3)? as usize),
                _ => (0, 11 + self.bits(7)? as usize),
            };
            let run = sequence
                .get_mut(i..i + repeat)
                .filter(|_| i + repeat <= nlit + ndist)
                .ok_or(InflateError::BadData)?;
            run.fill(value);
            i += repeat;
        }
        // The end-of-block symbol needs a code.
        if sequence[256] == 0 {
            return Err(InflateError::BadData);
        }
        let mut litlen = [0u8; LITLEN_SYMBOLS];
        let mut dist = [0u8; DIST_SYMBOLS];
        litlen[..nlit].copy_from_slice(&sequence[..nlit]);
        dist[..ndist].copy_from_slice(&sequence[nlit..nlit + ndist]);
        self.tables.build(&litlen, &dist)
    }

    /// Decode a Huffman block's symbols up to its end: the fast loop for as long as it
    /// can, the symbol it stops at (or each symbol near the end) on its own.
    fn huffman_block(&mut self) -> Result<()> {
        loop {
            fast::run(self)?;
            if self.careful_symbol()? {
                return Ok(());
            }
        }
    }

    /// Decode one symbol, every bit and byte checked: `true` at the block's end.
    fn careful_symbol(&mut self) -> Result<bool> {
        self.ensure(SYMBOL_BITS)?;
        let (symbol, bits) = decode_symbol(self.tables, self.bitbuf)?;
        self.consume(bits);
        match symbol {
            Symbol::EndOfBlock => return Ok(true),
            Symbol::Literal(byte) => {
                *self
                    .out
                    .get_mut(self.op)
                    .ok_or(InflateError::InsufficientSpace)? = byte;
                self.op += 1;
            }
            Symbol::Match { length, distance } => {
                if distance > self.op {
                    return Err(InflateError::BadData);
                }
                let end = self.op + length;
                if end > self.out.len() {
                    return Err(InflateError::InsufficientSpace);
                }
                for k in self.op..end {
                    self.out[k] = self.out[k - distance];
                }
                self.op = end;
            }
        }
        Ok(false)
    }
}

/// Bits [`decode_symbol`] may read: the longest length code and its extra bits, then the
/// longest distance code and its extra bits.
const SYMBOL_BITS: u32 = 15 + 5 + 15 + 13;

/// A symbol decoded through the literal/length and distance tables.
#[derive(Debug, PartialEq)]
enum Symbol {
    Literal(u8),
    Match { length: usize, distance: usize },
    EndOfBlock,
}

/// The symbol the low bits of `bitbuf` code (it holds at least [`SYMBOL_BITS`] of the
/// stream) and how many bits it takes; an invalid code is [`InflateError::BadData`].
fn decode_symbol(tables: &Tables, bitbuf: u64) -> Result<(Symbol, u32)> {
    const LIT_MASK: u64 = (1 << LIT_BITS) - 1;
    const DIST_MASK: u64 = (1 << DIST_BITS) - 1;
    let mut taken = 0;
    let mut entry = tables.litlen[(bitbuf & LIT_MASK) as usize];
    if entry & SUBTABLE != 0 {
        taken = LIT_BITS;
        let sub_mask = (1u64 << (entry >> 8 & 0xff)) - 1;
        entry =
            tables.litlen[(entry >> 16 & 0x1fff) as usize + (bitbuf >> taken & sub_mask) as usize];
    }
    if entry & LITERAL != 0 {
        return Ok((Symbol::Literal((entry >> 8) as u8), taken + (entry & 0xff)));
    }
    if entry & EXCEPTIONAL != 0 {
        if entry & END_OF_BLOCK != 0 {
            return Ok((Symbol::EndOfBlock, taken + (entry & 0xff)));
        }
        return Err(InflateError::BadData);
    }
    let length = value_of(entry, bitbuf >> taken);
    taken += entry & 0xff;
    let mut entry = tables.dist[(bitbuf >> taken & DIST_MASK) as usize];
    if entry & DIST_SUBTABLE != 0 {
        taken += DIST_BITS;
        let sub_mask = (1u64 << (entry >> 8 & 0x1f)) - 1;
        entry = tables.dist[(entry >> 16) as usize + (bitbuf >> taken & sub_mask) as usize];
    }
    if entry & (DIST_INVALID | DIST_SUBTABLE) != 0 {
        return Err(InflateError::BadData);
    }
    let distance = value_of(entry, bitbuf >> taken);
    Ok((Symbol::Match { length, distance }, taken + (entry & 0xff)))
}

/// The length or distance of a table entry whose code starts at the low bit of `bits`:
/// its base plus the extra bits after the code.
fn value_of(entry: u32, bits: u64) -> usize {
    let code_len = entry >> 8 & 0x1f;
    let all = entry & 0xff;
    (entry >> 16) as usize + ((bits & ((1u64 << all) - 1)) >> code_len) as usize
}
