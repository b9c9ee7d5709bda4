//! Properties that must hold for every input, checked on many generated ones: normalizing is
//! idempotent, nothing panics, and every span lies within the original text on character
//! boundaries. Inputs mix the characters the normalizer treats specially (invisibles,
//! look-alikes, full-width and leet characters, combining marks, separators) with plain text.

use warden_policy::{Normalized, Policy};

/// A small deterministic generator (xorshift64*): the same cases on every run.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const ALPHABET: &[&str] = &[
    "a",
    "e",
    "o",
    "s",
    "d",
    "l",
    "t",
    "p",
    "w",
    "r",
    "i",
    "n",
    " ",
    " ",
    ".",
    "-",
    "_",
    "!",
    "?",
    ",",
    "\n",
    "0",
    "1",
    "3",
    "4",
    "5",
    "7",
    "@",
    "$",
    "|",
    "+",
    "\u{200B}",
    "\u{200D}",
    "\u{FEFF}",
    "\u{00AD}",
    "\u{0301}",
    "\u{0308}",
    "е",
    "о",
    "р",
    "а",
    "ο",
    "ρ",
    "ｄ",
    "Ｅ",
    "ﬁ",
    "İ",
    "ß",
    "Å",
    "ǅ",
    "𝐝",
    "😀",
    "\u{E0041}",
    "ꙮ",
    "delete",
    "sudo",
    "password",
    "wire",
    "$500",
    "4111 1111 1111 1111",
    "AKIA",
    "rm -rf /",
    "DROP TABLE x;",
    "what is",
    "how does",
    "then",
    "'s",
    "e-mail",
    "d.e.l.e.t.e",
];

fn sample(g: &mut Gen) -> String {
    let len = g.below(40);
    (0..len).map(|_| ALPHABET[g.below(ALPHABET.len())]).collect()
}

#[test]
fn normalizing_twice_equals_normalizing_once() {
    let mut g = Gen(0x5EED_0001);
    for _ in 0..20_000 {
        let text = sample(&mut g);
        let once = Normalized::new(&text);
        let twice = Normalized::new(once.as_str());
        assert_eq!(once.as_str(), twice.as_str(), "input {text:?}");
    }
}

#[test]
fn normalized_ranges_map_inside_the_original() {
    let mut g = Gen(0x5EED_0002);
    for _ in 0..20_000 {
        let text = sample(&mut g);
        let n = Normalized::new(&text);
        let len = n.as_str().len();
        if len == 0 {
            continue;
        }
        let a = g.below(len);
        let b = a + 1 + g.below(len - a);
        let (s, e) = n.original_range(a, b);
        assert!(s <= e && e <= text.len(), "{text:?} {a}..{b} -> {s}..{e}");
        assert!(
            text.is_char_boundary(s) && text.is_char_boundary(e),
            "{text:?} {s}..{e}"
        );
    }
}

#[test]
fn evaluation_never_panics_and_spans_lie_in_the_text() {
    let policy = Policy::default_pack().unwrap_or_else(|e| panic!("{e}"));
    let mut g = Gen(0x5EED_0003);
    for _ in 0..20_000 {
        let text = sample(&mut g);
        let d = policy.evaluate(&text);
        assert!((0.0..=1.0).contains(&d.confidence));
        for m in d.rules.iter().chain(&d.suppressed) {
            for s in &m.spans {
                assert!(s.start <= s.end && s.end <= text.len(), "{text:?}: {s:?}");
                // Secrets and personal data are reported by detector name, never by value.
                let masked = s.text.starts_with('[')
                    && s.text.ends_with(']')
                    && !text[s.start..s.end].contains(&s.text);
                assert!(masked || text[s.start..s.end] == s.text, "{text:?}: {s:?}");
            }
        }
    }
}

#[test]
fn arbitrary_bundles_are_refused_or_loaded_never_panic() {
    let mut g = Gen(0x5EED_0004);
    let pieces = [
        "[policy]\nname = \"x\"\n",
        "[[rule]]\n",
        "id = \"r\"\n",
        "tier = \"red\"\n",
        "tier = \"green\"\n",
        "category = \"c\"\n",
        "terms = [\"a b\"]\n",
        "terms = []\n",
        "reason = \"r\"\n",
        "near = [{ words = [\"@ssn\"], with = [\"x\"] }]\n",
        "patterns = [\"(\"]\n",
        "patterns = [\"a+\"]\n",
        "detectors = [\"iban\"]\n",
        "gap = 99\n",
        "confidence = 2.0\n",
        "unless = [\"\"]\n",
        "scope = { roles = [\"admin\"] }\n",
        "=\n",
        "\"",
        "[green]\nconfidence = 0.5\n",
    ];
    for _ in 0..3_000 {
        let n = g.below(12);
        let source: String = (0..n).map(|_| pieces[g.below(pieces.len())]).collect();
        if let Ok(policy) = Policy::from_toml(&source, "generated.toml") {
            let _ = policy.evaluate("please delete the wire transfer password 4111 1111 1111 1111");
        }
    }
}

/// Command-line syntax the analyser reads, mixed with the characters above.
const SHELL: &[&str] = &[
    "'",
    "\"",
    "\\",
    "$",
    "$(",
    ")",
    "`",
    "|",
    "&&",
    ";",
    ">",
    "<<",
    "EOF",
    "\n",
    " ",
    "\u{3000}",
    "=",
    ":",
    "-",
    "--password=",
    "sh -c ",
    "eval ",
    "base64 -d",
    "echo ",
    "rm -rf ",
    "/",
    "~/.ssh/id_rsa",
    "*",
    "?",
    "powershell -enc ",
    "IEX ",
    "-f ",
    "{0}",
    "python -c ",
    "find . -exec ",
    "{}",
    "password is ",
    "é",
    "密码",
    "パスワードは",
    "DB_PASSWORD: ",
    "define('X_SECRET', '",
    "Authorization: Bearer ",
    "curl -T ",
    "https://",
];

#[test]
fn tool_calls_and_data_loss_prevention_never_panic() {
    let policy = Policy::default_pack().unwrap_or_else(|e| panic!("{e}"));
    let mut g = Gen(0x5EED_0005);
    let tools = [
        "exec",
        "process",
        "write",
        "browser",
        "gateway",
        "apply_patch",
        "cron",
        "notes",
    ];
    for _ in 0..20_000 {
        let len = g.below(30);
        let text: String = (0..len)
            .map(|_| {
                if g.below(2) == 0 {
                    SHELL[g.below(SHELL.len())]
                } else {
                    ALPHABET[g.below(ALPHABET.len())]
                }
            })
            .collect();
        let tool = tools[g.below(tools.len())];
        let args = serde_json::json!({"command": text, "data": text, "path": text, "content": text,
                                      "action": "act", "raw": text, "input": text, "job": {"payload": text}});
        let context = warden_policy::Context {
            tool: Some(tool),
            ..Default::default()
        };
        let _ = policy.judge_tool_call(tool, &args, &context);
        for f in policy.dlp_findings(&text) {
            assert!(f.start <= f.end && f.end <= text.len(), "{text:?}: {f:?}");
            assert!(
                text.is_char_boundary(f.start) && text.is_char_boundary(f.end),
                "{text:?}: {f:?}"
            );
        }
    }
}
