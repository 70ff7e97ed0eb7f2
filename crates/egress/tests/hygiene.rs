//! Plaintext hygiene in the source: every `expose()` call in this crate carries an
//! `// EXPOSE: why` comment on its line or the comment block just above, so
//! `grep -rn 'EXPOSE:'` lists every place a value can escape.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_expose_call_is_commented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for d in ["src", "examples"] {
        if root.join(d).is_dir() {
            rust_files(&root.join(d), &mut files);
        }
    }
    let mut calls = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
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
            assert!(
                ok,
                "{}:{}: .expose() without an // EXPOSE: comment",
                f.display(),
                i + 1
            );
        }
    }
    assert!(calls > 0, "expected at least one expose() call to check");
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for d in ["src", "tests", "examples"] {
        if root.join(d).is_dir() {
            rust_files(&root.join(d), &mut files);
        }
    }
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} does not start with a //! doc",
            f.display()
        );
    }
}

/// The call the test looks for. EXPOSE: (named here so the search finds this line too)
const EXPOSE_CALL: &str = ".expose()";
