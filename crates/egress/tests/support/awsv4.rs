//! An independent AWS SigV4 verifier for the test upstream, written from AWS's
//! specification over `ring` (HMAC-SHA256, SHA-256): it rebuilds the canonical
//! request from what the server actually received and recomputes the signature. It
//! shares no code with the executor's signer (which uses the `aws-sigv4` crate) and is
//! itself checked against AWS's published test vectors in `tests/sigv4.rs`.

use ring::{digest, hmac};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
}

/// AWS URI encoding: everything but unreserved characters, as %XX upper-case.
fn aws_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (!encode_slash && b == b'/');
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Normalizes a path as AWS does for non-S3 services (RFC 3986 dot segments,
/// collapsed slashes), then encodes it once more (the "double" encoding).
fn canonical_uri(raw_path: &str) -> String {
    let mut segs: Vec<&str> = Vec::new();
    for seg in raw_path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    let mut path = format!("/{}", segs.join("/"));
    if raw_path.ends_with('/') && path != "/" {
        path.push('/');
    }
    aws_encode(&path, false)
}

fn canonical_query(raw_query: &str) -> String {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw_query.as_bytes())
        .map(|(k, v)| (aws_encode(&k, true), aws_encode(&v, true)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn trim_all(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Verifies the `Authorization: AWS4-HMAC-SHA256 …` header of a received request.
pub fn verify(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &[(String, String)],
    body: &[u8],
    secret_key: &str,
) -> Result<(), String> {
    let get_all = |name: &str| -> Vec<&str> {
        headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let auth = *get_all("authorization")
        .first()
        .ok_or("no Authorization header")?;
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("not AWS4-HMAC-SHA256")?;
    let mut credential = "";
    let mut signed_headers = "";
    let mut signature = "";
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = v;
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = v;
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = v;
        }
    }
    let scope: Vec<&str> = credential.splitn(5, '/').collect();
    if scope.len() != 5 || scope[4] != "aws4_request" {
        return Err(format!("bad credential scope {credential}"));
    }
    let (date, region, service) = (scope[1], scope[2], scope[3]);
    let amz_date = *get_all("x-amz-date").first().ok_or("no x-amz-date")?;
    if !amz_date.starts_with(date) {
        return Err("x-amz-date does not match the credential date".into());
    }
    let payload_hash = sha256_hex(body);
    if let Some(claimed) = get_all("x-amz-content-sha256").first() {
        if *claimed != payload_hash {
            return Err("x-amz-content-sha256 does not match the body".into());
        }
    }
    let mut canonical_headers = String::new();
    for name in signed_headers.split(';') {
        let values = get_all(name);
        if values.is_empty() {
            return Err(format!("signed header {name} is missing"));
        }
        let joined = values
            .iter()
            .map(|v| trim_all(v))
            .collect::<Vec<_>>()
            .join(",");
        canonical_headers.push_str(&format!("{name}:{joined}\n"));
    }
    let canonical_request = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        canonical_uri(raw_path),
        canonical_query(raw_query),
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/{service}/aws4_request\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let k_date = hmac_sha256(format!("AWS4{secret_key}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"aws4_request");
    let expected = hex(&hmac_sha256(&k_signing, string_to_sign.as_bytes()));
    if expected == signature {
        Ok(())
    } else {
        Err(format!(
            "signature mismatch\ncanonical request:\n{canonical_request}\nstring to sign:\n{string_to_sign}"
        ))
    }
}
