//! Bounds on a search query, checked before Tantivy's parser sees it.
//!
//! Tantivy's query grammar recurses once per parenthesis and per `NOT`, and so do the steps
//! that turn its tree into a query: a few thousand `(` overflowed the stack of the thread
//! serving the search and aborted the whole server. The limits here are far above any
//! analyst's query and far below what the parser survives on a 2 MiB thread; a query over
//! one is refused with the limit named, so the caller knows what to shorten.

use tantivy::query_grammar::{UserInputAst, UserInputLeaf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryLimit {
    /// Characters in the query text.
    Chars,
    /// Parentheses and `NOT`s open at once.
    Depth,
    /// Terms, phrases, ranges and set elements.
    Clauses,
}

impl QueryLimit {
    /// The member name in the API's problem document.
    pub fn name(self) -> &'static str {
        match self {
            QueryLimit::Chars => "max_chars",
            QueryLimit::Depth => "max_depth",
            QueryLimit::Clauses => "max_clauses",
        }
    }

    pub fn max(self) -> usize {
        match self {
            QueryLimit::Chars => 2_000,
            QueryLimit::Depth => 32,
            QueryLimit::Clauses => 100,
        }
    }

    fn what(self) -> &'static str {
        match self {
            QueryLimit::Chars => "characters",
            QueryLimit::Depth => "levels of parentheses and NOT",
            QueryLimit::Clauses => "terms",
        }
    }
}

/// A query over one of the [`QueryLimit`]s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the query has {found} {}; at most {} are allowed ({})", .limit.what(), .limit.max(), .limit.name())]
pub struct QueryTooLarge {
    pub limit: QueryLimit,
    pub found: usize,
}

fn within(limit: QueryLimit, found: usize) -> Result<(), QueryTooLarge> {
    if found > limit.max() {
        return Err(QueryTooLarge { limit, found });
    }
    Ok(())
}

/// Checks what can be checked on the raw text: its length, then its nesting.
pub fn check_text(text: &str) -> Result<(), QueryTooLarge> {
    within(QueryLimit::Chars, text.chars().count())?;
    within(QueryLimit::Depth, nesting_depth(text))
}

/// Checks the number of clauses of a parsed query (whose depth [`check_text`] bounded).
pub fn check_clauses(ast: &UserInputAst) -> Result<(), QueryTooLarge> {
    within(QueryLimit::Clauses, clauses(ast))
}

fn clauses(ast: &UserInputAst) -> usize {
    match ast {
        UserInputAst::Clause(children) => children.iter().map(|(_, child)| clauses(child)).sum(),
        UserInputAst::Boost(inner, _) => clauses(inner),
        UserInputAst::Leaf(leaf) => match leaf.as_ref() {
            UserInputLeaf::Set { elements, .. } => elements.len(),
            _ => 1,
        },
    }
}

/// The deepest the grammar can recurse on `text`: open parentheses plus the `NOT`s still
/// waiting for their operand. Quoted phrases do not count, but only where the grammar
/// reads a phrase (a quote that starts a term and is closed); anywhere else a quote is an
/// ordinary character, so the count never falls below the grammar's own depth.
fn nesting_depth(text: &str) -> usize {
    // Per open parenthesis (the first entry is the top level): `NOT`s awaiting an operand.
    let mut pending_nots: Vec<usize> = vec![0];
    let mut deepest = 0;
    let mut word = String::new();
    let mut term_start = true;
    let mut chars = text.char_indices();
    // Bounded: every turn consumes at least one character.
    while let Some((at, c)) = chars.next() {
        let ends_word = c.is_whitespace() || c == '(' || c == ')';
        if ends_word && !word.is_empty() {
            let is_not = word.trim_start_matches(['+', '-']) == "NOT";
            let top = pending_nots.last_mut().expect("the top level is never popped");
            if is_not {
                *top += 1;
            } else if c != '(' {
                // A word right before `(` names a field (`text:(…)`): the group is the operand.
                *top = 0;
            }
            word.clear();
        }
        match c {
            '(' => pending_nots.push(0),
            ')' => {
                if pending_nots.len() > 1 {
                    pending_nots.pop();
                }
                *pending_nots.last_mut().expect("the top level is never popped") = 0;
            }
            '"' | '\'' if term_start => {
                if let Some(len) = phrase_len(&text[at + 1..], c) {
                    // The phrase completes an operand; skip its content and closing quote.
                    chars.by_ref().take(len).for_each(drop);
                    *pending_nots.last_mut().expect("the top level is never popped") = 0;
                } else {
                    word.push(c);
                }
            }
            '\\' => {
                word.push(c);
                word.extend(chars.next().map(|(_, escaped)| escaped));
            }
            c if c.is_whitespace() => {}
            c => word.push(c),
        }
        term_start = c.is_whitespace() || matches!(c, '(' | ')' | ':' | '+' | '-');
        deepest = deepest.max(pending_nots.len() - 1 + pending_nots.iter().sum::<usize>());
    }
    if word.trim_start_matches(['+', '-']) == "NOT" {
        deepest = deepest.max(pending_nots.len() + pending_nots.iter().sum::<usize>());
    }
    deepest
}

/// Characters in `rest` up to and including the unescaped `quote` that closes a phrase.
fn phrase_len(rest: &str, quote: char) -> Option<usize> {
    let mut chars = rest.chars().enumerate();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if c == quote {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_parentheses_and_not_chains_outside_phrases() {
        assert_eq!(nesting_depth("livraison retard"), 0);
        assert_eq!(nesting_depth("(a OR (b AND c)) d"), 2);
        assert_eq!(nesting_depth("(a OR ".repeat(5).as_str()), 5);
        assert_eq!(nesting_depth("NOT NOT NOT a"), 3);
        assert_eq!(nesting_depth("a NOT b NOT c NOT d"), 1);
        assert_eq!(nesting_depth("NOT (NOT (a))"), 4);
        assert_eq!(nesting_depth("NOT text:(NOT text:(a))"), 4);
        assert_eq!(nesting_depth("\"((((\" a"), 0);
        assert_eq!(nesting_depth("'((' \\( a"), 0);
        // A quote that opens no phrase (mid-word, or never closed) hides nothing.
        assert_eq!(nesting_depth("a\"b ((c))\""), 2);
        assert_eq!(nesting_depth("\"((c))"), 2);
    }

    #[test]
    fn each_limit_is_named() {
        let long = "a ".repeat(1_001);
        assert_eq!(check_text(&long).unwrap_err().limit, QueryLimit::Chars);
        let deep = format!("{}a{}", "(".repeat(33), ")".repeat(33));
        let err = check_text(&deep).unwrap_err();
        assert_eq!((err.limit, err.found), (QueryLimit::Depth, 33));
        assert!(err.to_string().contains("at most 32"), "{err}");
        let many = (0..101).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ");
        let ast = tantivy::query_grammar::parse_query(&many).unwrap();
        assert_eq!(check_clauses(&ast).unwrap_err().limit, QueryLimit::Clauses);
        assert!(check_text(&format!("{}a{}", "(".repeat(32), ")".repeat(32))).is_ok());
    }
}
