//! Frozen vectors: fixed keys, fixed ciphertexts and tokens made once by this code,
//! and the exact answers they must keep giving. Sealing draws random nonces, so
//! these test *opening* what an earlier build wrote (a database, a backup, a run
//! token or reference still in flight during an upgrade), plus the derivations
//! exactly. If one fails, a change broke data that already exists: do not update
//! the literal, restore the old behaviour (or add a new format beside it).

use lockbox_core::{Scope, SecretValue, Visibility};
use lockbox_crypto::{
    CheckOutcome, DataKey, MasterKeyring, PolicyAad, TokenPurpose, ValueAad, WrappedDataKey,
};
use serde_json::json;

const MASTER_KEY: [u8; 32] = [0x11; 32];
const WORKSPACE: &str = "ws-frozen";
const KEY_VERSION: u32 = 2;

fn keyring() -> MasterKeyring {
    MasterKeyring::from_key_bytes(MASTER_KEY)
}

fn hosts() -> Vec<String> {
    vec!["api.example.com".into(), "*.example.org".into()]
}

fn aad(hosts: &[String]) -> ValueAad<'_> {
    ValueAad {
        workspace_id: WORKSPACE,
        secret_id: "secret-frozen",
        scope: Scope::User,
        owner: "user-frozen",
        version: 7,
        key_version: KEY_VERSION,
        policy: Some(PolicyAad {
            visibility: Visibility::Masked,
            allowed_hosts: hosts,
        }),
    }
}

fn value() -> SecretValue {
    SecretValue::from_json(&json!({"user": "frozen", "password": "p@ss wörd"}), 1000).unwrap()
}

fn unwrap_frozen_key() -> DataKey {
    keyring()
        .unwrap(
            WORKSPACE,
            KEY_VERSION,
            &WrappedDataKey {
                master_version: 1,
                blob: hex::decode(WRAPPED_KEY).unwrap(),
            },
        )
        .expect("the frozen wrapped key opens")
}

const RUN_CLAIMS: &str = r#"{"r":"run-frozen","w":"ws-frozen","n":"default","u":"user-frozen","t":"manual","e":1764000000000,"o":"token-frozen","f":"deploy"}"#;
const REFERENCE_CLAIMS: &str = r#"{"s":"secret-frozen","v":7,"f":"password","r":"run-frozen","w":"ws-frozen","e":1764000300000}"#;

#[test]
fn a_wrapped_workspace_key_unwraps_to_the_same_key() {
    let key = unwrap_frozen_key();
    // The fingerprint keys derive from the unwrapped key: equal fingerprints,
    // equal key.
    assert_eq!(key.fingerprint(&value()), FINGERPRINT);
    assert_eq!(
        key.version_fingerprint("secret-frozen", 7, &value()),
        VERSION_FINGERPRINT
    );
    // Bound to its workspace and key version.
    let wrapped = WrappedDataKey {
        master_version: 1,
        blob: hex::decode(WRAPPED_KEY).unwrap(),
    };
    assert!(keyring().unwrap("ws-other", KEY_VERSION, &wrapped).is_err());
    assert!(keyring().unwrap(WORKSPACE, 1, &wrapped).is_err());
}

#[test]
fn a_sealed_value_opens_under_the_unwrapped_key() {
    let key = unwrap_frozen_key();
    let sealed = hex::decode(SEALED_VALUE).unwrap();
    let list = hosts();
    assert_eq!(key.open(&aad(&list), &sealed).unwrap(), value());
    let fewer = vec!["api.example.com".to_owned()];
    assert!(key.open(&aad(&fewer), &sealed).is_err());
}

#[test]
fn a_sealed_run_token_opens_to_its_claims() {
    let plain = keyring()
        .open_token(TokenPurpose::RunToken, RUN_TOKEN)
        .expect("the frozen run token opens");
    assert_eq!(plain.as_slice(), RUN_CLAIMS.as_bytes());
    assert!(keyring()
        .open_token(TokenPurpose::SecretReference, RUN_TOKEN)
        .is_err());
}

#[test]
fn a_sealed_reference_opens_to_its_claims() {
    let plain = keyring()
        .open_token(TokenPurpose::SecretReference, REFERENCE_TOKEN)
        .expect("the frozen reference opens");
    assert_eq!(plain.as_slice(), REFERENCE_CLAIMS.as_bytes());
    assert!(keyring()
        .open_token(TokenPurpose::RunToken, REFERENCE_TOKEN)
        .is_err());
}

#[test]
fn a_key_check_opens_under_its_key_only() {
    let check = hex::decode(KEY_CHECK).unwrap();
    assert!(matches!(
        keyring().open_check(1, &check),
        CheckOutcome::Opens
    ));
    assert!(matches!(
        MasterKeyring::from_key_bytes([0x12; 32]).open_check(1, &check),
        CheckOutcome::WrongKey
    ));
}

const WRAPPED_KEY: &str =
    "014b40defd66183bee6a1c6b085d4333ed5dd7884830a98b36d0a6f9bde928ade5d9a3696e64c9208b8e70d4c6de8e0ee8cc37b8f03abead6c136af298";
const SEALED_VALUE: &str =
    "01e153ad4d9bd450f06e663af3ad4f7c5f13f25e9178e8c3c9140f00557a2c28ac11989102f5ad08e5824c86bca14dee868edc89b5f1f28af8edea0b86c25a2fb48199efef96";
const FINGERPRINT: &str = "723f240e1b63e2c7";
const VERSION_FINGERPRINT: &str = "e81223d51fa6891a";
const RUN_TOKEN: &str =
    "AAAAAQG2ZY9H6_IHD_LEfa5RlsbG21VOMp-iNNrdY-sYrfIA7Cq3OtIul3BQhphylCVs5vQ8x9FzUYWWa7Qd26lK_1rrHVjq0NAeTCujSQ4dZnGneIax1FA-OpwsjXuGoYKQdcT1Tu3iaqqRC9OsDRK9hQXcySYACWhhkWdc1SnSRB9q0tsTYl0o9vwaivh5dFoXgH7mA94n5s5voAksMOdx";
const REFERENCE_TOKEN: &str =
    "AAAAAQHftsbdtre5Kju0AoSDLIATedr43rOK00aJtFuznykCyKSz-Y7-OPEJT-d8NhYHfBrGClKHIuGFfxoKe9sT8VzLp6DGTixCgeuPQtq3v18HFUFZoADpbn-FeK-NNXQTjD0gURaL5fSRIDm9aIR2iESMfqvIY0TIR685";
const KEY_CHECK: &str =
    "01c8185abcd2ea4997fc77da4c0d67a70cf9d91493b508d6ef4de3a9ce401f26b31ed12e0502627672e74bb8de9f8ce4bc5dafc200";
