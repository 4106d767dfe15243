//! The layout keeps data flowing one way: no file of `src/` imports (`use crate::…`), directly
//! or through others, a file that imports it back. Unit tests (`#[cfg(test)] mod tests`) are
//! left out: a test may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.split_whitespace().collect();
    let Some(open) = tree.find('{') else { return vec![tree] };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts.into_iter().filter(|p| !p.is_empty()).flat_map(|p| expand(&format!("{prefix}{p}"))).collect()
}

/// What a file re-exports from its child modules: item name → the child's path segments
/// (`pub use channel::Channel;` in `domain/mod.rs` gives `Channel` → `domain::channel`).
fn reexports(code: &str, module: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut found = BTreeMap::new();
    for statement in code.split("pub use ").skip(1) {
        let tree = statement.split(';').next().unwrap();
        if tree.starts_with("crate::") || tree.starts_with("super::") {
            continue;
        }
        for path in expand(tree) {
            let (path, alias) = path.split_once(" as ").map_or((path.as_str(), None), |(p, a)| (p, Some(a)));
            let segments: Vec<&str> = path.split("::").collect();
            let (item, child) = segments.split_last().unwrap();
            let name = alias.unwrap_or(item).to_string();
            found.insert(name, module.iter().cloned().chain(child.iter().map(|s| s.to_string())).collect());
        }
    }
    found
}

/// The code of a file without its unit tests and comments (docs name modules freely).
fn code_of(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    code.lines().map(|line| line.split("//").next().unwrap()).collect::<Vec<_>>().join("\n")
}

/// The file that defines what `path` (after `crate::`) names: the longest prefix that is a
/// module file, then through that module's `pub use` re-exports to the child that defines it.
fn defining_file(src: &Path, path: &str) -> Option<PathBuf> {
    let segments: Vec<String> = path
        .split(" as ")
        .next()
        .unwrap()
        .split("::")
        .filter(|s| *s != "self" && !s.is_empty())
        .map(str::to_string)
        .collect();
    let (n, file) = (1..=segments.len()).rev().find_map(|n| {
        let base = segments[..n].iter().fold(src.to_path_buf(), |p, s| p.join(s));
        [base.with_extension("rs"), base.join("mod.rs")].into_iter().find(|f| f.exists()).map(|f| (n, f))
    })?;
    if let Some(item) = segments.get(n) {
        if let Some(child) = reexports(&code_of(&file), &segments[..n]).get(item) {
            let mut deeper = child.join("::");
            deeper.push_str("::");
            deeper.push_str(item);
            if child.len() > n {
                return defining_file(src, &deeper);
            }
        }
    }
    Some(file)
}

/// Every `crate::` path a file's code names (in `use` statements and inline), expanded.
fn crate_paths(code: &str) -> Vec<String> {
    code.split("crate::")
        .skip(1)
        .flat_map(|rest| {
            let end = rest
                .char_indices()
                .scan(0i32, |depth, (i, c)| {
                    match c {
                        '{' => *depth += 1,
                        '}' if *depth > 0 => *depth -= 1,
                        _ if *depth == 0 && !(c.is_alphanumeric() || c == '_' || c == ':') => return None,
                        _ => {}
                    }
                    Some(i + c.len_utf8())
                })
                .last()
                .unwrap_or(0);
            expand(&rest[..end])
        })
        .collect()
}

fn import_graph(src: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph = BTreeMap::new();
    for file in files {
        let imports = crate_paths(&code_of(&file))
            .into_iter()
            .filter_map(|path| defining_file(src, &path))
            .filter(|target| *target != file)
            .collect();
        graph.insert(file, imports);
    }
    graph
}

/// The same graph between the top-level modules of `src/` (`domain`, `input`, `pipeline`…).
fn module_graph(src: &Path, files: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let top = |file: &Path| {
        let first = file.strip_prefix(src).unwrap().components().next().unwrap().as_os_str().to_owned();
        PathBuf::from(first.to_string_lossy().trim_end_matches(".rs"))
    };
    let mut graph: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for (file, imports) in files {
        let from = top(file);
        let targets = imports.iter().map(|t| top(t)).filter(|t| *t != from).collect::<Vec<_>>();
        graph.entry(from).or_default().extend(targets);
    }
    graph
}

/// A cycle through `start`, if there is one.
fn cycle_from(graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>, start: &Path) -> Option<Vec<PathBuf>> {
    let mut stack = vec![(start.to_path_buf(), vec![start.to_path_buf()])];
    let mut seen = BTreeSet::new();
    while let Some((file, path)) = stack.pop() {
        for next in graph.get(&file).into_iter().flatten() {
            if next == start {
                return Some([path.clone(), vec![next.clone()]].concat());
            }
            if seen.insert(next.clone()) {
                stack.push((next.clone(), [path.clone(), vec![next.clone()]].concat()));
            }
        }
    }
    None
}

#[test]
fn the_files_of_src_import_each_other_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = import_graph(&src);
    assert!(graph.len() > 40, "the scan found only {} files", graph.len());
    let edges: usize = graph.values().map(BTreeSet::len).sum();
    assert!(edges > 40, "the scan found only {edges} imports");
    for file in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, file) {
            let names: Vec<String> =
                cycle.iter().map(|f| f.strip_prefix(&src).unwrap().display().to_string()).collect();
            panic!("import cycle: {}", names.join(" → "));
        }
    }
}

/// Stricter than files: no top-level module reaches back into one that reaches it.
#[test]
fn the_top_level_modules_depend_on_each_other_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = module_graph(&src, &import_graph(&src));
    for module in modules.keys() {
        if let Some(cycle) = cycle_from(&modules, module) {
            let names: Vec<String> = cycle.iter().map(|m| m.display().to_string()).collect();
            panic!("modules in a cycle: {}", names.join(" → "));
        }
    }
}

#[test]
fn the_scan_sees_a_cycle_when_there_is_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("b")).unwrap();
    std::fs::write(dir.path().join("a.rs"), "use crate::b::{Thing, self};\nfn f() { crate::d::g(); }\n").unwrap();
    std::fs::write(dir.path().join("b/mod.rs"), "mod c;\npub use c::Thing;\n").unwrap();
    std::fs::write(dir.path().join("b/c.rs"), "use crate::a::f;\n#[cfg(test)]\nmod tests { use crate::b; }\n").unwrap();
    std::fs::write(dir.path().join("d.rs"), "pub fn g() {}\n").unwrap();
    let graph = import_graph(dir.path());
    // a → b::Thing, re-exported from b/c.rs → a: a cycle through a re-export.
    assert!(cycle_from(&graph, &dir.path().join("a.rs")).is_some());
    assert!(graph[&dir.path().join("a.rs")].contains(&dir.path().join("d.rs")), "inline paths count");
    assert!(cycle_from(&graph, &dir.path().join("d.rs")).is_none());
    assert!(cycle_from(&module_graph(dir.path(), &graph), Path::new("b")).is_some());
}
