//! Throughput benchmark for `lockbox-redact` (a plain `Instant`-timed program:
//! criterion is not a dependency of the workspace and its tree is heavy).
//!
//! For 10, 1,000 and 10,000 secret values (every value registered in all its
//! forms), scans 1 MB of log-like text with `Redactor::redact_bytes` and with a
//! plain aho-corasick automaton over the very same patterns, and times the
//! `Redactor` build. Run: `cargo run --release -p lockbox-redact --example bench`
//! (optional args: sizes, e.g. `-- 10000`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use aho_corasick::AhoCorasick;
use base64::Engine;
use lockbox_redact::{Options, Redactor};

/// splitmix64: deterministic, dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const PUNCT: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*()-_=+[]{};:,.<>/?~ ";
const UNI: &[&str] = &["é", "ß", "ø", "Ж", "中", "😀", "ñ", "a", "b", "7", "/", "&"];

/// A secret-like value: mostly 16..=48 bytes (API keys, passwords, some with
/// punctuation or non-ASCII), 2% short ones (8..=15 bytes).
fn gen_value(rng: &mut Rng) -> Vec<u8> {
    let short_pct: usize = std::env::var("SHORT_PCT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let len = if rng.below(100) < short_pct {
        8 + rng.below(8)
    } else {
        16 + rng.below(33)
    };
    let kind = rng.below(100);
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        match kind {
            0..=59 => v.push(*rng.pick(ALNUM)),
            60..=89 => v.push(*rng.pick(PUNCT)),
            _ => v.extend_from_slice(rng.pick(UNI).as_bytes()),
        }
    }
    v
}

const WORDS: &[&str] = &[
    "INFO",
    "WARN",
    "DEBUG",
    "request",
    "response",
    "user",
    "path",
    "/api/v1/secrets",
    "status",
    "200",
    "404",
    "latency_ms",
    "method",
    "GET",
    "POST",
    "the",
    "service",
    "started",
    "handler",
    "connection",
    "pool",
    "tenant",
    "lease",
    "renewed",
    "policy",
    "denied",
    "allowed",
    "token",
    "{\"id\":",
    "\"name\":",
    "}",
    "[",
    "]",
    "=",
    ":",
    ",",
    "retry",
    "backoff",
    "upstream",
];

/// ~`size` bytes of log-like lines (words, numbers, random ids), with a few
/// hundred occurrences of `values` in various encodings (raw, Basic
/// credentials, JSON, percent-encoded, hex, HTML-escaped).
fn gen_text(rng: &mut Rng, size: usize, values: &[Vec<u8>]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut t = Vec::with_capacity(size + 256);
    let mut line = 0u64;
    while t.len() < size {
        line += 1;
        t.extend_from_slice(
            format!(
                "2024-05-01T12:{:02}:{:02}.{:03}Z ",
                line % 60,
                line % 59,
                line % 1000
            )
            .as_bytes(),
        );
        for _ in 0..8 + rng.below(8) {
            t.extend_from_slice(rng.pick(WORDS).as_bytes());
            t.push(b' ');
            if rng.below(4) == 0 {
                t.extend_from_slice(b"id=");
                for _ in 0..12 {
                    t.push(*rng.pick(ALNUM));
                }
                t.push(b' ');
            }
        }
        if rng.below(20) == 0 && !values.is_empty() {
            let v = rng.pick(values);
            match rng.below(6) {
                0 => t.extend_from_slice(v),
                3 => {
                    // Percent-encoded, as in a logged URL.
                    t.extend_from_slice(b"GET /cb?code=");
                    for &b in v.iter() {
                        if b.is_ascii_alphanumeric() {
                            t.push(b);
                        } else {
                            t.extend_from_slice(format!("%{b:02x}").as_bytes());
                        }
                    }
                }
                4 => {
                    for &b in v.iter() {
                        t.extend_from_slice(format!("{b:02x}").as_bytes());
                    }
                }
                5 => {
                    // HTML-escaped, as in an error page.
                    for &b in v.iter() {
                        match b {
                            b'<' => t.extend_from_slice(b"&lt;"),
                            b'>' => t.extend_from_slice(b"&gt;"),
                            b'&' => t.extend_from_slice(b"&amp;"),
                            b'"' => t.extend_from_slice(b"&quot;"),
                            b'\'' => t.extend_from_slice(b"&#39;"),
                            b => t.push(b),
                        }
                    }
                }
                1 => {
                    let mut up = b"user:".to_vec();
                    up.extend_from_slice(v);
                    t.extend_from_slice(b"Authorization: Basic ");
                    t.extend_from_slice(b64.encode(&up).as_bytes());
                }
                _ => t.extend_from_slice(
                    serde_json::to_string(&String::from_utf8_lossy(v))
                        .unwrap()
                        .as_bytes(),
                ),
            }
        }
        t.push(b'\n');
    }
    t.truncate(size);
    t
}

fn best_of<F: FnMut()>(runs: usize, mut f: F) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
    }
    best
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

fn main() {
    let sizes: Vec<usize> = {
        let args: Vec<usize> = std::env::args()
            .skip(1)
            .filter_map(|a| a.parse().ok())
            .collect();
        if args.is_empty() {
            vec![10, 1_000, 10_000]
        } else {
            args
        }
    };
    const TEXT: usize = 1 << 20;
    println!(
        "{:>7} {:>9} {:>9} {:>12} {:>12} {:>9} {:>12} {:>7}",
        "values",
        "patterns",
        "build_ms",
        "redact_MB/s",
        "stream_MB/s",
        "ac_MB/s",
        "ac_build_ms",
        "masked"
    );
    for &n in &sizes {
        let mut rng = Rng(0x5EED ^ n as u64);
        let values: Vec<Vec<u8>> = (0..n).map(|_| gen_value(&mut rng)).collect();
        let names: Vec<String> = (0..n).map(|i| format!("secret-{i}")).collect();
        let secrets: Vec<(&str, &[u8])> = names
            .iter()
            .zip(&values)
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        let text = gen_text(&mut rng, TEXT, &values);

        let mut redactor = None;
        let build = best_of(5, || {
            redactor = Some(Redactor::new(black_box(&secrets), Options::default()));
        });
        let redactor = redactor.unwrap();
        let scan_runs = std::env::var("SCAN_RUNS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20);
        let scan = best_of(scan_runs, || {
            black_box(redactor.redact_bytes(black_box(&text)));
        });
        let stream = best_of(scan_runs, || {
            let mut s = redactor.stream();
            for chunk in text.chunks(64 * 1024) {
                black_box(s.push(chunk));
            }
            black_box(s.finish());
        });
        let masked = redactor
            .redact_bytes(&text)
            .windows(10)
            .filter(|w| w == b"[REDACTED:")
            .count();

        let patterns = redactor.patterns();
        if std::env::var_os("NO_AC").is_some() {
            println!(
                "{:>7} {:>9} {:>9.2} {:>12.0} {:>12.0} {:>9} {:>12} {:>7}",
                n,
                patterns.len(),
                build.as_secs_f64() * 1e3,
                mbps(text.len(), scan),
                mbps(text.len(), stream),
                "-",
                "-",
                masked
            );
            continue;
        }
        let t = Instant::now();
        let ac = AhoCorasick::new(&patterns).unwrap();
        let ac_build = t.elapsed();
        let ac_runs = if n >= 1000 { 2 } else { 10 };
        let ac_scan = best_of(ac_runs, || {
            black_box(ac.find_iter(black_box(&text)).count());
        });
        println!(
            "{:>7} {:>9} {:>9.2} {:>12.0} {:>12.0} {:>9.0} {:>12.1} {:>7}",
            n,
            patterns.len(),
            build.as_secs_f64() * 1e3,
            mbps(text.len(), scan),
            mbps(text.len(), stream),
            mbps(text.len(), ac_scan),
            ac_build.as_secs_f64() * 1e3,
            masked
        );
    }
}
