//! Decoded views of a text: what the text says once one kind of escaping is
//! undone, so a value is found in it however an encoder chose to escape it.
//!
//! * **Percent-encoding**: every `%XX` (hex digits in either case) decoded.
//!   This covers every encode set at once (RFC 3986, the WHATWG path, query,
//!   fragment, userinfo and form sets, JavaScript's, Python's, …) and every mix
//!   of hex case, and a URL-encoded base64 (Basic credentials in a query).
//!   Form encoding's `+` for a space is a registered form of its own (see
//!   `forms.rs`), matched in this view.
//! * **HTML entities**: named (`&lt;`, `&quot;`, `&apos;`, … the ASCII ones),
//!   decimal (`&#60;`) and hex (`&#x3C;`, either case).
//! * **`\/`**: the JSON escape some encoders write for every `/` (a
//!   JSON-escaped base64 or URL).
//! * **Wrapped base64**: a line break (LF or CRLF, raw or JSON-escaped) after a
//!   line of exactly 64 (PEM) or 76 (MIME) base64 characters, followed by more
//!   base64, is removed.
//!
//! Only the neighbourhood of each escape (a "site") is decoded and searched:
//! a match that overlaps no site was already found in the text itself.

use memchr::memchr3_iter;

pub(crate) const PCT: usize = 0;
pub(crate) const HTML: usize = 1;
pub(crate) const SLASH: usize = 2;
pub(crate) const WRAP: usize = 3;
pub(crate) const KINDS: usize = 4;

/// At most how many bytes of text one decoded byte of each view stands for:
/// `%XX`; an entity of at most 6 characters per byte; `\/`; a base64 line of
/// at least 64 characters and its break of at most 4.
pub(crate) const EXPANSION: [usize; KINDS] = [3, 6, 2, 2];
pub(crate) const MAX_EXPANSION: usize = 6;
/// Bytes before a site that decide whether it is one (a wrapped line of up to
/// 77 characters, an entity of up to 10).
pub(crate) const LEFT_CONTEXT: usize = 96;

/// One escape: `text[start..end]` decodes to `dec[..n]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Site {
    pub start: usize,
    pub end: usize,
    pub dec: [u8; 4],
    pub n: u8,
}

/// The sites of each kind in a text, in order.
#[derive(Default)]
pub(crate) struct Sites {
    pub kinds: [Vec<Site>; KINDS],
}

#[inline]
fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Base64 characters of either alphabet.
static B64: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'-' || c == b'_';
        b += 1;
    }
    t
};

#[inline(always)]
fn is_b64(b: u8) -> bool {
    B64[b as usize]
}

/// Named entities decoded: the ASCII ones HTML escapers use, and `&nbsp;`.
/// (Longer names would break the bound on how much text a decoded byte
/// stands for, see [`entity`].)
const ENTITIES: &[(&[u8], char)] = &[
    (b"lt", '<'),
    (b"gt", '>'),
    (b"amp", '&'),
    (b"quot", '"'),
    (b"apos", '\''),
    (b"LT", '<'),
    (b"GT", '>'),
    (b"AMP", '&'),
    (b"QUOT", '"'),
    (b"nbsp", '\u{a0}'),
    (b"excl", '!'),
    (b"num", '#'),
    (b"lpar", '('),
    (b"rpar", ')'),
    (b"ast", '*'),
    (b"plus", '+'),
    (b"sol", '/'),
    (b"semi", ';'),
    (b"lsqb", '['),
    (b"bsol", '\\'),
    (b"rsqb", ']'),
    (b"Hat", '^'),
    (b"lcub", '{'),
    (b"rcub", '}'),
];

/// The site of an entity decoding to `c`, unless the entity is longer than
/// 6 characters per byte of `c` (`&#0000060;`: no escaper writes that, and
/// the bound keeps a stream's held-back tail short).
fn site_of_char(start: usize, end: usize, c: char) -> Option<Site> {
    let mut dec = [0u8; 4];
    let n = c.encode_utf8(&mut dec).len();
    (end - start <= 6 * n).then_some(Site {
        start,
        end,
        dec,
        n: n as u8,
    })
}

/// The entity at `t[0]` (`&`): named (see [`ENTITIES`]), decimal (`&#60;`)
/// or hex (`&#x3C;`, `&#X3c;`), with its `;`.
fn entity(t: &[u8], at: usize) -> Option<Site> {
    if t.len() < 4 {
        return None;
    }
    if t[1] == b'#' {
        let hex = t[2] == b'x' || t[2] == b'X';
        let (base, max, first) = if hex { (16, 6, 3) } else { (10, 7, 2) };
        let mut j = first;
        let mut cp: u32 = 0;
        while j < t.len() && j - first < max {
            let d = match hex_val(t[j]) {
                Some(d) if u32::from(d) < base => d,
                _ => break,
            };
            cp = cp * base + u32::from(d);
            j += 1;
        }
        if j == first || j >= t.len() || t[j] != b';' {
            return None;
        }
        return char::from_u32(cp).and_then(|c| site_of_char(at, at + j + 1, c));
    }
    let mut j = 1;
    while j < t.len() && j <= 4 && t[j].is_ascii_alphanumeric() {
        j += 1;
    }
    if j == 1 || j >= t.len() || t[j] != b';' {
        return None;
    }
    let name = &t[1..j];
    ENTITIES
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|&(_, c)| site_of_char(at, at + j + 1, c))
}

/// Whether the base64 run that ends at `ts` is a wrapped line: exactly 64 or
/// 76 characters, starting the text, a line, or right after a JSON `\n`.
fn wrapped_line(hay: &[u8], ts: usize) -> bool {
    if ts < 64 || !is_b64(hay[ts - 1]) || !is_b64(hay[ts - 64]) {
        return false;
    }
    let mut n = 0;
    while n < 78 && n < ts && is_b64(hay[ts - 1 - n]) {
        n += 1;
    }
    let first = ts - n;
    match n {
        64 | 76 => true,
        // The previous line ended with a JSON-escaped `\n`: its `n` is counted.
        65 | 77 => first >= 1 && hay[first] == b'n' && hay[first - 1] == b'\\',
        _ => false,
    }
}

/// Every line break (LF, CRLF, JSON `\n`, JSON `\r\n`) that ends a wrapped
/// base64 line (see [`wrapped_line`]) and is followed by more base64. Looks
/// for runs of 64 base64 characters first, skipping ahead 64 bytes past
/// every other character, so ordinary text costs about one look per line.
fn find_wraps(hay: &[u8], out: &mut Vec<Site>) {
    let len = hay.len();
    let mut i = 63;
    while i < len {
        if !is_b64(hay[i]) {
            i += 64;
            continue;
        }
        let lo = i - 63;
        if let Some(k) = hay[lo..i].iter().rposition(|&b| !is_b64(b)) {
            // hay[lo + k] is not base64: a run of 64 ends at lo + k + 64 or later.
            i = lo + k + 64;
            continue;
        }
        let e = i
            + 1
            + hay[i + 1..]
                .iter()
                .position(|&b| !is_b64(b))
                .unwrap_or(len - i - 1);
        let rest = &hay[e..];
        let token = if rest.starts_with(b"\n") {
            1
        } else if rest.starts_with(b"\r\n") || rest.starts_with(b"\\n") {
            2
        } else if rest.starts_with(b"\\r\\n") {
            4
        } else {
            0
        };
        if token > 0 && hay.get(e + token).is_some_and(|&b| is_b64(b)) && wrapped_line(hay, e) {
            out.push(Site {
                start: e,
                end: e + token,
                dec: [0; 4],
                n: 0,
            });
        }
        i = e + 64;
    }
}

impl Sites {
    /// Finds every site in `hay`.
    pub fn find(&mut self, hay: &[u8]) {
        for k in &mut self.kinds {
            k.clear();
        }
        let len = hay.len();
        let mut pct_end = 0;
        for i in memchr3_iter(b'%', b'&', b'\\', hay) {
            match hay[i] {
                b'%' => {
                    if i >= pct_end && i + 3 <= len {
                        if let (Some(h), Some(l)) = (hex_val(hay[i + 1]), hex_val(hay[i + 2])) {
                            self.kinds[PCT].push(Site {
                                start: i,
                                end: i + 3,
                                dec: [h << 4 | l, 0, 0, 0],
                                n: 1,
                            });
                            pct_end = i + 3;
                        }
                    }
                }
                b'&' => {
                    if let Some(s) = entity(&hay[i..len.min(i + 10)], i) {
                        self.kinds[HTML].push(s);
                    }
                }
                _ => {
                    if hay.get(i + 1) == Some(&b'/') {
                        self.kinds[SLASH].push(Site {
                            start: i,
                            end: i + 2,
                            dec: [b'/', 0, 0, 0],
                            n: 1,
                        });
                    }
                }
            }
        }
        find_wraps(hay, &mut self.kinds[WRAP]);
    }
}

/// A decoded stretch of text `hay[a..b]`: its bytes, and where each site's
/// decoded bytes sit in it (everything between sites is the text as is).
#[derive(Default)]
pub(crate) struct View {
    pub bytes: Vec<u8>,
    /// Per site, in order: (first decoded byte in `bytes`, the site).
    anchors: Vec<(usize, Site)>,
    a: usize,
}

impl View {
    /// Decodes `hay[a..b]` with `sites` (all inside it, in order).
    pub fn build(&mut self, hay: &[u8], a: usize, b: usize, sites: &[Site]) {
        self.bytes.clear();
        self.anchors.clear();
        self.a = a;
        let mut pos = a;
        for s in sites {
            self.bytes.extend_from_slice(&hay[pos..s.start]);
            self.anchors.push((self.bytes.len(), *s));
            self.bytes.extend_from_slice(&s.dec[..s.n as usize]);
            pos = s.end;
        }
        self.bytes.extend_from_slice(&hay[pos..b]);
    }

    /// The decoded ranges of the sites, in view bytes (for choosing what to
    /// search: every match that a site changes overlaps or touches one).
    pub fn site_ranges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.anchors.iter().map(|(v, s)| (*v, *v + s.n as usize))
    }

    /// The last anchor at or before view byte `v`.
    fn anchor(&self, v: usize) -> Option<&(usize, Site)> {
        let i = self.anchors.partition_point(|(at, _)| *at <= v);
        i.checked_sub(1).map(|i| &self.anchors[i])
    }

    /// Where in the text view byte `v` starts.
    pub fn start_of(&self, v: usize) -> usize {
        match self.anchor(v) {
            None => self.a + v,
            Some((at, s)) if v < at + s.n as usize => s.start,
            Some((at, s)) => s.end + (v - at - s.n as usize),
        }
    }

    /// Where in the text view byte `v` ends.
    pub fn end_of(&self, v: usize) -> usize {
        match self.anchor(v) {
            Some((at, s)) if v < at + s.n as usize => s.end,
            _ => self.start_of(v) + 1,
        }
    }

    /// Whether view bytes `vs..ve` include a decoded byte.
    pub fn decodes(&self, vs: usize, ve: usize) -> bool {
        let i = self
            .anchors
            .partition_point(|(at, s)| at + s.n as usize <= vs);
        self.anchors
            .get(i)
            .is_some_and(|(at, s)| s.n > 0 && *at < ve)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(text: &str, kind: usize) -> String {
        let mut s = Sites::default();
        s.find(text.as_bytes());
        let mut v = View::default();
        v.build(text.as_bytes(), 0, text.len(), &s.kinds[kind]);
        String::from_utf8_lossy(&v.bytes).into_owned()
    }

    #[test]
    fn percent_html_and_slash() {
        assert_eq!(decoded("a%2fb%3D%2Bc%zz%4", PCT), "a/b=+c%zz%4");
        assert_eq!(
            decoded(
                "p&lt;a&gt;ss&amp;w0rd&quot;x&#39;&#x27;&#X3c;&bogus;&amp",
                HTML
            ),
            "p<a>ss&w0rd\"x''<&bogus;&amp"
        );
        assert_eq!(
            decoded("&#233;&#x1F600;&#1114112;&#0000060;&#060;", HTML),
            "é😀&#1114112;&#0000060;<"
        );
        assert_eq!(decoded("a\\/b\\\\n", SLASH), "a/b\\\\n");
    }

    #[test]
    fn view_bytes_map_back_to_the_text() {
        let text = "ab%41cd&lt;e";
        let mut s = Sites::default();
        s.find(text.as_bytes());
        let mut v = View::default();
        v.build(text.as_bytes(), 1, text.len(), &s.kinds[PCT]);
        assert_eq!(v.bytes, b"bAcd&lt;e");
        let spans: Vec<(usize, usize)> = (0..v.bytes.len())
            .map(|i| (v.start_of(i), v.end_of(i)))
            .collect();
        assert_eq!(
            spans,
            [
                (1, 2),
                (2, 5),
                (5, 6),
                (6, 7),
                (7, 8),
                (8, 9),
                (9, 10),
                (10, 11),
                (11, 12)
            ]
        );
        assert!(v.decodes(1, 2) && v.decodes(0, 3) && !v.decodes(2, 9) && !v.decodes(0, 1));
        let line = "A".repeat(64);
        let text = format!("{line}\n{line}");
        s.find(text.as_bytes());
        v.build(text.as_bytes(), 0, text.len(), &s.kinds[WRAP]);
        assert_eq!(v.bytes.len(), 128);
        assert_eq!((v.start_of(63), v.end_of(63)), (63, 64));
        assert_eq!((v.start_of(64), v.end_of(64)), (65, 66));
        assert!(!v.decodes(0, 128));
    }

    #[test]
    fn wrapped_base64_lines() {
        let line = "A".repeat(64);
        let text = format!("-----BEGIN X-----\n{line}\n{line}\nQUJD\n-----END X-----\n");
        assert_eq!(
            decoded(&text, WRAP),
            format!("-----BEGIN X-----\n{line}{line}QUJD\n-----END X-----\n")
        );
        let mime = "B".repeat(76);
        let text = format!("{mime}\r\n{mime}\r\nQUJD");
        assert_eq!(decoded(&text, WRAP), format!("{mime}{mime}QUJD"));
        // JSON-escaped PEM.
        let text = format!("\"-----BEGIN X-----\\n{line}\\n{line}\\nQUJD\\n-----END X-----\"");
        assert_eq!(
            decoded(&text, WRAP),
            format!("\"-----BEGIN X-----\\n{line}{line}QUJD\\n-----END X-----\"")
        );
        // Other line lengths are left alone.
        let short = "C".repeat(63);
        let text = format!("{short}\n{short}\n");
        assert_eq!(decoded(&text, WRAP), text);
    }
}
