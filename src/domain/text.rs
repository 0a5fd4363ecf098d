//! Unicode rules shared by the identity fields: one canonical form for what is compared, and
//! no characters that make one string look like another.

use icu_normalizer::ComposingNormalizerBorrowed;

/// NFKC: compatibility forms become their plain letters (the Kelvin sign U+212A is `K`,
/// fullwidth `ａｎｎ` is `ann`), so two strings that read the same compare the same.
pub fn nfkc(text: &str) -> String {
    ComposingNormalizerBorrowed::new_nfkc()
        .normalize(text)
        .into_owned()
}

/// NFC: the same characters in one canonical encoding, with the look kept (names).
pub fn nfc(text: &str) -> String {
    ComposingNormalizerBorrowed::new_nfc()
        .normalize(text)
        .into_owned()
}

/// Characters that change how text is displayed without being visible themselves: zero-width
/// characters, bidirectional marks, embeddings, overrides and isolates, word joiners, the byte
/// order mark. In a name or an address they only serve to impersonate (`admin\u{200B}`) or to
/// reorder what a reader sees (U+202E).
pub fn has_invisible_or_bidi(text: &str) -> bool {
    text.chars().any(|c| {
        matches!(c,
            '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookalikes_normalise_and_invisibles_are_found() {
        assert_eq!(nfkc("\u{212A}ate"), "Kate");
        assert_eq!(nfkc("ａｎｎ"), "ann");
        assert_eq!(nfc("Zoe\u{0308}"), "Zo\u{00EB}");
        for sneaky in [
            "admin\u{200B}",
            "\u{202E}gpj.exe",
            "a\u{2066}b",
            "\u{FEFF}x",
        ] {
            assert!(has_invisible_or_bidi(sneaky), "{sneaky:?}");
        }
        assert!(!has_invisible_or_bidi("Zoë O'Brien-Łukasz 山田"));
    }
}
