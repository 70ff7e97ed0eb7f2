//! Printing results: JSON for `--json`, short aligned tables and lines otherwise;
//! and the terminal's side of long or risky work: progress bars and yes/no
//! questions on stderr.
//!
//! Nothing here prints a secret value; `secret reveal` writes its one value itself.

use crate::args::Global;
use serde::Serialize;
use std::io::{BufRead, IsTerminal, Write};

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| anyhow::anyhow!("internal: cannot encode output: {e}"))?;
    println!("{text}");
    Ok(())
}

/// Prints rows under a header, columns padded to the widest cell. Prints a short
/// note to stderr instead when there are no rows.
pub fn print_table(header: &[&str], rows: &[Vec<String>], empty_note: &str) {
    if rows.is_empty() {
        eprintln!("{empty_note}");
        return;
    }
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        let last = cells.len().saturating_sub(1);
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = w - width(cell) + 2;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out
    };
    println!("{}", line(header.to_vec()));
    for row in rows {
        println!("{}", line(row.iter().map(String::as_str).collect()));
    }
}

/// Terminal columns a cell takes: East Asian wide characters and emoji count two.
/// An approximation (no combining marks), good enough to keep tables aligned.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| match u32::from(c) {
            0x1100..=0x115F
            | 0x2E80..=0x303E
            | 0x3041..=0x33FF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xA000..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
            | 0x1F300..=0x1F64F
            | 0x1F900..=0x1F9FF
            | 0x20000..=0x3FFFD => 2,
            _ => 1,
        })
        .sum()
}

/// `-` for an absent optional field.
pub fn or_dash(v: Option<&str>) -> String {
    v.unwrap_or("-").to_owned()
}

/// A progress bar on stderr, hidden when stderr is not a terminal or with
/// `--json`. Callers set its message and length.
pub fn progress_bar(g: &Global) -> indicatif::ProgressBar {
    let bar = if g.json || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(0)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:28} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// Asks `question` on stderr and reads one line from stdin: true for `y` or
/// `yes` (any case). Callers decide first whether asking is possible (a terminal).
pub fn ask_yes(question: &str) -> anyhow::Result<bool> {
    eprint!("{question} ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| anyhow::anyhow!("invalid: cannot read the confirmation: {e}"))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

#[cfg(test)]
mod tests {
    use super::width;

    #[test]
    fn wide_characters_count_two_columns() {
        assert_eq!(width("abc"), 3);
        assert_eq!(width("🔑 json"), 7);
        assert_eq!(width("秘密"), 4);
        assert_eq!(width("Ünï"), 3);
    }
}
