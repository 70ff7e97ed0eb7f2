//! AWS Signature Version 4 for `auth.awsv4`, over the `aws-sigv4` crate (used alone,
//! not the AWS SDK).
//!
//! The executor signs each hop after every reference has been substituted: method,
//! canonical URI, canonical query, the `host`, `x-amz-date`, `x-amz-content-sha256`
//! (and `x-amz-security-token`) headers plus the request's own headers, and the
//! payload hash. The output is the headers to add; the caller marks them sensitive.
//! This module holds credentials only for the duration of one call and never logs.

use lockbox_core::Error;
use std::time::SystemTime;
use zeroize::Zeroizing;

/// Credentials, already substituted.
pub struct Credentials<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub session_token: Option<&'a str>,
}

/// What to sign.
pub struct SignInput<'a> {
    pub method: &'a str,
    /// The full URL as it will be sent (scheme, authority, path, query).
    pub url: &'a str,
    /// Headers that will be sent, besides the ones signing adds. `host` is taken
    /// from the URL's authority when absent.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
    pub region: &'a str,
    pub service: &'a str,
    pub time: SystemTime,
    /// Sign and send `x-amz-content-sha256` (the executor always does; AWS's plain
    /// test vectors do not).
    pub content_sha256_header: bool,
}

/// The result: headers to add to the request and the hex signature.
pub struct Signed {
    pub headers: Vec<(&'static str, Zeroizing<String>)>,
    pub signature: String,
}

/// Signs one request.
pub fn sign(creds: &Credentials<'_>, input: &SignInput<'_>) -> Result<Signed, Error> {
    use aws_sigv4::http_request::{
        sign as aws_sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
        SigningSettings, UriPathNormalizationMode,
    };

    if input.region.is_empty() || input.service.is_empty() {
        return Err(Error::invalid("auth.awsv4 needs a region and a service"));
    }
    let identity = aws_credential_types::Credentials::new(
        creds.access_key,
        creds.secret_key,
        creds.session_token.map(str::to_string),
        None,
        "lockbox-egress",
    )
    .into();
    let mut settings = SigningSettings::default();
    if input.content_sha256_header {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    if input.service == "s3" {
        // S3 signs the path as sent: single-encoded and not normalized.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(input.region)
        .name(input.service)
        .time(input.time)
        .settings(settings)
        .build()
        .map_err(|_| Error::invalid("auth.awsv4 signing parameters are incomplete"))?
        .into();
    let request = SignableRequest::new(
        input.method,
        input.url,
        input.headers.iter().copied(),
        SignableBody::Bytes(input.body),
    )
    // The error text may quote the URL or a header; keep it out.
    .map_err(|_| {
        Error::invalid("the request cannot be signed with auth.awsv4 (bad URL or header)")
    })?;
    let (instructions, signature) = aws_sign(request, &params)
        .map_err(|_| Error::invalid("the request cannot be signed with auth.awsv4"))?
        .into_parts();
    let (headers, _params) = instructions.into_parts();
    let headers = headers
        .into_iter()
        .map(|h| (h.name(), Zeroizing::new(h.value().to_string())))
        .collect();
    Ok(Signed { headers, signature })
}
