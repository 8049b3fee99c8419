//! Tests of the IFD reader: entries in every byte order and kind, typed values.

use super::*;

/// `first_unsigned` is the first of `unsigned`'s values, or the same error, for every
/// field type, count and byte order, inside the file or reaching past its end.
#[test]
fn first_unsigned_is_the_first_of_the_list() {
    let bytes: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(97) ^ 0x80).collect();
    for order in [ByteOrder::Little, ByteOrder::Big] {
        let r = Reader {
            bytes: &bytes,
            order,
        };
        for ftype in 0..=19u16 {
            for count in [0u64, 1, 3, 40] {
                let e = Entry {
                    tag: 256,
                    ftype,
                    count,
                    pos: 8,
                };
                let list = r.unsigned(&e).map(|v| v.first().copied());
                match (r.first_unsigned(&e), list) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "type {ftype} count {count}"),
                    (Err(_), Err(_)) => {}
                    (a, b) => panic!("type {ftype} count {count}: {a:?} vs {b:?}"),
                }
            }
        }
    }
}

/// One IFD written in each byte order, classic and BigTIFF, parses to the same
/// entries and defects: an inline value, a value at an offset, an unknown field type,
/// a value past the end of the file and a tag out of order.
#[test]
fn ifd_entries_in_every_byte_order_and_kind() {
    for order in [ByteOrder::Little, ByteOrder::Big] {
        for big in [false, true] {
            let (word, first): (usize, u64) = if big { (8, 8) } else { (4, 2) };
            let num = |v: u64, n: usize| -> Vec<u8> {
                let b = v.to_be_bytes()[8 - n..].to_vec();
                match order {
                    ByteOrder::Big => b,
                    ByteOrder::Little => b.into_iter().rev().collect(),
                }
            };
            // (tag, type, count, value field)
            let rows: [(u64, u64, u64, u64); 5] = [
                (
                    256,
                    3,
                    1,
                    7 << (if order == ByteOrder::Big {
                        8 * (word - 2)
                    } else {
                        0
                    }),
                ),
                (273, 4, 4, 200),
                (300, 99, 1, 0),
                (301, 1, 64, 1 << 20),
                (299, 1, 1, 0),
            ];
            let mut ifd = num(rows.len() as u64, if big { 8 } else { 2 });
            for (tag, ftype, count, value) in rows {
                ifd.extend(num(tag, 2));
                ifd.extend(num(ftype, 2));
                ifd.extend(num(count, word));
                ifd.extend(num(value, word));
            }
            ifd.extend(num(0, word));
            ifd.resize(256, 0);
            let header = Header {
                order,
                big,
                first_ifd: 0,
            };
            let parsed = parse_ifd(&ifd, &header, 0).unwrap();
            let size = if big { 20 } else { 12 };
            let value_at = first + if big { 12 } else { 8 };
            let want = vec![
                Entry {
                    tag: 256,
                    ftype: 3,
                    count: 1,
                    pos: value_at,
                },
                Entry {
                    tag: 273,
                    ftype: 4,
                    count: 4,
                    pos: 200,
                },
                Entry {
                    tag: 299,
                    ftype: 1,
                    count: 1,
                    pos: value_at + 4 * size,
                },
            ];
            assert_eq!(parsed.entries, want, "{order:?} big={big}");
            let r = Reader { bytes: &ifd, order };
            assert_eq!(r.unsigned(&parsed.entries[0]).unwrap(), [7]);
            assert_eq!(
                parsed.defects,
                [
                    Defect::UnknownType {
                        tag: 300,
                        ftype: 99
                    },
                    Defect::Outside {
                        tag: 301,
                        count: 64,
                        size: 1,
                        pos: 1 << 20
                    },
                    Defect::Unsorted {
                        tag: 299,
                        previous: 301
                    },
                ],
                "{order:?} big={big}"
            );
        }
    }
}

/// Every numeric field type decodes to the same values from little- and big-endian
/// bytes.
#[test]
fn values_of_every_numeric_type_in_both_byte_orders() {
    // (field type, one value's bytes in big-endian order, the decoded values of two
    // copies of it)
    let cases: [(u16, &[u8], Values); 12] = [
        (3, &[0x12, 0x34], Values::Unsigned(vec![0x1234; 2])),
        (8, &[0xff, 0xfe], Values::Signed(vec![-2; 2])),
        (4, &[0, 1, 0, 2], Values::Unsigned(vec![65538; 2])),
        (13, &[0, 0, 0, 9], Values::Unsigned(vec![9; 2])),
        (9, &[0xff, 0xff, 0xff, 0xfd], Values::Signed(vec![-3; 2])),
        (
            16,
            &[0, 0, 0, 1, 0, 0, 0, 0],
            Values::Unsigned(vec![1 << 32; 2]),
        ),
        (18, &[0, 0, 0, 0, 0, 0, 0, 5], Values::Unsigned(vec![5; 2])),
        (17, &[0xff; 8], Values::Signed(vec![-1; 2])),
        (
            5,
            &[0, 0, 0, 3, 0, 0, 0, 4],
            Values::Rational(vec![(3, 4); 2]),
        ),
        (
            10,
            &[0xff, 0xff, 0xff, 0xfd, 0, 0, 0, 4],
            Values::Rational(vec![(-3, 4); 2]),
        ),
        (11, &1.5f32.to_be_bytes(), Values::Float(vec![1.5; 2])),
        (12, &(-2.25f64).to_be_bytes(), Values::Float(vec![-2.25; 2])),
    ];
    for (ftype, big, want) in cases {
        for order in [ByteOrder::Big, ByteOrder::Little] {
            let one: Vec<u8> = match (order, ftype) {
                (ByteOrder::Big, _) => big.to_vec(),
                // Each of a rational's two numbers is reversed on its own.
                (_, 5 | 10) => big
                    .chunks(4)
                    .flat_map(|h| h.iter().rev().copied())
                    .collect(),
                _ => big.iter().rev().copied().collect(),
            };
            let bytes = [one.clone(), one].concat();
            let r = Reader {
                bytes: &bytes,
                order,
            };
            let e = Entry {
                tag: 1,
                ftype,
                count: 2,
                pos: 0,
            };
            assert_eq!(r.values(&e).unwrap(), want, "type {ftype}, {order:?}");
        }
    }
}

/// A classic little-endian file of empty IFDs at `offsets`, each pointing to the IFD at
/// `next[i]` (0 ends the chain), the header pointing to `offsets[0]`.
fn chain_file(offsets: &[u64], next: &[u64]) -> Vec<u8> {
    let mut bytes = vec![0u8; 256];
    bytes[..4].copy_from_slice(b"II*\0");
    bytes[4..8].copy_from_slice(&(offsets[0] as u32).to_le_bytes());
    for (&at, &to) in offsets.iter().zip(next) {
        let at = at as usize;
        bytes[at..at + 2].copy_from_slice(&0u16.to_le_bytes());
        bytes[at + 2..at + 6].copy_from_slice(&(to as u32).to_le_bytes());
    }
    bytes
}

/// Chains that loop are cut where they come back, whether the loop steps back at once
/// or after IFDs laid out backwards; chains that step back without looping are read
/// whole.
#[test]
fn chains_are_cut_where_they_loop_back() {
    let read = |offsets: &[u64], next: &[u64]| {
        let bytes = chain_file(offsets, next);
        let header = parse_header(&bytes).unwrap();
        let (ifds, warnings) = parse_chain(&bytes, &header).unwrap();
        let at: Vec<u64> = ifds.iter().map(|ifd| ifd.offset).collect();
        (at, warnings.len())
    };
    // Ascending, no loop.
    assert_eq!(read(&[8, 40, 80], &[40, 80, 0]), (vec![8, 40, 80], 0));
    // Ascending, then back to the first.
    assert_eq!(read(&[8, 40, 80], &[40, 80, 8]), (vec![8, 40, 80], 1));
    // Back to itself.
    assert_eq!(read(&[40], &[40]), (vec![40], 1));
    // Descending without a loop.
    assert_eq!(
        read(&[200, 120, 40], &[120, 40, 0]),
        (vec![200, 120, 40], 0)
    );
    // Descending, then up again to one already read.
    assert_eq!(
        read(&[200, 120, 40], &[120, 40, 120]),
        (vec![200, 120, 40], 1)
    );
    // Down once, then ascending into a loop through IFDs after the step back.
    assert_eq!(
        read(&[120, 40, 80, 160], &[40, 80, 160, 80]),
        (vec![120, 40, 80, 160], 1)
    );
}
