//! Requests in the languages people write: the language of a text is detected (`whatlang`),
//! and its words are mapped onto the English words the rules are written in, from a lexicon
//! per language (`policies/languages/*.toml`). Scripts without spaces (Chinese, Japanese) are
//! segmented by the longest lexicon entry. The rules stay one set, in English.

use rustc_hash::FxHashMap;
use serde::Deserialize;

use crate::normalize::Normalized;

/// Separable particles that are also prepositions (`over`, `door`, `aus`, `um`).
const PREPOSITION_PARTICLES: &[&str] = &[
    "over", "door", "om", "uit", "op", "aan", "af", "um", "uber", "durch", "aus", "an", "auf", "ab",
];

/// Words that open a noun phrase after a preposition, in the languages with separable verbs.
const DETERMINERS: &[&str] = &[
    "de", "het", "een", "die", "dat", "deze", "dit", "mijn", "onze", "ons", "zijn", "haar", "hun", "uw",
    "jouw", "der", "das", "den", "dem", "des", "ein", "eine", "einen", "einem", "einer", "mein", "meine",
    "unser", "unsere", "sein", "seine", "ihr", "ihre",
];

/// The lexicons shipped with the default pack.
pub(crate) const BUILTIN: &[(&str, &str)] = &[
    ("fr", include_str!("../../../policies/languages/fr.toml")),
    ("de", include_str!("../../../policies/languages/de.toml")),
    ("es", include_str!("../../../policies/languages/es.toml")),
    ("pt", include_str!("../../../policies/languages/pt.toml")),
    ("it", include_str!("../../../policies/languages/it.toml")),
    ("nl", include_str!("../../../policies/languages/nl.toml")),
    ("zh", include_str!("../../../policies/languages/zh.toml")),
    ("ja", include_str!("../../../policies/languages/ja.toml")),
];

#[derive(Deserialize)]
struct LexiconFile {
    language: String,
    #[serde(default)]
    words: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    stems: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    phrases: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    questions: std::collections::BTreeMap<String, String>,
    /// Verbs whose particle goes to the end of the clause (`werk … bij`, `füg … hinzu`).
    #[serde(default)]
    separable: std::collections::BTreeMap<String, String>,
}

/// Several words of a language and the English words they stand for.
type Phrase = (Vec<String>, Vec<String>);

/// One language's mapping onto English words.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lexicon {
    pub code: String,
    /// Whether the script has no spaces: words are found by segmentation.
    pub unspaced: bool,
    /// Whether compounds are written as one word (German, Dutch): an unknown word is read by
    /// its last part.
    compounds: bool,
    /// Pronouns written onto the end of a verb (Spanish `bórralo`, `mándame`; Italian
    /// `cancellalo`, `inviami`), longest first: an unknown word is read by the verb before them.
    clitics: &'static [&'static str],
    /// Whether words are looked up with traditional characters folded to simplified ones
    /// (Chinese, whose lexicon is written in Simplified Chinese).
    folds_traditional: bool,
    words: FxHashMap<String, Vec<String>>,
    /// Prefixes, longest first.
    stems: Vec<(String, Vec<String>)>,
    /// Phrases by their first word.
    phrases: FxHashMap<String, Vec<Phrase>>,
    /// Words and phrases that ask a question when they open one (`que` -> `what`, `como se`
    /// -> `how be`), longest first: elsewhere they are other words (`que` is also `that`).
    questions: Vec<Phrase>,
    longest_word_chars: usize,
    /// Separable verbs by their verb: the particle that completes them later in the clause
    /// (`Werk de contactpersoon … bij`), and their English.
    separable: FxHashMap<String, Vec<(String, Vec<String>)>>,
    /// Long words, for their misspellings (`Passwrot` is read as `Passwort`), valued by
    /// their English in `typo_english`.
    typos: crate::words::TypoIndex,
    /// The English of long words, once each: two words with the same English are not an
    /// ambiguity.
    typo_english: Vec<Vec<String>>,
}

/// Spanish pronouns that follow a verb as part of it, longest first: `dámelo`, `bórralo`.
const SPANISH_CLITICS: &[&str] = &[
    "selos", "selas", "melos", "melas", "noslos", "selo", "sela", "melo", "mela", "telo", "tela", "nos",
    "les", "los", "las", "me", "te", "le", "lo", "la",
];

/// Italian pronouns that follow a verb as part of it, longest first: `mandaglielo`, `inviami`.
const ITALIAN_CLITICS: &[&str] = &[
    "glielo", "gliela", "glieli", "gliele", "melo", "mela", "gli", "mi", "ti", "ci", "vi", "lo", "la", "li",
    "le", "ne",
];

/// The shortest word whose misspellings are read as it: shorter ones are too often another
/// word of the language one letter away (`Konten`, `Kosten`).
const MIN_TYPO_WORD: usize = 7;

/// A word as the tokenizer sees it: normalized (case, accents, width), one run of letters.
fn folded_words(text: &str) -> Vec<String> {
    Normalized::new(text)
        .as_str()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

impl Lexicon {
    fn parse(source: &str, origin: &str) -> Result<Lexicon, String> {
        let file: LexiconFile = toml::from_str(source).map_err(|e| format!("{origin}: {e}"))?;
        let unspaced = matches!(file.language.as_str(), "zh" | "ja");
        let english = |v: &str| v.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>();
        let mut lexicon = Lexicon {
            code: file.language.clone(),
            unspaced,
            compounds: matches!(file.language.as_str(), "de" | "nl"),
            clitics: match file.language.as_str() {
                "es" => SPANISH_CLITICS,
                "it" => ITALIAN_CLITICS,
                _ => &[],
            },
            folds_traditional: file.language == "zh",
            ..Lexicon::default()
        };
        for (word, value) in &file.words {
            let key = if unspaced {
                Normalized::new(word).as_str().to_string()
            } else {
                folded_words(word).join(" ")
            };
            if key.is_empty() {
                continue;
            }
            if !unspaced && key.contains(' ') {
                // A "word" of several words is a phrase.
                let words: Vec<String> = key.split(' ').map(str::to_string).collect();
                lexicon
                    .phrases
                    .entry(words[0].clone())
                    .or_default()
                    .push((words, english(value)));
                continue;
            }
            lexicon.longest_word_chars = lexicon.longest_word_chars.max(key.chars().count());
            lexicon.words.insert(key, english(value));
        }
        for (stem, value) in &file.stems {
            let key = folded_words(stem).join("");
            if key.chars().count() >= 4 {
                lexicon.stems.push((key, english(value)));
            }
        }
        lexicon.stems.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        let mut english_index: FxHashMap<&Vec<String>, u32> = FxHashMap::default();
        for (word, english) in &lexicon.words {
            if word.is_ascii() && word.len() >= MIN_TYPO_WORD {
                let next = english_index.len() as u32;
                let index = *english_index.entry(english).or_insert(next);
                lexicon.typos.file(word, index);
            }
        }
        let mut typo_english = vec![Vec::new(); english_index.len()];
        for (english, index) in english_index {
            typo_english[index as usize] = english.clone();
        }
        lexicon.typo_english = typo_english;
        for (verb, value) in &file.separable {
            let words = folded_words(verb);
            let [verb, particle] = words.as_slice() else {
                return Err(format!(
                    "{origin}: separable verb `{verb}` must be a verb and its particle"
                ));
            };
            lexicon
                .separable
                .entry(verb.clone())
                .or_default()
                .push((particle.clone(), english(value)));
        }
        for (phrase, value) in &file.phrases {
            let words = folded_words(phrase);
            if let Some(first) = words.first().cloned() {
                lexicon
                    .phrases
                    .entry(first)
                    .or_default()
                    .push((words, english(value)));
            }
        }
        for (phrase, value) in &file.questions {
            let words = folded_words(phrase);
            if !words.is_empty() {
                lexicon.questions.push((words, english(value)));
            }
        }
        lexicon.questions.sort_by_key(|(w, _)| std::cmp::Reverse(w.len()));
        for list in lexicon.phrases.values_mut() {
            list.sort_by_key(|(w, _)| std::cmp::Reverse(w.len()));
        }
        Ok(lexicon)
    }

    /// Whether some phrase of the lexicon starts with `word`.
    pub fn opens_phrase(&self, word: &str) -> bool {
        self.phrases.contains_key(word)
    }

    /// The English for the phrase starting at `words[0]`, and how many words it covers.
    pub fn phrase(&self, words: &[&str]) -> Option<(usize, &[String])> {
        let first = words.first()?;
        for (phrase, english) in self.phrases.get(*first)? {
            if phrase.len() <= words.len() && phrase.iter().zip(words).all(|(a, b)| a == b) {
                return Some((phrase.len(), english));
            }
        }
        None
    }

    /// The English of a separable verb at `words[0]` whose particle stands later in `words`
    /// (the rest of its clause): `werk de contactpersoon bij` is `update`, and so is `voeg een
    /// regel toe aan het overzicht`, where the clause goes on past the particle.
    ///
    /// A particle that is also a preposition counts only where no noun phrase follows it:
    /// `maak €6.750 over naar Van Dijk` transfers money, `maak een rapport over de verkoop`
    /// writes about sales.
    pub fn separable(&self, words: &[&str]) -> Option<&[String]> {
        let (verb, rest) = words.split_first()?;
        let stands_as_particle = |particle: &str| {
            rest.iter().enumerate().any(|(at, w)| {
                *w == particle
                    && !(PREPOSITION_PARTICLES.contains(&particle)
                        && rest.get(at + 1).is_some_and(|next| DETERMINERS.contains(next)))
            })
        };
        self.separable
            .get(*verb)?
            .iter()
            .find(|(particle, _)| stands_as_particle(particle))
            .map(|(_, english)| english.as_slice())
    }

    /// Whether the language has separable verbs at all.
    pub fn has_separable_verbs(&self) -> bool {
        !self.separable.is_empty()
    }

    /// The English for the question word or phrase at `words[0]`, and how many words it covers.
    pub fn question_word(&self, words: &[&str]) -> Option<(usize, &[String])> {
        self.questions
            .iter()
            .find(|(q, _)| q.len() <= words.len() && q.iter().zip(words).all(|(a, b)| a == b))
            .map(|(q, english)| (q.len(), english.as_slice()))
    }

    /// The English for one word: the word itself, its longest stem, or (in languages that
    /// write compounds as one word) its longest known last part, after the English of its
    /// first part when that is a word too.
    pub fn word(&self, word: &str) -> Option<std::borrow::Cow<'_, [String]>> {
        use std::borrow::Cow;
        if let Some(e) = self.words.get(word) {
            return Some(Cow::Borrowed(e));
        }
        let stem = self
            .stems
            .iter()
            .find(|(stem, _)| word.len() > stem.len() && word.starts_with(stem.as_str()) || word == stem)
            .map(|(_, e)| Cow::Borrowed(e.as_slice()));
        if stem.is_some() {
            return stem;
        }
        let compound = if self.compounds { self.compound(word) } else { None };
        compound
            .or_else(|| self.with_clitics(word).map(Cow::Borrowed))
            .or_else(|| self.misspelt(word).map(Cow::Borrowed))
    }

    /// The English of a verb with pronouns written onto its end (`ponme`, `borrala`,
    /// `mandagli`): the verb is a word of the lexicon, and it ends as an imperative or an
    /// infinitive does, so that a noun that merely ends in `-la` or `-te` is not cut.
    fn with_clitics(&self, word: &str) -> Option<&[String]> {
        self.clitics.iter().find_map(|clitic| {
            let verb = word.strip_suffix(clitic)?;
            let verb_like = verb.len() >= 2 && verb.ends_with(['a', 'e', 'i', 'r', 'n']);
            verb_like
                .then(|| self.words.get(verb))
                .flatten()
                .map(Vec::as_slice)
        })
    }

    /// The English of the one long word `word` is a one-edit misspelling of, unless it is as
    /// close to two.
    fn misspelt(&self, word: &str) -> Option<&[String]> {
        let b = word.as_bytes();
        if !word.is_ascii() || b.len() + 1 < MIN_TYPO_WORD {
            return None;
        }
        let index = self.typos.lookup(b)?;
        self.typo_english.get(index as usize).map(Vec::as_slice)
    }

    /// A German or Dutch compound read by its head.
    fn compound(&self, word: &str) -> Option<std::borrow::Cow<'_, [String]>> {
        use std::borrow::Cow;
        // `Rahmenvertrag` is a kind of `Vertrag`, `beveiligingsbeleid` a kind of `beleid`: the
        // head of a German or Dutch compound is its last part. At least three letters before
        // it and five in it, so that short words do not turn up inside long ones. The first
        // part is kept when it is a word of its own (`Kundenliste` is `customer list`), with
        // the joining `s`, `n` or `en` left off.
        let chars: Vec<usize> = word.char_indices().map(|(i, _)| i).collect();
        let (cut, head) = (3..chars.len().saturating_sub(4))
            .find_map(|c| self.words.get(&word[chars[c]..]).map(|e| (chars[c], e)))?;
        let first = &word[..cut];
        let modifier = [
            first,
            first.strip_suffix('s').unwrap_or(""),
            first.strip_suffix("en").unwrap_or(""),
            first.strip_suffix('n').unwrap_or(""),
        ]
        .into_iter()
        .filter(|f| f.len() >= 3)
        .find_map(|f| self.words.get(f));
        // A first part the lexicon does not know may be an English loanword (`budgetaanvraag`,
        // `Backupserver`): kept as it is, for the English rules to read.
        Some(match modifier {
            Some(m) => Cow::Owned(m.iter().chain(head).cloned().collect()),
            None if first.len() >= 4 && first.is_ascii() => Cow::Owned(
                std::iter::once(first.to_string())
                    .chain(head.iter().cloned())
                    .collect(),
            ),
            None => Cow::Borrowed(head),
        })
    }

    /// Splits a run of an unspaced script into lexicon words (longest match first) and the
    /// runs between them: (byte range within `run`, English if known).
    pub fn segment<'a>(&'a self, run: &str) -> Vec<(usize, usize, Option<&'a [String]>)> {
        let chars: Vec<(usize, char)> = run.char_indices().collect();
        // Traditional characters are looked up by their simplified forms, one character for
        // one, so the folded copy's character offsets are the run's.
        let folded: Option<(String, Vec<usize>)> = self.folds_traditional.then(|| {
            let mut text = String::with_capacity(run.len());
            let mut offsets = Vec::with_capacity(chars.len() + 1);
            for &(_, c) in &chars {
                offsets.push(text.len());
                text.push(crate::hanzi::simplified(c));
            }
            offsets.push(text.len());
            (text, offsets)
        });
        let mut out = Vec::new();
        let mut i = 0;
        let mut unknown_from: Option<usize> = None;
        while i < chars.len() {
            let mut matched = None;
            let longest = self.longest_word_chars.min(chars.len() - i);
            for n in (1..=longest).rev() {
                let start = chars[i].0;
                let end = chars.get(i + n).map_or(run.len(), |c| c.0);
                let key = match &folded {
                    Some((text, offsets)) => &text[offsets[i]..offsets[i + n]],
                    None => &run[start..end],
                };
                if let Some(e) = self.words.get(key) {
                    matched = Some((n, start, end, e.as_slice()));
                    break;
                }
            }
            match matched {
                Some((n, start, end, english)) => {
                    if let Some(u) = unknown_from.take() {
                        out.push((u, start, None));
                    }
                    out.push((start, end, Some(english)));
                    i += n;
                }
                None => {
                    // Latin letters inside the script (`のapi`) are a word of their own.
                    if let Some(u) = unknown_from
                        && i > 0
                        && chars[i - 1].1.is_ascii() != chars[i].1.is_ascii()
                    {
                        out.push((u, chars[i].0, None));
                        unknown_from = None;
                    }
                    unknown_from.get_or_insert(chars[i].0);
                    i += 1;
                }
            }
        }
        if let Some(u) = unknown_from {
            out.push((u, run.len(), None));
        }
        out
    }
}

/// The most frequent function words of each language Warden reads, folded (lower case, no
/// accents): what names the language of a short request.
const FUNCTION_WORDS: &[(&str, &[&str])] = &[
    (
        "fr",
        &[
            "le", "la", "les", "un", "une", "des", "du", "et", "est", "que", "qui", "pour", "dans", "sur",
            "avec", "pas", "ne", "je", "tu", "il", "elle", "nous", "vous", "ils", "au", "aux", "ce", "cette",
            "ces", "son", "sa", "ses", "mon", "ma", "mes", "leur", "votre", "notre", "nos", "vos", "quel",
            "quelle", "quels", "moi", "toi", "tous", "tout", "toutes", "plait", "peux", "pouvez", "mais",
            "donne", "depuis", "chez", "de", "vers", "avant", "apres", "sont", "aussi", "a", "fais", "fait",
            "stp", "svp", "aujourd",
        ],
    ),
    (
        "de",
        &[
            "der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "einem", "einer", "und", "ist",
            "nicht", "ich", "du", "er", "sie", "wir", "ihr", "mit", "fur", "auf", "von", "zu", "im", "bitte",
            "wie", "was", "welche", "welcher", "welches", "kannst", "konntest", "unser", "unsere", "unseren",
            "unserem", "mein", "meine", "meinen", "dass", "noch", "auch", "aus", "bei", "sich", "nach",
            "uber", "alle", "seit", "dem", "vom", "zum", "zur",
        ],
    ),
    (
        "es",
        &[
            "el", "los", "las", "unos", "unas", "y", "es", "que", "del", "en", "por", "para", "con", "su",
            "sus", "mi", "mis", "puedes", "podrias", "como", "cual", "al", "lo", "esta", "este", "estos",
            "hay", "todos", "todas", "pero", "dame", "dime", "una", "un", "la", "de", "desde", "hasta",
        ],
    ),
    (
        "pt",
        &[
            "o", "os", "um", "uma", "e", "que", "do", "da", "dos", "das", "em", "no", "na", "nos", "nas",
            "por", "para", "com", "nao", "seu", "sua", "meu", "minha", "voce", "qual", "como", "ao", "esta",
            "este", "isso", "todos", "todas", "pode", "mas", "ela", "ele", "de", "a",
        ],
    ),
    (
        "it",
        &[
            "il", "lo", "gli", "un", "una", "uno", "e", "che", "di", "del", "della", "dei", "degli", "nel",
            "nella", "per", "con", "non", "si", "suo", "sua", "mio", "mia", "puoi", "potresti", "quale",
            "come", "al", "questo", "questa", "tutti", "tutte", "ma", "sul", "sulla", "alla", "la", "le",
        ],
    ),
    (
        "nl",
        &[
            "de", "het", "een", "en", "is", "dat", "van", "op", "met", "voor", "niet", "ik", "je", "jij",
            "u", "wij", "zijn", "mijn", "onze", "ons", "kun", "kunt", "wat", "hoe", "welk", "welke", "naar",
            "bij", "ook", "er", "deze", "dit", "alle", "maar", "zodat", "om",
        ],
    ),
];

/// Each function word and the languages it belongs to, one bit per entry of `FUNCTION_WORDS`.
static FUNCTION_WORD_LANGUAGES: std::sync::LazyLock<FxHashMap<&'static str, u8>> =
    std::sync::LazyLock::new(|| {
        let mut map = FxHashMap::default();
        for (i, (_, words)) in FUNCTION_WORDS.iter().enumerate() {
            for word in *words {
                *map.entry(*word).or_insert(0u8) |= 1 << i;
            }
        }
        map
    });

/// Calls `each` with every run of letters of `text`, lower-cased and without accents (the form
/// `FUNCTION_WORDS` are written in), until it returns false.
pub(crate) fn folded_words_of(text: &str, mut each: impl FnMut(&str) -> bool) {
    let mut word = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_alphabetic() {
            word.extend(c.to_lowercase().map(fold_accent));
            continue;
        }
        if !word.is_empty() {
            let go_on = each(&word);
            word.clear();
            if !go_on {
                return;
            }
        }
    }
}

/// Whether `word` (lower case, accents folded) is one of the function words of a language
/// Warden reads other than English.
pub(crate) fn is_function_word(word: &str) -> bool {
    FUNCTION_WORD_LANGUAGES.contains_key(word)
}

/// A lower-case letter without its accent, for comparing with `FUNCTION_WORDS`.
fn fold_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ç' => 'c',
        'ñ' => 'n',
        other => other,
    }
}

/// Every language Warden reads besides English.
#[derive(Debug, Clone, Default)]
pub(crate) struct Languages {
    lexicons: Vec<Lexicon>,
}

impl Languages {
    /// The lexicons shipped with Warden, parsed once per process: every policy load (and
    /// reload) shares them.
    pub fn shared() -> Result<std::sync::Arc<Languages>, String> {
        static SHARED: std::sync::LazyLock<Result<std::sync::Arc<Languages>, String>> =
            std::sync::LazyLock::new(|| Languages::builtin().map(std::sync::Arc::new));
        SHARED.clone()
    }

    /// The lexicons shipped with Warden.
    pub fn builtin() -> Result<Languages, String> {
        let lexicons = BUILTIN
            .iter()
            .map(|(code, source)| Lexicon::parse(source, &format!("policies/languages/{code}.toml")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Languages { lexicons })
    }

    /// Of the first 64 words of `text` (two letters or more), how many are words of some
    /// lexicon, or one of their function words, and how many there are: whether a decoded
    /// text reads as a language Warden maps (`verwijder de map /data/archief`).
    pub fn known_words(&self, text: &str) -> (usize, usize) {
        let (mut words, mut known) = (0usize, 0usize);
        folded_words_of(text, |word| {
            if word.chars().nth(1).is_some() {
                words += 1;
                known += usize::from(
                    is_function_word(word) || self.lexicons.iter().any(|l| l.words.contains_key(word)),
                );
            }
            words < 64
        });
        (known, words)
    }

    /// The lexicon for the language `text` is written in, if it is one Warden maps (English
    /// needs none).
    pub fn for_text(&self, text: &str, english: crate::hidden::EnglishReading) -> Option<&Lexicon> {
        if self.lexicons.is_empty() {
            return None;
        }
        // Kana mean Japanese; Han without kana, Chinese. Cheaper and surer than statistics.
        let mut han = false;
        for c in text.chars().take(if text.is_ascii() { 0 } else { 1024 }) {
            match c {
                '\u{3040}'..='\u{30ff}' | '\u{31f0}'..='\u{31ff}' => return self.get("ja"),
                '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}' => han = true,
                _ => {}
            }
        }
        if han {
            return self.get("zh");
        }
        // Text full of words only English has is English: statistics on a short request can
        // take an English sentence for French, and its words would then be read as French ones.
        if english.distinctive >= 0.25 {
            return None;
        }
        // The first kilobyte says which language a request is in.
        let mut end = text.len().min(1024);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let sample = &text[..end];
        // Function words first: on a request of ten words, `der`, `für`, `unser` say German
        // more surely than letter statistics, which take short German for French and Dutch
        // for German or Portuguese.
        let (mut best, mut best_score, mut second) = (None, 0usize, 0usize);
        let mut scores = [0usize; FUNCTION_WORDS.len()];
        let lexicons: Vec<Option<&Lexicon>> = FUNCTION_WORDS.iter().map(|(code, _)| self.get(code)).collect();
        let mut words = 0usize;
        folded_words_of(sample, |word| {
            words += 1;
            // A function word counts twice; a word of the language's lexicon once, which
            // settles `la`, `de`, `que` shared by French and Spanish.
            let function = FUNCTION_WORD_LANGUAGES.get(word).copied().unwrap_or(0);
            for (i, lexicon) in lexicons.iter().enumerate() {
                scores[i] += 2 * usize::from(function & (1 << i) != 0)
                    + usize::from(lexicon.is_some_and(|l| l.words.contains_key(word)));
            }
            true
        });
        for (i, &score) in scores.iter().enumerate() {
            if score > best_score {
                second = best_score;
                best_score = score;
                best = Some(FUNCTION_WORDS[i].0);
            } else if score > second {
                second = score;
            }
        }
        let english_words = (english.distinctive * english.words as f64).round() as usize;
        if let Some(code) = best
            && best_score >= 4
            && best_score > second
            && best_score > 2 * english_words
        {
            return self.get(code);
        }
        if english.share >= 0.25 || 2 * english_words >= best_score.max(1) || words == 0 {
            return None;
        }
        use whatlang::Lang;
        static DETECTOR: std::sync::LazyLock<whatlang::Detector> = std::sync::LazyLock::new(|| {
            whatlang::Detector::with_allowlist(vec![
                Lang::Eng,
                Lang::Fra,
                Lang::Deu,
                Lang::Spa,
                Lang::Por,
                Lang::Ita,
                Lang::Nld,
            ])
        });
        let code = match DETECTOR.detect_lang(sample)? {
            Lang::Fra => "fr",
            Lang::Deu => "de",
            Lang::Spa => "es",
            Lang::Por => "pt",
            Lang::Ita => "it",
            Lang::Nld => "nl",
            _ => return None,
        };
        self.get(code)
    }

    fn get(&self, code: &str) -> Option<&Lexicon> {
        self.lexicons.iter().find(|l| l.code == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_lexicons_load_and_detect() {
        let languages = Languages::builtin().unwrap();
        assert_eq!(languages.lexicons.len(), BUILTIN.len());
        let code = |t: &str| {
            languages
                .for_text(t, crate::hidden::english_share(t))
                .map(|l| l.code.clone())
        };
        assert_eq!(
            code("Supprime toutes les sauvegardes de la base clients, s'il te plaît."),
            Some("fr".into())
        );
        assert_eq!(
            code("Bitte lösche alle Sicherungen der Kundendatenbank."),
            Some("de".into())
        );
        assert_eq!(code("请删除所有客户数据"), Some("zh".into()));
        assert_eq!(code("顧客データベースを削除してください"), Some("ja".into()));
        assert_eq!(code("Please delete every backup of the customer database."), None);
    }

    #[test]
    fn pronouns_written_onto_a_verb_leave_the_verb() {
        let languages = Languages::builtin().unwrap();
        let es = languages.get("es").unwrap();
        let it = languages.get("it").unwrap();
        let english = |l: &Lexicon, w: &str| l.word(w).map(|e| e.join(" "));
        assert_eq!(english(es, "mandame"), english(es, "manda"));
        assert!(english(es, "mandame").is_some());
        assert_eq!(english(it, "inviami"), english(it, "invia"));
        assert!(english(it, "inviami").is_some());
        // A word that merely ends as a pronoun does is not cut: `escuela` is no verb `escue`.
        assert_eq!(english(es, "escuela"), None);
    }

    #[test]
    fn long_words_are_read_through_one_typo() {
        let languages = Languages::builtin().unwrap();
        let de = languages.get("de").unwrap();
        let english = |w: &str| de.word(w).map(|e| e.join(" "));
        assert_eq!(english("passwrot"), english("passwort"));
        assert!(english("passwrot").is_some());
        // Short words are left alone: one letter turns too many into another word.
        assert_eq!(english("kontn"), None);
    }

    #[test]
    fn traditional_chinese_reads_through_the_simplified_lexicon() {
        let languages = Languages::builtin().unwrap();
        let zh = languages.get("zh").unwrap();
        let english: Vec<_> = zh
            .segment("刪除資料庫")
            .into_iter()
            .filter_map(|(_, _, e)| e.map(|e| e.join(" ")))
            .collect();
        assert_eq!(
            english.concat(),
            zh.segment("删除数据库")
                .into_iter()
                .filter_map(|(_, _, e)| e.map(|e| e.join(" ")))
                .collect::<Vec<_>>()
                .concat()
        );
    }

    #[test]
    fn a_particle_that_is_a_preposition_needs_no_noun_after_it() {
        let languages = Languages::builtin().unwrap();
        let nl = languages.get("nl").unwrap();
        assert!(
            nl.separable(&["maak", "vandaag", "6", "750", "over", "naar", "van", "dijk"])
                .is_some()
        );
        assert!(
            nl.separable(&["maak", "een", "rapport", "over", "de", "verkoop"])
                .is_none()
        );
    }

    #[test]
    fn unspaced_scripts_are_segmented() {
        let languages = Languages::builtin().unwrap();
        let zh = languages.get("zh").unwrap();
        let parts = zh.segment("删除数据库");
        assert!(
            parts
                .iter()
                .any(|(_, _, e)| e.is_some_and(|e| e.iter().any(|w| w == "delete"))),
            "{parts:?}"
        );
    }
}
