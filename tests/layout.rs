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

/// The file a `crate::` path lives in: the longest prefix that names a module file.
fn module_file(src: &Path, path: &str) -> Option<PathBuf> {
    let segments: Vec<&str> = path.split(" as ").next().unwrap().split("::").filter(|s| *s != "self").collect();
    (1..=segments.len()).rev().find_map(|n| {
        let base = segments[..n].iter().fold(src.to_path_buf(), |p, s| p.join(s));
        [base.with_extension("rs"), base.join("mod.rs")].into_iter().find(|f| f.exists())
    })
}

fn import_graph(src: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
        let mut imports = BTreeSet::new();
        for statement in code.split("use crate::").skip(1) {
            let tree = statement.split(';').next().unwrap();
            for path in expand(tree) {
                if let Some(target) = module_file(src, &path).filter(|t| *t != file) {
                    imports.insert(target);
                }
            }
        }
        graph.insert(file, imports);
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

#[test]
fn the_scan_sees_a_cycle_when_there_is_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("b")).unwrap();
    std::fs::write(dir.path().join("a.rs"), "use crate::b::{c::Thing, self};\n").unwrap();
    std::fs::write(dir.path().join("b/mod.rs"), "pub mod c;\n").unwrap();
    std::fs::write(dir.path().join("b/c.rs"), "use crate::a::f;\n#[cfg(test)]\nmod tests { use crate::b; }\n")
        .unwrap();
    let graph = import_graph(dir.path());
    assert!(cycle_from(&graph, &dir.path().join("a.rs")).is_some());
    assert!(cycle_from(&graph, &dir.path().join("b/mod.rs")).is_none());
}
