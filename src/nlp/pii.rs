//! Finding and redacting personal data in a text, before anything is analysed, stored, indexed
//! or logged (see [`Redactor`]).
//!
//! Each kind has a pattern that proposes candidates and a check that keeps only the real ones,
//! so that what customers write about their orders stays readable: a payment card must pass
//! Luhn and have a card network's prefix and length, an IBAN its ISO 7064 checksum
//! (`iban_validate`), a French social security number (NIR) its key, a phone number the
//! numbering plan of its country (`phonenumber`, Google's libphonenumber data); a link is
//! removed only when it carries a personal token, a name only after a title or an
//! introduction. Order numbers, dates, prices and product codes fail these checks.

use std::sync::LazyLock;

use phonenumber::country::Id as Country;
use regex::Regex;

use super::stop_words::is_stop_word;
use crate::domain::{PiiKind, Redaction};

/// Query parameters whose value identifies a person or opens their account.
const PERSONAL_PARAMETERS: [&str; 22] = [
    "token",
    "access_token",
    "auth",
    "key",
    "apikey",
    "api_key",
    "session",
    "sessionid",
    "sid",
    "code",
    "password",
    "pwd",
    "email",
    "mail",
    "user",
    "userid",
    "user_id",
    "uid",
    "customer",
    "customer_id",
    "client",
    "signature",
];
/// The shortest IBAN (Norway's).
const MIN_IBAN_CHARS: usize = 15;
/// The shortest card number.
const MIN_CARD_DIGITS: usize = 13;
/// A path segment or value this long, mixing letters and digits, is a token, not a word.
const TOKEN_CHARS: usize = 16;

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid pattern")
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"\b[\p{L}\p{N}][\p{L}\p{N}._%+\-]*@[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}\-]+)*\.\p{L}{2,}\b",
    )
});
static URL: LazyLock<Regex> = LazyLock::new(|| regex(r#"(?i)\b(?:https?://|www\.)[^\s<>"'«»]+"#));
static IBAN: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)\b[a-z]{2}\d{2}(?:[ ]?[a-z0-9]{4}){2,7}(?:[ ]?[a-z0-9]{1,4})?\b"));
static CARD: LazyLock<Regex> = LazyLock::new(|| regex(r"\b\d(?:[ \-]?\d){12,18}\b"));
static NIR: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)\b[12][ .]?\d{2}[ .]?\d{2}[ .]?(?:\d{2}|2a|2b)[ .]?\d{3}[ .]?\d{3}[ .]?\d{2}\b"));
/// International (`+33 6…`, `0033 6…`), French national (`06 12 34 56 78`) and British
/// national (`07700 900123`) shapes; the numbering plan decides.
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?:\+|\b00)\d{1,3}[ .\-]?(?:\(0\)[ .\-]?)?\d(?:[ .\-]?\d){5,12}\b|\b0\d(?:[ .\-]?\d){8,9}\b|\(\d{3}\)[ .\-]?\d{3}[ .\-]\d{4}\b",
    )
});
/// A name: one to three capitalised words, after a title or an introduction. The title stays.
static PERSON: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?:\b(?:M\.|MM\.|Mme|Mmes|Mlle|Mr\.?|Mrs\.?|Ms\.?|Dr\.?|Pr\.?|Monsieur|Madame|Mademoiselle|(?i:je m['’]appelle|je me nomme|my name is|mon nom est|signé|cordialement,?)))\s+((?:\p{Lu}\.[ \t]*)?\p{Lu}[\p{L}'’\-]+\.?(?:[ \t]+\p{Lu}[\p{L}'’\-]+){0,2})",
    )
});

/// Words that open a letter's greeting rather than a name.
const TITLES: [&str; 11] =
    ["Monsieur", "Madame", "Mademoiselle", "Messieurs", "Mesdames", "Mme", "Mlle", "M", "Mr", "Mrs", "Ms"];

/// A span of personal data, in bytes of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub kind: PiiKind,
    pub start: usize,
    pub end: usize,
}

/// A text with its personal data replaced, and what was replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    pub text: String,
    pub redactions: Vec<Redaction>,
}

/// Redacts the kinds of personal data it is given (none: redaction is off).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    kinds: Vec<PiiKind>,
}

impl Redactor {
    pub fn new(kinds: impl IntoIterator<Item = PiiKind>) -> Redactor {
        let mut kinds: Vec<PiiKind> = kinds.into_iter().collect();
        kinds.sort();
        kinds.dedup();
        Redactor { kinds }
    }

    /// From configuration: kind names, or `all`.
    pub fn parse(names: &[String]) -> anyhow::Result<Redactor> {
        let mut kinds = Vec::new();
        for name in names.iter().flat_map(|n| n.split(',')).map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "all" => kinds.extend(PiiKind::ALL),
                _ => kinds.push(PiiKind::parse(name).ok_or_else(|| {
                    anyhow::anyhow!(
                        "`{name}` is not a kind of personal data: all, email, phone, iban, card, nir, url or person"
                    )
                })?),
            }
        }
        Ok(Redactor::new(kinds))
    }

    pub fn is_enabled(&self) -> bool {
        !self.kinds.is_empty()
    }

    /// The text with each kind's findings replaced by its placeholder; `None` when nothing
    /// was found.
    pub fn redact(&self, text: &str) -> Option<Redacted> {
        if !self.is_enabled() {
            return None;
        }
        let found = find_kinds(text, &self.kinds);
        if found.is_empty() {
            return None;
        }
        let mut redacted = String::with_capacity(text.len());
        let mut redactions = Vec::with_capacity(found.len());
        let (mut copied, mut chars_before) = (0, 0);
        for f in found {
            chars_before += text[copied..f.start].chars().count();
            let length = text[f.start..f.end].chars().count();
            redactions.push(Redaction { kind: f.kind, offset: chars_before, length });
            redacted.push_str(&text[copied..f.start]);
            redacted.push_str(f.kind.placeholder());
            chars_before += length;
            copied = f.end;
        }
        redacted.push_str(&text[copied..]);
        Some(Redacted { text: redacted, redactions })
    }
}

/// Every piece of personal data in `text`, in text order, without overlaps: where two
/// detectors claim the same characters, the more specific kind wins (an e-mail address inside
/// a link makes the link personal; a card number is not also a phone number).
pub fn find(text: &str) -> Vec<Found> {
    find_kinds(text, &PiiKind::ALL)
}

/// [`find`] for some kinds only: a kind left out claims nothing, so what it would have
/// covered stays open to the others (an e-mail address inside a link not redacted).
pub fn find_kinds(text: &str, kinds: &[PiiKind]) -> Vec<Found> {
    let mut found: Vec<Found> = Vec::new();
    let mut claim = |kind: PiiKind, start: usize, end: usize| {
        if kinds.contains(&kind) && !found.iter().any(|f| start < f.end && f.start < end) {
            found.push(Found { kind, start, end });
        }
    };
    for m in URL.find_iter(text) {
        let url = m.as_str().trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']']);
        if is_personal_url(url) {
            claim(PiiKind::Url, m.start(), m.start() + url.len());
        }
    }
    for m in EMAIL.find_iter(text) {
        claim(PiiKind::Email, m.start(), m.end());
    }
    // The patterns may run into a word or a number that follows ("… 7893 12/26"): the
    // value is the longest valid head, cut at a group boundary.
    let is_iban = |candidate: &str| candidate.to_ascii_uppercase().parse::<iban::Iban>().is_ok();
    for m in IBAN.find_iter(text) {
        if let Some(length) = longest_valid_head(m.as_str(), MIN_IBAN_CHARS, is_iban) {
            claim(PiiKind::Iban, m.start(), m.start() + length);
        }
    }
    for m in CARD.find_iter(text) {
        if let Some(length) = longest_valid_head(m.as_str(), MIN_CARD_DIGITS, |c| is_card_number(&digits(c))) {
            claim(PiiKind::Card, m.start(), m.start() + length);
        }
    }
    for m in NIR.find_iter(text) {
        if is_nir(m.as_str()) {
            claim(PiiKind::Nir, m.start(), m.end());
        }
    }
    for m in PHONE.find_iter(text) {
        if is_phone_number(m.as_str()) {
            claim(PiiKind::Phone, m.start(), m.end());
        }
    }
    for captures in PERSON.captures_iter(text) {
        let (title, name) = (captures.get(0).expect("the match"), captures.get(1).expect("the name group"));
        // "Cordialement, Mme Durand": a second title, whose name follows; "Madame Monsieur"
        // has none. "Mr. He" is a sentence, not a name ("Mme Le Gall" is one); "5 M. Ce" is
        // five million.
        let mut start = name.start();
        let mut words: Vec<&str> = name.as_str().split([' ', '\t']).filter(|w| !w.is_empty()).collect();
        if TITLES.contains(&words[0].trim_end_matches('.')) {
            start += name.as_str().find(words[0]).expect("a word of the name") + words[0].len();
            start += text[start..].len() - text[start..].trim_start().len();
            words.remove(0);
        }
        let end = name.end() - usize::from(name.as_str().ends_with('.'));
        let one_stop_word = words.len() == 1 && is_stop_word(&words[0].trim_end_matches('.').to_lowercase());
        let after_number = text[..title.start()].trim_end().ends_with(|c: char| c.is_ascii_digit());
        if !words.is_empty() && !one_stop_word && !after_number && start < end {
            claim(PiiKind::Person, start, end);
        }
    }
    found.sort_by_key(|f| f.start);
    found
}

/// The length of the longest prefix of `candidate` that ends at a group boundary (before a
/// space or a dash), is at least `shortest` long, and passes `valid`.
fn longest_valid_head(candidate: &str, shortest: usize, valid: impl Fn(&str) -> bool) -> Option<usize> {
    let mut head = candidate;
    loop {
        if valid(head) {
            return Some(head.len());
        }
        match head.rfind([' ', '-']) {
            Some(cut) if cut >= shortest => head = head[..cut].trim_end_matches([' ', '-']),
            _ => return None,
        }
    }
}

fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// A link is personal when a query parameter names a person or an access (`token=`,
/// `email=`…), when it holds an e-mail address, or when a part of it is a long token.
fn is_personal_url(url: &str) -> bool {
    if EMAIL.is_match(url) || url.contains("%40") {
        return true;
    }
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let personal_parameter = query.split(['&', ';', '#']).any(|pair| {
        let name = pair.split('=').next().unwrap_or_default().to_ascii_lowercase();
        PERSONAL_PARAMETERS.contains(&name.as_str())
    });
    let is_token = |part: &str| {
        part.len() >= TOKEN_CHARS
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && part.chars().any(|c| c.is_ascii_digit())
            && part.chars().any(|c| c.is_ascii_alphabetic())
    };
    let values = query.split(['&', ';', '#']).filter_map(|pair| pair.split_once('=').map(|(_, v)| v));
    personal_parameter || path.split('/').skip(1).any(is_token) || values.into_iter().any(is_token)
}

/// Luhn, and the prefix and length of a card network (Visa, Mastercard, American Express,
/// Discover, JCB, UnionPay, Diners), so that long order numbers are not taken for cards.
fn is_card_number(digits: &str) -> bool {
    let prefix = |n: usize| digits.get(..n).and_then(|p| p.parse::<u32>().ok()).unwrap_or(0);
    let network = match digits.len() {
        13 => digits.starts_with('4'),
        14 => (300..=305).contains(&prefix(3)) || prefix(2) == 36 || prefix(2) == 38,
        15 => prefix(2) == 34 || prefix(2) == 37,
        16 => {
            digits.starts_with('4')
                || (51..=55).contains(&prefix(2))
                || (2221..=2720).contains(&prefix(4))
                || prefix(4) == 6011
                || prefix(2) == 65
                || (644..=649).contains(&prefix(3))
                || (3528..=3589).contains(&prefix(4))
                || prefix(2) == 62
        }
        17..=19 => digits.starts_with('4') || prefix(2) == 62 || (3528..=3589).contains(&prefix(4)),
        _ => false,
    };
    network && luhn(digits)
}

fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            match i % 2 {
                1 if d * 2 > 9 => d * 2 - 9,
                1 => d * 2,
                _ => d,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A NIR: sex, year, month, département (Corsica's 2A and 2B count as 19 and 18 in the key),
/// commune, order, and a key equal to 97 less the first thirteen digits modulo 97.
fn is_nir(text: &str) -> bool {
    let compact: String = text.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_uppercase();
    if compact.len() != 15 {
        return false;
    }
    let (body, key) = compact.split_at(13);
    let month: u32 = body[3..5].parse().unwrap_or(0);
    if month == 0 || (13..20).contains(&month) {
        return false;
    }
    let numeric = body.replace("2A", "19").replace("2B", "18");
    let (Ok(body), Ok(key)) = (numeric.parse::<u64>(), key.parse::<u64>()) else { return false };
    key == 97 - body % 97
}

/// Valid in its country's numbering plan: international numbers as written, national ones as
/// French, then British.
fn is_phone_number(text: &str) -> bool {
    let candidate = text.trim();
    let regions: &[Option<Country>] = if candidate.starts_with('+') || candidate.starts_with("00") {
        &[None]
    } else if candidate.starts_with('(') {
        &[Some(Country::US)]
    } else {
        &[Some(Country::FR), Some(Country::GB)]
    };
    let international = candidate.strip_prefix("00").map(|rest| format!("+{rest}"));
    let candidate = international.as_deref().unwrap_or(candidate);
    regions
        .iter()
        .any(|region| phonenumber::parse(*region, candidate).is_ok_and(|number| phonenumber::is_valid(&number)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(PiiKind, &str)> {
        find(text).into_iter().map(|f| (f.kind, &text[f.start..f.end])).collect()
    }

    #[test]
    fn finds_each_kind() {
        assert_eq!(kinds("écrivez à jean.dupont@gmail.com merci"), [(PiiKind::Email, "jean.dupont@gmail.com")]);
        assert_eq!(kinds("appelez le 06 12 34 56 78 svp"), [(PiiKind::Phone, "06 12 34 56 78")]);
        assert_eq!(kinds("call +44 20 7946 0958 today"), [(PiiKind::Phone, "+44 20 7946 0958")]);
        assert_eq!(
            kinds("IBAN FR76 3000 6000 0112 3456 7890 189"),
            [(PiiKind::Iban, "FR76 3000 6000 0112 3456 7890 189")]
        );
        assert_eq!(kinds("carte 4970 1012 3456 7893 débitée"), [(PiiKind::Card, "4970 1012 3456 7893")]);
        assert_eq!(kinds("mon numéro 1 85 05 78 006 084 91"), [(PiiKind::Nir, "1 85 05 78 006 084 91")]);
        assert_eq!(
            kinds("see https://shop.example.com/track?token=ab12cd34ef56"),
            [(PiiKind::Url, "https://shop.example.com/track?token=ab12cd34ef56")]
        );
        assert_eq!(kinds("Je m'appelle Léa Martin et"), [(PiiKind::Person, "Léa Martin")]);
        assert_eq!(kinds("merci à M. Dupont pour"), [(PiiKind::Person, "Dupont")]);
        assert_eq!(kinds("Cordialement, Mme Durand"), [(PiiKind::Person, "Durand")]);
        assert_eq!(kinds("Cordialement,\nJean Dupont"), [(PiiKind::Person, "Jean Dupont")]);
        assert_eq!(kinds("carte 4970 1012 3456 7893 12/26"), [(PiiKind::Card, "4970 1012 3456 7893")]);
        assert_eq!(
            kinds("iban fr76 3000 6000 0112 3456 7890 189 merci"),
            [(PiiKind::Iban, "fr76 3000 6000 0112 3456 7890 189")]
        );
    }

    #[test]
    fn leaves_what_is_not_personal() {
        for text in [
            "commande n° 123456789 livrée le 12/11/2026",
            "Order #4006381333931 arrived on 2026-11-02",
            "payé 1 299,00 € pour la réf AB-1234-XY",
            "https://www.example.com/produits/chaise-bois",
            "Madame, Monsieur, je vous écris",
            "Monsieur le directeur",
            "Madame Monsieur, bonjour",
            "un budget de 5 M. Ce projet",
            "thanks Mr. He said no",
            "colis 6A12345678901 en attente",
            "tracking 1Z999AA10123456784",
        ] {
            assert_eq!(kinds(text), [], "{text}");
        }
    }

    #[test]
    fn redaction_replaces_and_reports_offsets_in_code_points() {
        let redactor = Redactor::new([PiiKind::Email, PiiKind::Phone]);
        let text = "Élodie: élodie@exemple.fr, 06 12 34 56 78. M. Durand";
        let redacted = redactor.redact(text).unwrap();
        assert_eq!(redacted.text, "Élodie: [EMAIL], [PHONE]. M. Durand");
        let spans: Vec<String> =
            redacted.redactions.iter().map(|r| text.chars().skip(r.offset).take(r.length).collect()).collect();
        assert_eq!(spans, ["élodie@exemple.fr", "06 12 34 56 78"]);
        assert_eq!(Redactor::default().redact(text), None);
        assert_eq!(Redactor::parse(&["all".into()]).unwrap(), Redactor::new(PiiKind::ALL));
        assert!(Redactor::parse(&["email,bogus".into()]).is_err());
        // A kind left out claims nothing: the address inside the link is still an address.
        let link = "https://x.example/c?email=jean@x.example";
        let only_email = Redactor::new([PiiKind::Email]).redact(link).unwrap();
        assert_eq!(only_email.text, "https://x.example/c?email=[EMAIL]");
    }
}
