//! Words as the matcher sees them: tokens of letters and digits, reduced to an inflection key
//! so that `deleting`, `deleted` and `deletes` all meet `delete`, while `tokenizer` stays
//! distinct from `token` and `riverbank` from `bank`.

/// A word of the normalized text, with its byte range there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    pub key: String,
    pub start: usize,
    pub end: usize,
}

/// Splits normalized text into words and keys them, dropping filler words so that phrases
/// match across them (`transfer the funds` meets `transfer funds`).
pub(crate) fn words(normalized: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in normalized.char_indices() {
        if c.is_alphanumeric() {
            if start.is_none() {
                start = Some(i);
            }
        } else if let Some(s) = start.take() {
            push_word(&mut out, normalized, s, i);
        }
    }
    if let Some(s) = start {
        push_word(&mut out, normalized, s, normalized.len());
    }
    out
}

fn push_word(out: &mut Vec<Word>, text: &str, start: usize, end: usize) {
    let raw = &text[start..end];
    if is_filler(raw) {
        return;
    }
    out.push(Word {
        key: inflection_key(raw),
        start,
        end,
    });
}

/// Determiners and possessives carry no intent; a phrase matches across them.
fn is_filler(word: &str) -> bool {
    matches!(
        word,
        "a" | "an"
            | "the"
            | "this"
            | "that"
            | "these"
            | "those"
            | "my"
            | "our"
            | "your"
            | "their"
            | "his"
            | "her"
            | "its"
            | "some"
            | "all"
            | "any"
            | "every"
    )
}

/// Reduces an inflected English word to a key shared by its inflections.
///
/// Only inflection is undone (plural, past, participle, third person), never derivation:
/// `tokenizer`, `secretary` and `changelog` keep keys of their own.
pub fn inflection_key(word: &str) -> String {
    if let Some(base) = irregular(word) {
        return strip_final_e(base).to_string();
    }
    let w = word;
    let n = w.len();
    if n <= 3 || !w.is_ascii() {
        return w.to_string();
    }
    let stem: String = if let Some(s) = w.strip_suffix("ies").or_else(|| w.strip_suffix("ied")) {
        if s.len() >= 2 {
            format!("{s}y")
        } else {
            w.to_string()
        }
    } else if let Some(s) = w.strip_suffix("ing") {
        if has_vowel(s) && s.len() >= 2 {
            undouble(s).to_string()
        } else {
            w.to_string()
        }
    } else if let Some(s) = w.strip_suffix("ed") {
        if has_vowel(s) && s.len() >= 2 && !s.ends_with('e') {
            undouble(s).to_string()
        } else {
            w.to_string()
        }
    } else if w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is") {
        w[..n - 1].to_string()
    } else {
        w.to_string()
    };
    strip_final_e(&stem).to_string()
}

/// `delete` and `delet(ing)` meet by dropping a final silent `e`.
fn strip_final_e(s: &str) -> &str {
    if s.len() > 3 && s.ends_with('e') && !s.ends_with("ee") {
        &s[..s.len() - 1]
    } else {
        s
    }
}

fn has_vowel(s: &str) -> bool {
    s.bytes()
        .any(|b| matches!(b, b'a' | b'e' | b'i' | b'o' | b'u' | b'y'))
}

/// `transferring` -> `transfer`, `stopped` -> `stop`; but `passing` keeps `pass`.
fn undouble(s: &str) -> &str {
    let b = s.as_bytes();
    let n = b.len();
    if n >= 3 && b[n - 1] == b[n - 2] && !matches!(b[n - 1], b'l' | b's' | b'z' | b'f' | b'e' | b'o') {
        &s[..n - 1]
    } else {
        s
    }
}

fn irregular(word: &str) -> Option<&'static str> {
    Some(match word {
        "sent" => "send",
        "paid" => "pay",
        "wrote" | "written" => "write",
        "ran" => "run",
        "sold" => "sell",
        "bought" => "buy",
        "spent" => "spend",
        "gave" | "given" => "give",
        "took" | "taken" => "take",
        "made" => "make",
        "told" => "tell",
        "forgot" | "forgotten" => "forget",
        "stole" | "stolen" => "steal",
        "leaked" => "leak",
        "shared" => "share",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &str, b: &str) {
        assert_eq!(inflection_key(a), inflection_key(b), "{a} vs {b}");
    }

    fn differ(a: &str, b: &str) {
        assert_ne!(inflection_key(a), inflection_key(b), "{a} vs {b}");
    }

    #[test]
    fn inflections_meet() {
        same("delete", "deleting");
        same("delete", "deleted");
        same("delete", "deletes");
        same("wire", "wired");
        same("wire", "wiring");
        same("notify", "notified");
        same("notify", "notifies");
        same("notify", "notifying");
        same("transfer", "transferring");
        same("transfer", "transferred");
        same("email", "emails");
        same("change", "changes");
        same("change", "changing");
        same("approval", "approvals");
        same("send", "sent");
        same("token", "tokens");
        same("pass", "passing");
        same("wipe", "wiping");
        same("modify", "modified");
        same("process", "processes");
    }

    #[test]
    fn derivations_stay_apart() {
        differ("token", "tokenizer");
        differ("secret", "secretary");
        differ("bank", "riverbank");
        differ("change", "changelog");
        differ("need", "ne");
    }

    #[test]
    fn filler_words_are_dropped() {
        let keys: Vec<String> = words("transfer the funds").into_iter().map(|w| w.key).collect();
        assert_eq!(keys, vec!["transfer", "fund"]);
    }
}
