//! Latin-1 (ISO 8859-1) text, as the binary headers of several formats store it: every
//! byte is the code point of one character.

/// `bytes` decoded as Latin-1. ASCII text (what most writers store) is checked word-wise
/// and taken whole; only other text is converted byte by byte (a per-byte loop over a
/// long declared string was a third of a fuzzed header parse).
pub fn latin1(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(ascii) if bytes.is_ascii() => ascii.to_string(),
        _ => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every byte becomes the character of the same code point, in order.
        #[test]
        fn each_byte_is_its_code_point(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let text = latin1(&bytes);
            let points: Vec<u32> = text.chars().map(u32::from).collect();
            let expected: Vec<u32> = bytes.iter().map(|&b| u32::from(b)).collect();
            prop_assert_eq!(points, expected);
        }
    }

    #[test]
    fn decodes_ascii_and_high_bytes() {
        assert_eq!(latin1(b"nm"), "nm");
        assert_eq!(latin1(b"\xb5m"), "\u{b5}m");
        assert_eq!(latin1(b"\xc3\xa9"), "\u{c3}\u{a9}");
    }
}
