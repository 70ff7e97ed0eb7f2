//! Plaintext hygiene in the source, for every crate of the workspace (this test
//! lives in the egress crate for history; it reads `crates/*`, not only its own):
//! every `.expose()` call (of `SecretValue` or `Sensitive`) carries an
//! `// EXPOSE: why` comment on its line or in the comment block just above, so
//! `grep -rn 'EXPOSE:'` lists every place a value or a credential can escape; and
//! every source file starts with a `//!` module doc saying what it owns.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `crates/` of this workspace.
fn crates_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crates/egress sits in crates/")
        .to_path_buf();
    assert!(
        dir.join("core").is_dir(),
        "{} is not crates/",
        dir.display()
    );
    dir
}

/// The `.rs` files under `subdirs` of every crate (each crate's own `target/`,
/// `node_modules/` and the like are never under these).
fn workspace_files(subdirs: &[&str]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut crates: Vec<PathBuf> = std::fs::read_dir(crates_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    crates.sort();
    assert!(crates.len() >= 10, "expected every crate, found {crates:?}");
    for krate in crates {
        for d in subdirs {
            if krate.join(d).is_dir() {
                rust_files(&krate.join(d), &mut files);
            }
        }
    }
    files
}

/// `path:line` of every `.expose()` call in `text` without an `// EXPOSE:` comment,
/// and how many calls there were.
fn uncommented_calls(path: &Path, text: &str) -> (usize, Vec<String>) {
    let lines: Vec<&str> = text.lines().collect();
    let mut calls = 0;
    let mut bad = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !line.contains(EXPOSE_CALL) || line.trim_start().starts_with("//") {
            continue;
        }
        calls += 1;
        let mut ok = line.contains("// EXPOSE:");
        let mut j = i;
        while !ok && j > 0 {
            j -= 1;
            let above = lines[j].trim_start();
            if !above.starts_with("//") {
                break;
            }
            ok = above.starts_with("// EXPOSE:");
        }
        if !ok {
            bad.push(format!("{}:{}", path.display(), i + 1));
        }
    }
    (calls, bad)
}

#[test]
fn every_expose_call_in_the_workspace_is_commented() {
    let mut calls = 0;
    let mut bad = Vec::new();
    let mut crates_with_calls = std::collections::BTreeSet::new();
    for f in workspace_files(&["src", "examples"]) {
        let text = std::fs::read_to_string(&f).unwrap();
        let (n, mut b) = uncommented_calls(&f, &text);
        if n > 0 {
            let krate = f.strip_prefix(crates_dir()).unwrap().components().next();
            crates_with_calls.insert(format!("{krate:?}"));
        }
        calls += n;
        bad.append(&mut b);
    }
    assert!(
        bad.is_empty(),
        ".expose() without an // EXPOSE: comment:\n{}",
        bad.join("\n")
    );
    // The walk reached beyond this crate (a path mistake would check nothing).
    assert!(
        calls > 20,
        "expected the workspace's expose() calls, found {calls}"
    );
    assert!(
        crates_with_calls.len() >= 4,
        "expected expose() calls in several crates: {crates_with_calls:?}"
    );
}

#[test]
fn the_check_catches_an_uncommented_call() {
    let path = Path::new("x.rs");
    let ok = "// EXPOSE: shown once\nlet a = v.expose();\nlet b = v.expose(); // EXPOSE: inline\n";
    assert_eq!(uncommented_calls(path, ok), (2, vec![]));
    let bad = "// EXPOSE: only for the first\nlet a = v.expose();\nlet b = v.expose();\n";
    assert_eq!(uncommented_calls(path, bad), (2, vec!["x.rs:3".to_owned()]));
    let gap = "// EXPOSE: too far away\n\nlet a = v.expose();\n";
    assert_eq!(uncommented_calls(path, gap).1.len(), 1);
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let files = workspace_files(&["src", "tests", "examples"]);
    assert!(files.len() > 100, "expected the workspace's files");
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("//!"))
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files that do not start with a //! doc:\n{}",
        missing.join("\n")
    );
}

/// The call the test looks for. EXPOSE: (named here so the search finds this line too)
const EXPOSE_CALL: &str = ".expose()";
