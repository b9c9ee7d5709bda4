//! Small pieces of presentation shared by the console's pages: times written for people,
//! texts with the spans a rule matched marked, and escaping for what is built outside the
//! templates (which escape everything else themselves).

use time::OffsetDateTime;

/// `2026-12-06 05:51:02 UTC`.
pub fn when(ms: i64) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return ms.to_string();
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Milliseconds of a `datetime-local` value read as UTC (`2026-12-06T05:51`, seconds optional).
pub fn parse_input_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let with_seconds = if text.len() == 16 {
        format!("{text}:00")
    } else {
        text.to_string()
    };
    warden_store::parse_ts_ms(&format!("{with_seconds}Z"))
}

/// `4 min`, `2 h 5 min`, `3 d`: a duration for people.
pub fn span(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min", secs / 60),
        3600..=86_399 => match (secs % 3600) / 60 {
            0 => format!("{} h", secs / 3600),
            m => format!("{} h {m} min", secs / 3600),
        },
        _ => format!("{} d", secs / 86_400),
    }
}

/// Percent-encodes `text` for a URL's query, keeping `/` when it is a path.
pub fn url_encode(text: &str, keep_slash: bool) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            b'/' if keep_slash => "/".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` escaped, with the byte ranges in `marks` wrapped in `<mark>` (overlapping and
/// adjacent ranges merged; ranges off the text or off a character boundary ignored).
pub fn mark_ranges(text: &str, marks: &[(usize, usize)]) -> String {
    let mut ranges: Vec<(usize, usize)> = marks
        .iter()
        .copied()
        .filter(|&(s, e)| s < e && e <= text.len() && text.is_char_boundary(s) && text.is_char_boundary(e))
        .collect();
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    let mut out = String::with_capacity(text.len() + merged.len() * 13);
    let mut at = 0;
    for (s, e) in merged {
        out.push_str(&escape(&text[at..s]));
        out.push_str("<mark>");
        out.push_str(&escape(&text[s..e]));
        out.push_str("</mark>");
        at = e;
    }
    out.push_str(&escape(&text[at..]));
    out
}

/// `text` escaped, with every occurrence of each of `needles` marked: for a request shown in
/// another form than the one the rules read (a message among others, pretty-printed
/// arguments), where the spans' offsets do not apply but their texts do.
pub fn mark_texts(text: &str, needles: &[String]) -> String {
    let mut ranges = Vec::new();
    for needle in needles.iter().filter(|n| !n.trim().is_empty()) {
        let mut from = 0;
        while let Some(i) = text[from..].find(needle.as_str()) {
            ranges.push((from + i, from + i + needle.len()));
            from += i + needle.len();
        }
    }
    mark_ranges(text, &ranges)
}

/// The first 12 characters of a hash, for display beside the full value in a title.
pub fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_merge_and_escape() {
        assert_eq!(
            mark_ranges("a <b> rm -rf /", &[(6, 11), (9, 14), (0, 1)]),
            "<mark>a</mark> &lt;b&gt; <mark>rm -rf /</mark>"
        );
        assert_eq!(mark_ranges("é", &[(0, 1)]), "é", "not on a character boundary");
        assert_eq!(
            mark_texts("pay 5 and pay 6", &["pay".into()]),
            "<mark>pay</mark> 5 and <mark>pay</mark> 6"
        );
    }

    #[test]
    fn times_read_back() {
        assert_eq!(when(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(parse_input_time("1970-01-01T00:01"), Some(60_000));
        assert_eq!(parse_input_time(""), None);
        assert_eq!(span(3_720_000), "1 h 2 min");
    }
}
