//! People named in a text: `Markus Schneider`, `Dr. Okafor`, `Mme Vasseur`, `中村由美さん`,
//! `王伟的`. Not personal data to redact (a name is how a request says whose record it wants),
//! but the evidence that a question about a diagnosis or a salary is about *someone's*: rules
//! use it as `@person_name` in near clauses.
//!
//! Found by shape, in one pass: two or more capitalised words in a row (with the particles of
//! surnames between them, `van der`, `de`, `da`), not opened by a word that merely starts a
//! sentence (`Welche Diagnose`, `The Secret`); a capitalised word after an honorific (`Herr`,
//! `Sra.`, `Dr`); in Japanese, a run of kanji or katakana before an honorific (`さん`, `様`,
//! `部長`); in Chinese, a frequent surname and one or two characters before `的` or a title.

/// Honorifics that open a name in the languages Warden reads, lower case, without the dot.
const HONORIFICS: &[&str] = &[
    "mr", "mrs", "ms", "miss", "dr", "prof", "herr", "frau", "m", "mme", "mlle", "monsieur", "madame", "sr",
    "sra", "srta", "senor", "señor", "senora", "señora", "don", "doña", "dona", "sig", "sigra", "signor",
    "signora", "dott", "dottssa", "dhr", "mevr", "meneer", "mevrouw",
];

/// First words of capitalised pairs that name places and products, not people (`New York`,
/// `Google Workspace`, `Active Directory`).
const PLACE_AND_PRODUCT_OPENERS: &[&str] = &[
    "new",
    "san",
    "santa",
    "los",
    "las",
    "saint",
    "st",
    "fort",
    "mount",
    "lake",
    "north",
    "south",
    "east",
    "west",
    "google",
    "microsoft",
    "amazon",
    "apple",
    "azure",
    "active",
    "visual",
    "power",
    "adobe",
    "oracle",
    "windows",
    "office",
    "united",
    "hong",
    "costa",
    "puerto",
];

/// Last words of capitalised pairs that name places and organisations (`United States`,
/// `Deutsche Bank`, `Acme Inc`).
const PLACE_AND_ORGANISATION_HEADS: &[&str] = &[
    "states",
    "kingdom",
    "republic",
    "emirates",
    "union",
    "nations",
    "africa",
    "america",
    "street",
    "avenue",
    "road",
    "park",
    "bank",
    "university",
    "college",
    "inc",
    "ltd",
    "llc",
    "gmbh",
    "group",
    "council",
    "ministry",
    "department",
    "office",
    "center",
    "centre",
    "hospital",
    "airlines",
    "garden",
    "city",
    "county",
    "island",
    "islands",
    "valley",
    "coast",
    "workspace",
    "directory",
    "cloud",
    "services",
    "foundation",
    "institute",
    "agency",
    "corporation",
    "company",
];

/// Lower-case words between the parts of a name (`Pieter van der Berg`, `Ana de Souza`).
const PARTICLES: &[&str] = &[
    "van", "von", "der", "den", "de", "da", "do", "dos", "das", "del", "della", "di", "du", "le", "la",
    "ten", "ter", "y", "e", "zu",
];

/// Capitalised words that start sentences and name nobody: determiners, pronouns, question
/// words and a few imperatives, in the languages Warden reads.
const SENTENCE_OPENERS: &[&str] = &[
    "the",
    "a",
    "an",
    "this",
    "that",
    "these",
    "those",
    "my",
    "our",
    "your",
    "his",
    "her",
    "their",
    "what",
    "which",
    "who",
    "whose",
    "when",
    "where",
    "why",
    "how",
    "is",
    "are",
    "was",
    "does",
    "do",
    "did",
    "can",
    "could",
    "would",
    "will",
    "please",
    "tell",
    "ask",
    "show",
    "give",
    "get",
    "send",
    "find",
    "list",
    "pull",
    "open",
    "check",
    "look",
    "read",
    "print",
    "export",
    "update",
    "change",
    "set",
    "add",
    "delete",
    "remove",
    "move",
    "draft",
    "write",
    "email",
    "book",
    "schedule",
    "summarize",
    "explain",
    "describe",
    "translate",
    "i",
    "we",
    "you",
    "it",
    "in",
    "on",
    "for",
    "from",
    "to",
    "at",
    "by",
    "with",
    "about",
    "if",
    "and",
    "or",
    "but",
    "so",
    "hi",
    "hey",
    "hello",
    "dear",
    "thanks",
    "le",
    "la",
    "les",
    "un",
    "une",
    "des",
    "ce",
    "cette",
    "quel",
    "quelle",
    "quels",
    "quelles",
    "est",
    "donne",
    "montre",
    "envoie",
    "der",
    "die",
    "das",
    "den",
    "dem",
    "ein",
    "eine",
    "welche",
    "welcher",
    "welches",
    "wie",
    "was",
    "wer",
    "wessen",
    "bitte",
    "zeig",
    "zeige",
    "gib",
    "schick",
    "el",
    "los",
    "las",
    "una",
    "qué",
    "que",
    "cuál",
    "cual",
    "quién",
    "quien",
    "dime",
    "dame",
    "muestra",
    "envía",
    "envia",
    "o",
    "os",
    "um",
    "uma",
    "qual",
    "quais",
    "quem",
    "mostra",
    "mostre",
    "diga",
    "il",
    "lo",
    "gli",
    "uno",
    "quale",
    "quali",
    "chi",
    "dimmi",
    "mostrami",
    "het",
    "een",
    "wat",
    "welke",
    "welk",
    "hoe",
    "geef",
    "toon",
    "stuur",
    "kun",
    "kunt",
];

/// Japanese honorifics and titles that follow a name.
const JA_TITLES: &[&str] = &[
    "さん",
    "様",
    "さま",
    "氏",
    "くん",
    "君",
    "ちゃん",
    "先生",
    "部長",
    "課長",
    "社長",
    "係長",
    "主任",
];

/// Nouns for people in general that take an honorific as names do (`お客様`, the customer;
/// `皆さん`, everyone; `ご担当者様`, whoever is in charge): no one is named.
const JA_GENERIC_BEFORE_TITLE: &[&str] = &[
    "客",
    "皆",
    "神",
    "王",
    "奥",
    "患者",
    "利用者",
    "会員",
    "担当者",
    "担当",
    "先方",
    "取引先",
    "社員",
    "生徒",
    "学生",
    "保護者",
    "乗客",
    "住民",
    "購入者",
    "申込者",
    "参加者",
    "応募者",
    "関係者",
    "各位",
    "お子",
    "子",
    "旦那",
    "ユーザー",
    "メンバー",
    "スタッフ",
    "ゲスト",
    "オーナー",
];

/// Chinese titles that follow a name.
const ZH_TITLES: &[&str] = &[
    "先生", "女士", "小姐", "经理", "总监", "主管", "老师", "医生", "同事",
];

/// Roles written just before a Chinese name, with no space: `病人王丽华`, `员工李明`.
const ZH_ROLES: &[&str] = &[
    "病人",
    "患者",
    "员工",
    "职员",
    "同事",
    "客户",
    "顾客",
    "经理",
    "主管",
    "老师",
    "学生",
    "医生",
    "护士",
    "下属",
    "实习生",
    "租户",
    "申请人",
    "候选人",
];

/// Frequent Chinese surnames whose character is rarely a word of its own in a request.
const ZH_SURNAMES: &str = "王李张刘陈杨黄赵吴徐孙胡郭罗郑梁谢宋唐许韩冯邓曹彭曾肖董袁潘蒋蔡杜叶魏吕丁沈姚卢姜崔钟谭陆汪廖贾夏韦邹孟熊秦邱薛闫段雷侯龙陶黎贺顾毛郝龚邵严覃武戴莫孔汤林";

fn is_han(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}')
}

fn is_katakana(c: char) -> bool {
    matches!(c, '\u{30a0}'..='\u{30ff}')
}

/// One word of letters (and inner `'` or `-`), with its byte range.
struct Word<'a> {
    start: usize,
    end: usize,
    text: &'a str,
    /// Whether it opens a sentence: nothing before it but `.`, `!`, `?`, `:`, a line break or
    /// the start of the text.
    opens_sentence: bool,
}

fn words(text: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut opens_sentence = true;
    let mut start: Option<usize> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let inner = (c == '\'' || c == '-' || c == '’')
            && start.is_some()
            && chars.peek().is_some_and(|(_, n)| n.is_alphabetic());
        if c.is_alphabetic() && !is_han(c) && !is_katakana(c) || inner {
            start.get_or_insert(i);
            continue;
        }
        if let Some(s) = start.take() {
            out.push(Word {
                start: s,
                end: i,
                text: &text[s..i],
                opens_sentence,
            });
            opens_sentence = false;
        }
        match c {
            '.' | '!' | '?' | ':' | '\n' | '。' | '？' | '！' | '¿' | '¡' => opens_sentence = true,
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(Word {
            start: s,
            end: text.len(),
            text: &text[s..],
            opens_sentence,
        });
    }
    out
}

/// Appends the byte ranges of the names in `text`.
pub(crate) fn person_names(text: &str, out: &mut Vec<(usize, usize)>) {
    latin_names(text, out);
    if !text.is_ascii() {
        cjk_names(text, out);
    }
}

/// Names start with a capital: only the stretches that open with one are read word by word,
/// from the capital to the next `,`, `;`, `!`, `?`, `:` or line break (at most 160 bytes).
/// Office prose is mostly small letters, so most of a long text is skipped at memchr speed.
fn latin_names(text: &str, out: &mut Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = next_capital(bytes, i) {
        let inside_word = at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] >= 0x80);
        if inside_word {
            i = at + 1;
            continue;
        }
        // A name needs a second capitalised word (after an honorific's dot, `Dr. Okafor`) or a
        // particle: most capitals open a sentence of small letters and are passed over here,
        // without reading a word of them.
        let word_end = bytes[at..]
            .iter()
            .position(|&b| !(b.is_ascii_alphabetic() || b >= 0x80 || b == b'\'' || b == b'-'))
            .map_or(bytes.len(), |n| at + n);
        let after = word_end + usize::from(bytes.get(word_end) == Some(&b'.'));
        let spaced = bytes.get(after) == Some(&b' ');
        let next = bytes.get(after + 1).copied().unwrap_or(b' ');
        let next_is_capital = spaced && (next.is_ascii_uppercase() || (0xC3..=0xC5).contains(&next));
        let next_is_particle = spaced && next.is_ascii_lowercase() && {
            let rest = &bytes[after + 1..bytes.len().min(after + 8)];
            let len = rest
                .iter()
                .position(|&b| !b.is_ascii_lowercase())
                .unwrap_or(rest.len());
            len <= 5
                && bytes.get(after + 1 + len) == Some(&b' ')
                && PARTICLES.iter().any(|p| p.as_bytes() == &rest[..len])
        };
        if !(next_is_capital || next_is_particle) {
            i = word_end.max(at + 1);
            continue;
        }
        let mut end = (at + 160).min(bytes.len());
        if let Some(stop) = bytes[at..end]
            .iter()
            .position(|&b| matches!(b, b',' | b';' | b'!' | b'?' | b':' | b'\n'))
        {
            end = at + stop;
        }
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let before = text[..at].trim_end_matches([' ', '\t', '\'', '’', '"', '(', '¿', '¡', '«']);
        let opens = before.is_empty() || before.ends_with(['.', '!', '?', ':', '\n', '。', '？', '！']);
        // `d'Héloïse`: the elided article belongs to the name's stretch.
        let from = if at >= 2 && matches!(bytes[at - 1], b'\'') && bytes[at - 2].is_ascii_alphabetic() {
            at - 2
        } else {
            at
        };
        let found = out.len();
        names_in(&text[from..end], opens, out);
        for range in &mut out[found..] {
            range.0 += from;
            range.1 += from;
        }
        i = end.max(at + 1);
    }
}

/// The first byte at or after `from` that may start a capital: `A`-`Z`, or the lead byte of a
/// Latin letter outside ASCII (`É`, `Ø`). Eight bytes at a time: a block with no byte in
/// `A`-`Z` and none above 0x7F is passed over whole.
fn next_capital(bytes: &[u8], from: usize) -> Option<usize> {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let is_capital = |b: u8| b.is_ascii_uppercase() || (0xC3..=0xC5).contains(&b);
    let mut i = from;
    for chunk in bytes[from..].chunks_exact(8) {
        let mut block = [0u8; 8];
        block.copy_from_slice(chunk);
        let x = u64::from_le_bytes(block);
        // Per byte (all below 0x80): the high bit of (b + (0x80 - 'A')) is set when b >= 'A',
        // and that of (b + (0x80 - 'Z' - 1)) when b > 'Z'.
        let low7 = x & !HIGH;
        let at_least_a = low7.wrapping_add(LOW * (0x80 - u64::from(b'A')));
        let above_z = low7.wrapping_add(LOW * (0x80 - u64::from(b'Z') - 1));
        if (at_least_a & !above_z & HIGH) | (x & HIGH) != 0
            && let Some(n) = chunk.iter().position(|&b| is_capital(b))
        {
            return Some(i + n);
        }
        i += 8;
    }
    bytes[i..].iter().position(|&b| is_capital(b)).map(|n| i + n)
}

fn names_in(text: &str, first_opens: bool, out: &mut Vec<(usize, usize)>) {
    let mut words = words(text);
    if let Some(first) = words.first_mut() {
        first.opens_sentence = first_opens;
    }
    let is_in = |w: &Word<'_>, list: &[&str]| {
        if w.text.is_ascii() {
            list.iter().any(|x| x.eq_ignore_ascii_case(w.text))
        } else {
            let lower = w.text.to_lowercase();
            list.contains(&lower.as_str())
        }
    };
    // A capital, then a small letter (`Schneider`, `Héloïse`, `O'Brien`; not `API`). `d'Héloïse`
    // and `l'Inès` are one word to the splitter: the elision is dropped here.
    let name_part = |w: &Word<'_>| {
        let t = w.text;
        let bare = match t.find(['\'', '’']) {
            Some(i) if i <= 2 => &t[i + t[i..].chars().next().map_or(1, char::len_utf8)..],
            _ => t,
        };
        let capital_then_small = |word: &str| {
            let mut chars = word.chars();
            chars.next().is_some_and(char::is_uppercase) && chars.next().is_some_and(char::is_lowercase)
        };
        capital_then_small(bare) || capital_then_small(t)
    };
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        // An honorific and a capitalised word: `Herr Brandstätter`, `Dr. Okafor`.
        if w.text.chars().next().is_some_and(char::is_uppercase)
            && is_in(w, HONORIFICS)
            && let Some(next) = words.get(i + 1)
            && name_part(next)
            && text[w.end..next.start].trim_start_matches('.').trim().is_empty()
        {
            out.push((w.start, next.end));
            i += 2;
            continue;
        }
        if !name_part(w) || (w.opens_sentence && is_in(w, SENTENCE_OPENERS)) {
            i += 1;
            continue;
        }
        // The words of the name: capitalised, joined by single spaces, with particles between.
        let mut j = i + 1;
        let mut last = i;
        // Where the words after the last particle start, and how many there are: `Attest von
        // Markus Schneider` is a noun before a name, `Pieter van der Berg` one name.
        let (mut after_particle, mut since_particle) = (None, 0);
        while j < words.len() {
            let gap = &text[words[j - 1].end..words[j].start];
            if gap != " " {
                break;
            }
            if is_in(&words[j], HONORIFICS) {
                break;
            }
            if name_part(&words[j]) && !words[j].opens_sentence {
                last = j;
                if after_particle.is_some() {
                    since_particle += 1;
                }
                j += 1;
            } else if PARTICLES.contains(&words[j].text) {
                if j + 1 < words.len() && !PARTICLES.contains(&words[j + 1].text) {
                    after_particle = Some(j + 1);
                    since_particle = 0;
                }
                j += 1;
            } else {
                break;
            }
        }
        let first = match after_particle {
            Some(a) if since_particle >= 2 && a <= last => a,
            _ => i,
        };
        // `the United States`, `The Secret Garden`: nobody is called `the`.
        let after_the = first > 0
            && words[first - 1].text.eq_ignore_ascii_case("the")
            && &text[words[first - 1].end..words[first].start] == " ";
        let place_or_product = is_in(&words[first], PLACE_AND_PRODUCT_OPENERS)
            || is_in(&words[last], PLACE_AND_ORGANISATION_HEADS);
        if last > first && !after_the && !place_or_product {
            out.push((words[first].start, words[last].end));
            i = last + 1;
        } else {
            i += 1;
        }
    }
}

fn cjk_names(text: &str, out: &mut Vec<(usize, usize)>) {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (k, &(at, _)) in chars.iter().enumerate() {
        let rest = &text[at..];
        // A name before a Japanese honorific or a Chinese title: the kanji or katakana run
        // that ends here, at most six characters.
        // Chinese titles and roles are matched with traditional characters folded, as the
        // lexicon reads them (`陳經理` has the title `经理`).
        let folded_at = |from: usize, word: &str| {
            let mut n = 0;
            word.chars().all(|w| {
                n += 1;
                chars
                    .get(from + n - 1)
                    .is_some_and(|&(_, c)| crate::hanzi::simplified(c) == w)
            })
        };
        let title = JA_TITLES
            .iter()
            .find(|t| rest.starts_with(**t))
            .or_else(|| ZH_TITLES.iter().find(|t| folded_at(k, t)));
        if let Some(title) = title {
            let mut from = k;
            while from > 0 && k - from < 6 && (is_han(chars[from - 1].1) || is_katakana(chars[from - 1].1)) {
                from -= 1;
            }
            let run: String = chars[from..k].iter().map(|&(_, c)| c).collect();
            if from < k && !JA_GENERIC_BEFORE_TITLE.iter().any(|g| run.ends_with(g)) {
                let end = chars
                    .get(k + title.chars().count())
                    .map_or(text.len(), |&(i, _)| i);
                out.push((chars[from].0, end));
            }
            continue;
        }
        // A frequent surname, one or two more characters, then `的` or a title: `王伟的`.
        let (_, c) = chars[k];
        // After a role (`病人王丽华`), or a word that takes a person as its object (`把陳志明的`,
        // `查张伟的`).
        let after_role = ZH_ROLES.iter().any(|role| {
            let n = role.chars().count();
            k >= n && folded_at(k - n, role)
        }) || (k > 0
            && "把给給向跟和与與替帮幫让讓叫问問找查请請对對".contains(chars[k - 1].1));
        if ZH_SURNAMES.contains(crate::hanzi::simplified(c))
            && (k == 0 || !is_han(chars[k - 1].1) || chars[k - 1].1 == '的' || after_role)
        {
            for len in [2usize, 3] {
                let Some(&(after, next)) = chars.get(k + len) else {
                    break;
                };
                if (1..len).all(|n| is_han(chars[k + n].1)) && (next == '的' || next == '是') {
                    out.push((at, after));
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<&str> {
        crate::detectors::found_by(person_names, text)
    }

    #[test]
    fn names_are_found() {
        assert_eq!(
            names("Welche Diagnose steht im Attest von Markus Schneider?"),
            vec!["Markus Schneider"]
        );
        assert_eq!(
            names("Quel est le diagnostic d'Héloïse Vasseur ?"),
            vec!["d'Héloïse Vasseur"]
        );
        assert_eq!(
            names("Met welke ziekte zit Pieter van der Berg thuis?"),
            vec!["Pieter van der Berg"]
        );
        assert_eq!(names("Bernard Giraud est-il malade ?"), vec!["Bernard Giraud"]);
        assert_eq!(names("Ask Dr. Okafor about it"), vec!["Dr. Okafor"]);
        assert_eq!(names("中村由美さんの診断書"), vec!["中村由美さん"]);
        assert!(names("ご搭乗のお客様は、搭乗券とパスポートをご用意ください").is_empty());
        assert!(names("ご担当者様、患者様の診断書をお送りください").is_empty());
        assert_eq!(names("王伟的病假是什么原因"), vec!["王伟"]);
        assert_eq!(names("查一下病人王丽华的病历"), vec!["王丽华"]);
        assert_eq!(names("請把陳志明的病歷寄給我"), vec!["陳志明"]);
        assert_eq!(names("查一下員工李明的薪資"), vec!["李明"]);
        assert_eq!(names("Ask 張經理 about it"), vec!["張經理"]);
    }

    #[test]
    fn ordinary_capitals_are_not_names() {
        assert!(names("Welche Diagnose steht im Attest?").is_empty());
        assert!(names("The report is due. Please send it to the API team.").is_empty());
        assert!(names("What is a diagnosis?").is_empty());
        assert!(names("What is payroll tax in the United States?").is_empty());
        assert!(names("Summarise The Secret Garden for me").is_empty());
        assert!(names("Give Pablo access in Google Workspace").is_empty());
        assert!(names("本周的会议").is_empty());
    }
}
