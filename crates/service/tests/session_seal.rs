//! Console state sealed for one session (`Lockbox::seal_for_session`): what the
//! console carries across a redirect to another node (a fresh token, a form's
//! nonce) opens only for the session it was sealed for, only as its own kind, only
//! until it expires, and never after an edit.

use lockbox_core::{ManualClock, Timestamp};
use lockbox_service::{Lockbox, RequestCtx, ServiceConfig, SessionSeal};
use std::sync::Arc;

#[tokio::test]
async fn a_sealed_note_opens_for_its_session_kind_and_lifetime_only() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp(1_800_000_000_000));
    let svc = Lockbox::open_with_clock(
        dir.path(),
        None,
        ServiceConfig::default(),
        Arc::new(clock.clone()),
    )
    .await
    .unwrap();
    let token = svc
        .bootstrap()
        .await
        .unwrap()
        .expect("first start")
        .into_exposed();
    let ctx = RequestCtx::default();
    let mine = svc.sign_in(&token, &ctx).await.unwrap().session;
    let other = svc.sign_in(&token, &ctx).await.unwrap().session;

    let sealed = svc.seal_for_session(&mine, SessionSeal::Note, b"lbx_fresh-token", 300);
    assert!(!sealed.contains("lbx_"), "the payload is not readable");
    assert_eq!(
        svc.open_for_session(&mine, SessionSeal::Note, &sealed)
            .as_deref()
            .map(Vec::as_slice),
        Some(&b"lbx_fresh-token"[..])
    );
    assert!(svc
        .open_for_session(&other, SessionSeal::Note, &sealed)
        .is_none());
    assert!(svc
        .open_for_session(&mine, SessionSeal::FormNonce, &sealed)
        .is_none());
    let mut edited = sealed.clone().into_bytes();
    let last = edited.len() - 1;
    edited[last] = if edited[last] == b'A' { b'B' } else { b'A' };
    let edited = String::from_utf8(edited).unwrap();
    assert!(svc
        .open_for_session(&mine, SessionSeal::Note, &edited)
        .is_none());
    assert!(svc.open_for_session(&mine, SessionSeal::Note, "").is_none());

    clock.advance_seconds(299);
    assert!(svc
        .open_for_session(&mine, SessionSeal::Note, &sealed)
        .is_some());
    clock.advance_seconds(1);
    assert!(
        svc.open_for_session(&mine, SessionSeal::Note, &sealed)
            .is_none(),
        "expired"
    );
}
