//! Byte ranges to code-point spans: Rust slices text by bytes, the API counts characters as a
//! person does (code points), whatever the encoding a client reads them in.

use std::ops::Range;

/// Converts byte ranges of one text, visited in increasing order without overlap, into
/// (offset, length) in code points, reading each byte once.
pub struct CodePoints<'t> {
    text: &'t str,
    bytes_seen: usize,
    chars_seen: usize,
}

impl<'t> CodePoints<'t> {
    pub fn new(text: &'t str) -> CodePoints<'t> {
        CodePoints { text, bytes_seen: 0, chars_seen: 0 }
    }

    /// The code-point offset and length of `range`, which starts at or after the previous one's end.
    pub fn span(&mut self, range: Range<usize>) -> (usize, usize) {
        let offset = self.chars_seen + self.text[self.bytes_seen..range.start].chars().count();
        let length = self.text[range.clone()].chars().count();
        self.bytes_seen = range.end;
        self.chars_seen = offset + length;
        (offset, length)
    }
}

/// The bytes of the span of `length` code points at code point `offset` of `text` (the
/// inverse of [`CodePoints::span`]), cut short at the end of the text.
pub fn byte_range(text: &str, offset: usize, length: usize) -> Range<usize> {
    let mut boundaries = text.char_indices().map(|(at, _)| at).chain(std::iter::once(text.len()));
    let start = boundaries.nth(offset).unwrap_or(text.len());
    let end = if length == 0 { start } else { boundaries.nth(length - 1).unwrap_or(text.len()) };
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges_invert_code_point_spans() {
        let text = "Très déçu 😡 du délai";
        for word in ["Très", "déçu", "😡", "délai"] {
            let bytes = text.find(word).unwrap()..text.find(word).unwrap() + word.len();
            let (offset, length) = CodePoints::new(text).span(bytes.clone());
            assert_eq!(byte_range(text, offset, length), bytes);
        }
        assert_eq!(byte_range(text, 100, 3), text.len()..text.len());
    }

    #[test]
    fn spans_count_code_points_not_bytes() {
        let text = "Très déçu 😡 du délai";
        let mut points = CodePoints::new(text);
        let word = |w: &str| text.find(w).unwrap()..text.find(w).unwrap() + w.len();
        assert_eq!(points.span(word("déçu")), (5, 4));
        assert_eq!(points.span(word("😡")), (10, 1));
        assert_eq!(points.span(word("délai")), (15, 5));
    }
}
