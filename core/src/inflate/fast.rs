//! The inflater's main loop: literals and whole matches through the fast table, two
//! symbols per refill of the bit buffer, other symbols through the block's tables, while
//! the input and output have room for a step without checks. It stops at the end of the
//! block, at an invalid code, or near the end of the input or output, where the caller
//! goes on symbol by symbol.
//!
//! Each fast symbol is one 8-byte load and one 8-byte store, chosen without a branch:
//! the load comes from the table entry's own literals or from the match's source. Loading
//! literals from the output just written would wait on the stores before it (they
//! overlap the load and cannot be forwarded), one at a time.
//!
//! On x86-64 processors with BMI2 the same loop is compiled a second time with it: the
//! shifts by a table entry and the masks of extra bits become one instruction each.

use super::tables::{FAST_BITS, FAST_EXCEPTIONAL, FAST_LITERAL};
use super::{decode_symbol, InflateError, Inflater, Result, Symbol};

/// Output bytes the loop may write past the position it checks: two symbols, each a
/// match of up to 258 bytes copied in words of up to 16 bytes (15 over).
const OUT_MARGIN: usize = 2 * (258 + 16);
/// Input bytes the loop may load from the position it checks: one refill's 8-byte word.
const IN_MARGIN: usize = 8;

/// Decode for as long as the loop can.
pub(super) fn run(inflater: &mut Inflater) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("bmi2") {
        // SAFETY: the processor has BMI2 (checked just above).
        return unsafe { run_bmi2(inflater) };
    }
    run_portable(inflater)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2")]
fn run_bmi2(inflater: &mut Inflater) -> Result<()> {
    fast_loop(inflater)
}

fn run_portable(inflater: &mut Inflater) -> Result<()> {
    fast_loop(inflater)
}

/// The loop itself, its state in locals (registers) and written back when it stops.
#[inline(always)]
fn fast_loop(inflater: &mut Inflater) -> Result<()> {
    const FAST_MASK: u64 = (1 << FAST_BITS) - 1;
    let input = inflater.input;
    let out = &mut *inflater.out;
    let (Some(in_end), Some(out_end)) = (
        input.len().checked_sub(IN_MARGIN),
        out.len().checked_sub(OUT_MARGIN),
    ) else {
        return Ok(());
    };
    let (mut ip, mut op) = (inflater.ip, inflater.op);
    let (mut bitbuf, mut bitsleft) = (inflater.bitbuf, inflater.bitsleft);
    if ip > in_end || op > out_end {
        return Ok(());
    }
    inflater.tables.build_fast_once();
    let tables = &*inflater.tables;
    let fast = &*tables.fast;
    // Fill the buffer to 56 bits or more with one unaligned load. Only the low byte of
    // `bitsleft` counts (a shift by it uses its low 6 bits): subtracting whole entries
    // leaves higher bits set.
    macro_rules! refill {
        () => {{
            debug_assert!(ip + 8 <= input.len());
            // SAFETY: every refill follows a check that `ip <= in_end`: the 8 bytes are
            // inside `input`.
            let word =
                u64::from_le(unsafe { input.as_ptr().add(ip).cast::<u64>().read_unaligned() });
            bitbuf |= word.wrapping_shl(bitsleft);
            ip += 7 - (bitsleft as usize >> 3 & 7);
            bitsleft |= 56;
        }};
    }
    // The entry the buffer's next bits index, and where it is.
    macro_rules! lookup {
        () => {{
            let at = (bitbuf & FAST_MASK) as usize;
            (at, u64::from_le(fast[at]))
        }};
    }
    // One symbol of the fast entry `$e` (at index `$at`): a shift by the entry consumes
    // its bits (its low 6 bits count them); the next entry is looked up before this
    // one's output is written.
    macro_rules! symbol {
        ($at:ident, $e:ident) => {{
            let extra = (bitbuf & ((1u64 << ($e & 0x3f)) - 1)).wrapping_shr(($e >> 8) as u32);
            let distance = usize::from(($e >> 32) as u16) + extra as usize;
            let length = ($e >> 48) as usize;
            let is_literal = $e & FAST_LITERAL != 0;
            // The entry's literals are its bytes 2 and 3 (stored little-endian).
            let literals = fast.as_ptr().wrapping_add($at).cast::<u8>().wrapping_add(2);
            bitbuf = bitbuf.wrapping_shr($e as u32);
            bitsleft = bitsleft.wrapping_sub($e as u32);
            ($at, $e) = lookup!();
            if distance > op {
                break Err(InflateError::BadData);
            }
            let source = out.as_ptr().wrapping_add(op - distance);
            let from = std::hint::select_unpredictable(is_literal, literals, source);
            debug_assert!(op + 8 <= out.len());
            // SAFETY: `from` is either 8 bytes inside the fast table (an entry and the
            // next, the last entry never indexed) or `op - distance` in `out` (`distance
            // <= op`), whose 8 bytes end before `op + 8 <= out.len()` (`op <= out_end +
            // 258`). Literals have distance 0: `distance - 1` wraps, so only matches of
            // more than 8 bytes or overlapping themselves take the copy.
            let word = unsafe { from.cast::<u64>().read_unaligned() };
            if length > 8 || distance.wrapping_sub(1) < length - 1 {
                copy_match(out, op, distance, length);
            } else {
                // SAFETY: as for `from`.
                unsafe { out.as_mut_ptr().add(op).cast::<u64>().write_unaligned(word) };
            }
            op += length;
        }};
    }
    refill!();
    let (mut at, mut e) = lookup!();
    let result = loop {
        if ip > in_end || op > out_end {
            break Ok(());
        }
        refill!();
        if e & FAST_EXCEPTIONAL != 0 {
            // Through the tables: the 56 bits hold any symbol. The end of the block and
            // invalid codes are left to the caller.
            let Ok((symbol, bits)) = decode_symbol(tables, bitbuf) else {
                break Ok(());
            };
            match symbol {
                Symbol::EndOfBlock => break Ok(()),
                Symbol::Literal(byte) => {
                    out[op] = byte;
                    op += 1;
                }
                Symbol::Match { length, distance } => {
                    if distance > op {
                        break Err(InflateError::BadData);
                    }
                    copy_match(out, op, distance, length);
                    op += length;
                }
            }
            // 48 bits at most: 16 of the stream's bits are left for the next index.
            bitbuf >>= bits;
            bitsleft = (bitsleft & 0xff) - bits;
            (at, e) = lookup!();
            continue;
        }
        // A refill leaves 64 bits of the stream in the buffer (56 or more counted, the
        // rest of the byte it stops in): two entries of at most 24 bits leave 16, more
        // than the next index's 11.
        symbol!(at, e);
        if e & FAST_EXCEPTIONAL == 0 {
            symbol!(at, e);
        }
    };
    (inflater.ip, inflater.op) = (ip, op);
    (inflater.bitbuf, inflater.bitsleft) = (bitbuf, bitsleft & 0xff);
    result
}

/// Copy a match of `length` bytes from `distance` back (1 <= distance <= op) when it is
/// longer than 8 bytes or overlaps itself, in words of 16 or 8 bytes (a repeated pattern
/// for distances under 8). `out` must have room for 15 bytes past the match.
#[inline(always)]
fn copy_match(out: &mut [u8], op: usize, distance: usize, length: usize) {
    let end = op + length;
    assert!(distance <= op && end + 15 <= out.len());
    let base = out.as_mut_ptr();
    let mut to = op;
    // SAFETY: every word read starts at or after `op - distance >= 0` and before `end`,
    // every word written starts before `end` and ends before `end + 15 <= out.len()`
    // (asserted above). Each word read lies wholly before the word written with it (the
    // distance is at least the word's size), so it holds the match's bytes; under 8,
    // only the read's first `distance` bytes (before `op`) are kept.
    unsafe {
        if distance >= 16 {
            while to < end {
                let word = base.add(to - distance).cast::<u128>().read_unaligned();
                base.add(to).cast::<u128>().write_unaligned(word);
                to += 16;
            }
        } else if distance >= 8 {
            while to < end {
                let word = base.add(to - distance).cast::<u64>().read_unaligned();
                base.add(to).cast::<u64>().write_unaligned(word);
                to += 8;
            }
        } else {
            // A pattern repeating every `distance` bytes: its first period, repeated in
            // a register to 8 bytes, written at a step of whole periods.
            let period = u64::from_le(base.add(op - distance).cast::<u64>().read_unaligned())
                & (u64::MAX >> (64 - 8 * distance));
            let mut word = period;
            let mut filled = 8 * distance;
            while filled < 64 {
                word |= word << filled;
                filled *= 2;
            }
            let word = word.to_le();
            const STEP: [usize; 8] = [0, 8, 8, 6, 8, 5, 6, 7];
            while to < end {
                base.add(to).cast::<u64>().write_unaligned(word);
                to += STEP[distance];
            }
        }
    }
}
