//! The gateway's layout, checked: the folders the architecture names exist, and no two
//! top-level modules depend on each other, directly or through others.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to: `governance/dlp.rs` is `governance`.
fn module_of(file: &Path) -> String {
    let relative = file.strip_prefix(src()).unwrap();
    let first = relative
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The top-level modules `text` names through `crate::`, in paths and `use crate::{...}`.
fn uses(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c}`: the first segment of each item at depth one.
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_ascii_alphabetic() || c == '_') => {
                        out.insert(ident(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out
}

#[test]
fn the_folders_show_the_architecture() {
    for dir in ["governance", "surfaces", "api", "upstream", "config"] {
        assert!(src().join(dir).is_dir(), "src/{dir}/ is missing");
    }
    assert!(src().join("router.rs").is_file());
    for surface in ["chat_completions", "responses", "tools_invoke", "tool_hook"] {
        assert!(
            src().join("surfaces").join(format!("{surface}.rs")).is_file(),
            "{surface}"
        );
    }
}

#[test]
fn no_module_depends_on_itself_through_others() {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let modules: BTreeSet<String> = all.iter().map(|f| module_of(f)).filter(|m| m != "lib").collect();
    for file in &all {
        let from = module_of(file);
        if from == "lib" {
            continue;
        }
        // Comments may name modules; only code depends on them.
        let text: String = std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let edges = graph.entry(from.clone()).or_default();
        for to in uses(&text) {
            if to != from && modules.contains(&to) {
                edges.insert(to);
            }
        }
    }
    // Depth-first search for a cycle, reporting the path that closes it.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        if let Some(cycle) = visit(module, &graph, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}\nedges: {graph:#?}", cycle.join(" -> "));
        }
    }
    // The core knows no surface, no route and no upstream client.
    for low in ["governance"] {
        for high in [
            "surfaces", "router", "api", "upstream", "state", "server", "listener",
        ] {
            assert!(
                !graph[low].contains(high),
                "{low} depends on {high}: {:?}",
                graph[low]
            );
        }
    }
}

#[test]
fn the_use_scanner_reads_groups_and_paths() {
    let found = uses("use crate::{auth::Principal, error::ApiError};\nlet x = crate::config::fold(y);");
    assert_eq!(
        found,
        ["auth", "config", "error"]
            .into_iter()
            .map(String::from)
            .collect()
    );
}
