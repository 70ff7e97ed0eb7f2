//! Percent-encoding of one URL path segment or query value.
//!
//! Secret names may hold `/`, spaces and emoji, yet travel as a single path segment
//! (`docs/api.md`: `a/b c` is `a%2Fb%20c`). Everything except RFC 3986's unreserved
//! characters is encoded, byte by byte over the UTF-8 encoding.

/// Encodes `s` so it stays one path segment: every byte other than `A-Z a-z 0-9 - . _ ~`
/// becomes `%XX` (upper-case hex). The same encoding is safe for query values.
pub fn encode_path_segment(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0x0f)] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::encode_path_segment as enc;

    #[test]
    fn slash_and_space_stay_in_one_segment() {
        assert_eq!(enc("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn emoji_is_encoded_as_utf8_bytes() {
        assert_eq!(enc("🔑"), "%F0%9F%94%91");
        assert_eq!(enc("🔑 key"), "%F0%9F%94%91%20key");
    }

    #[test]
    fn percent_itself_is_encoded() {
        assert_eq!(enc("%"), "%25");
        assert_eq!(enc("100%2F"), "100%252F");
    }

    #[test]
    fn unreserved_pass_through() {
        let s = "AZaz09-._~";
        assert_eq!(enc(s), s);
        assert_eq!(enc(""), "");
    }

    #[test]
    fn reserved_and_dot_segments() {
        assert_eq!(
            enc("?#[]@!$&'()*+,;=:"),
            "%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%3A"
        );
        // `..` is unreserved text; the server must take it as a name, not a path step.
        assert_eq!(enc(".."), "..");
    }
}
