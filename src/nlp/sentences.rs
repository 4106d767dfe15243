//! Sentence boundaries (Unicode UAX #29), with offsets in code points as the API reports them.

use unicode_segmentation::UnicodeSegmentation;

use super::offsets::CodePoints;

/// One sentence of a text, trimmed of surrounding white space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentence<'a> {
    pub text: &'a str,
    /// Byte offset in the text.
    pub start: usize,
    /// Code points from the start of the text.
    pub offset: usize,
    /// Length in code points.
    pub length: usize,
}

impl Sentence<'_> {
    /// Its byte range in the text it was split from.
    pub fn bytes(&self) -> std::ops::Range<usize> {
        self.start..self.start + self.text.len()
    }
}

pub fn split(text: &str) -> Vec<Sentence<'_>> {
    let mut sentences = Vec::new();
    let mut points = CodePoints::new(text);
    for (start, raw) in text.split_sentence_bound_indices() {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        let sentence_start = start + raw.len() - raw.trim_start().len();
        let (offset, length) = points.span(sentence_start..sentence_start + trimmed.len());
        sentences.push(Sentence { text: trimmed, start: sentence_start, offset, length });
    }
    sentences
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_counts_code_points() {
        let text = "Très bien.  Mais trop cher ! Déçu?";
        let sentences = split(text);
        let texts: Vec<&str> = sentences.iter().map(|s| s.text).collect();
        assert_eq!(texts, ["Très bien.", "Mais trop cher !", "Déçu?"]);
        for s in &sentences {
            let by_offsets: String = text.chars().skip(s.offset).take(s.length).collect();
            assert_eq!(by_offsets, s.text);
        }
    }
}
