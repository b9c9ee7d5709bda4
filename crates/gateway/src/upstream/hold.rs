//! What of a streamed answer's text must still wait before it is sent: only the end that a
//! detector could yet complete into a secret or personal data (an unfinished token that looks
//! like code, a run of digit groups, the value after a credential's name, an open PEM block).
//! Ordinary prose goes out as it comes.
//!
//! The rule errs towards holding: a plain word released early can at worst be the first few
//! letters of a longer secret, and the rest of it is still caught and redacted, because the
//! text already sent stays in the look-behind the detectors read.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

/// How many characters at the end of `window` (the text already sent as context, then the
/// text held) could still become part of a secret, and must wait for what follows.
pub fn held_suffix_chars(window: &str) -> usize {
    let from = hold_from(window);
    window[from..].chars().count()
}

/// The byte offset in `window` from which text must be held (`window.len()`: none).
fn hold_from(window: &str) -> usize {
    // A private key's block is redacted whole: nothing of it goes before its end is seen.
    if let Some(begin) = window.rfind("-----BEGIN")
        && !window[begin..].contains("-----END")
    {
        return begin;
    }
    let trimmed = window.trim_end();
    let ends_in_space = trimmed.len() < window.len();
    let mut from = window.len();
    let mut tokens = Tokens { text: trimmed };
    // The last token, still being written: held if it could be the start of a secret, or if
    // it is the value after a credential's name.
    if !ends_in_space
        && let Some((start, token)) = tokens.peek()
        && (could_begin_secret(token) || follows_credential_name(window, start))
    {
        from = start;
    }
    // A run of digit groups at the end (a card, an IBAN, a phone or national number, a date
    // of birth) may go on in the next chunk: held from its first group.
    while let Some((start, token)) = tokens.next_back() {
        if !number_like(token) {
            break;
        }
        from = from.min(start);
    }
    from
}

/// Whitespace-separated tokens of a text, read from its end.
struct Tokens<'a> {
    text: &'a str,
}

impl<'a> Tokens<'a> {
    fn peek(&self) -> Option<(usize, &'a str)> {
        let end = self.text.trim_end().len();
        if end == 0 {
            return None;
        }
        let start = self.text[..end]
            .rfind(char::is_whitespace)
            .map_or(0, |i| i + self.text[i..].chars().next().map_or(1, char::len_utf8));
        Some((start, &self.text[start..end]))
    }

    fn next_back(&mut self) -> Option<(usize, &'a str)> {
        let (start, token) = self.peek()?;
        self.text = &self.text[..start];
        Some((start, token))
    }
}

/// Punctuation that may close a word of prose.
fn closes_prose(c: char) -> bool {
    matches!(
        c,
        '.' | ','
            | ';'
            | ':'
            | '!'
            | '?'
            | ')'
            | ']'
            | '"'
            | '\''
            | '»'
            | '”'
            | '’'
            | '…'
            | '。'
            | '、'
            | '，'
            | '！'
            | '？'
    )
}

/// Punctuation that may open a word of prose.
fn opens_prose(c: char) -> bool {
    matches!(c, '(' | '[' | '"' | '\'' | '«' | '“' | '‘' | '¿' | '¡')
}

/// Whether an unfinished token could be the start of a secret: anything but a plain word of
/// letters (with the punctuation prose puts around and inside words), written in lower case
/// or with a capital first letter, and shorter than a key.
fn could_begin_secret(token: &str) -> bool {
    if token.chars().count() >= 24 {
        return true;
    }
    let word = token
        .trim_start_matches(opens_prose)
        .trim_end_matches(closes_prose);
    let mut previous_letter = false;
    for (i, c) in word.chars().enumerate() {
        if c.is_alphabetic() {
            // An upper-case letter inside a word: camel case, or a random string.
            if i > 0 && c.is_uppercase() && previous_letter {
                return true;
            }
            previous_letter = true;
        } else if matches!(c, '\'' | '’') && previous_letter {
            // `don't`, `l'homme`.
            previous_letter = false;
        } else {
            return true;
        }
    }
    false
}

/// Whether a token may belong to a run of digit groups or a written date: it holds a digit, is
/// a short group of capitals (an IBAN's bank code), a separator, or a month's name.
fn number_like(token: &str) -> bool {
    let word = token
        .trim_start_matches(opens_prose)
        .trim_end_matches(closes_prose);
    if word.bytes().any(|b| b.is_ascii_digit()) {
        return true;
    }
    if !word.is_empty() && word.len() <= 4 && word.bytes().all(|b| b.is_ascii_uppercase()) {
        return true;
    }
    if !word.is_empty() && word.chars().all(|c| matches!(c, '-' | '/' | '+' | '–' | '.')) {
        return true;
    }
    // Months begin with an ASCII letter and are written in lower case after it, so comparing
    // ASCII letters without case finds them without a lower-cased copy of every token.
    MONTHS.iter().any(|month| month.eq_ignore_ascii_case(word))
}

/// Months, as dates of birth are written in the languages Warden reads.
const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "januar",
    "februar",
    "märz",
    "mai",
    "juni",
    "juli",
    "oktober",
    "dezember",
    "janvier",
    "février",
    "mars",
    "avril",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
    "gennaio",
    "febbraio",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "settembre",
    "ottobre",
    "dicembre",
    "janeiro",
    "fevereiro",
    "março",
    "maio",
    "junho",
    "julho",
    "setembro",
    "outubro",
    "novembro",
    "dezembro",
    "januari",
    "februari",
    "maart",
    "mei",
    "augustus",
    // Their letters beyond ASCII in capitals (`MÄRZ`), which an ASCII comparison does not fold.
    "mÄrz",
    "fÉvrier",
    "aoÛt",
    "dÉcembre",
    "marÇo",
];

/// Names a secret's value follows (`password: `, `the token is `, `Passwort lautet `), in the
/// languages the detectors read; matched without ASCII case.
const CREDENTIAL_NAMES: &[&str] = &[
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "credential",
    "authorization",
    "bearer",
    "mot de passe",
    "mdp",
    "kennwort",
    "contraseña",
    "contraseÑa",
    "senha",
    "wachtwoord",
    "パスワード",
    "密码",
    "密碼",
    "dsn",
    "salt",
    "psk",
];

/// How far back on its line a credential's name may stand before the value it names: the
/// detectors read `the password for … is <value>` across a whole sentence, so the whole line,
/// up to the look-behind's default size.
const NAME_REACH: usize = 256;

/// Whether the text before `start` on its line names a credential: the token at `start` may be
/// its value, and a plain word can be a password.
fn follows_credential_name(window: &str, start: usize) -> bool {
    let line_start = window[..start].rfind('\n').map_or(0, |i| i + 1);
    let from = start.saturating_sub(NAME_REACH).max(line_start);
    // One pass over the bytes, built once: this runs for most events of a streamed answer.
    static NAMES: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(CREDENTIAL_NAMES)
            .ok()
    });
    // Without the matcher (it cannot fail to build from these names), every value waits.
    NAMES
        .as_ref()
        .is_none_or(|names| names.is_match(&window.as_bytes()[from..start]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(window: &str) -> &str {
        &window[hold_from(window)..]
    }

    #[test]
    fn prose_goes_at_once() {
        for text in [
            "Here is the summary of our policy",
            "Here is the summary of our policy.",
            "The committee met on Tuesday, and ",
            "Voici le résumé de l'accord",
            "Don't worry, it's fine",
            "请在周五之前完成",
            "(see the appendix)",
        ] {
            assert_eq!(held(text), "", "{text}");
        }
    }

    #[test]
    fn unfinished_tokens_that_look_like_code_wait() {
        assert_eq!(held("Your key is sk-proj-"), "sk-proj-");
        assert_eq!(held("token AKIAIOSF0DNN7"), "AKIAIOSF0DNN7");
        assert_eq!(held("see eyJhbGciOiJIUzI1NiJ9."), "eyJhbGciOiJIUzI1NiJ9.");
        assert_eq!(held("mail john.doe@exa"), "john.doe@exa");
        assert_eq!(held("the value aBcDeFgHiJ"), "aBcDeFgHiJ");
        assert_eq!(held("a abcdefghijklmnopqrstuvwxyz"), "abcdefghijklmnopqrstuvwxyz");
        // Once a space follows, the token is complete and judged: nothing waits for it.
        assert_eq!(held("Your key is sk-proj-abc "), "");
    }

    #[test]
    fn digit_groups_wait_until_a_word_follows() {
        assert_eq!(held("card 4111 1111 1111 "), "4111 1111 1111 ");
        // A short word in capitals may be a bank code, so the name before the number waits too.
        assert_eq!(held("IBAN GB82 WEST 1234 5698"), "IBAN GB82 WEST 1234 5698");
        assert_eq!(held("born on 3 April "), "3 April ");
        assert_eq!(held("geboren am 3. MÄRZ "), "3. MÄRZ ");
        assert_eq!(held("SSN: 123-45-"), "SSN: 123-45-");
        assert_eq!(held("the number: 123-45-"), "123-45-");
        assert_eq!(held("card 4111 1111 1111 1111 and then"), "");
    }

    #[test]
    fn a_value_after_a_credentials_name_waits_even_as_a_plain_word() {
        assert_eq!(held("the wifi password is hunter"), "hunter");
        assert_eq!(held("Passwort lautet sommer"), "sommer");
        assert_eq!(held("CONTRASEÑA: verano"), "verano");
        assert_eq!(held("mot de passe : soleil"), "soleil");
        // However far along the line the value comes.
        let far =
            "The password for the production database server in Frankfurt that we set up last week is hunter";
        assert_eq!(held(far), "hunter");
        // Not on the next line.
        assert_eq!(held("password rules\nthen we"), "");
    }

    #[test]
    fn an_open_private_key_block_waits_whole() {
        let open = "here:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n";
        assert_eq!(held(open), "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n");
        let closed = format!("{open}-----END RSA PRIVATE KEY-----\nDone ");
        assert_eq!(held(&closed), "");
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert_eq!(held_suffix_chars("café 1234"), 4);
        assert_eq!(held_suffix_chars("密码是 añoñaÑ"), 6);
    }
}
