//! Production verification: RS256 tokens checked against a PEM public key and a JWKS
//! document, with issuer and audience enforced. The key pair under `fixtures/` exists only
//! for this test.

use anju_kit::{
    Role,
    auth::{Authenticator, Claims, expiry},
    config::AuthSettings,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use uuid::Uuid;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn sign(claims: &Claims, kid: Option<&str>) -> String {
    sign_with("rs256-test-private.pem", claims, kid)
}

fn sign_with(private_key: &str, claims: &Claims, kid: Option<&str>) -> String {
    let pem = std::fs::read(format!("{FIXTURES}/{private_key}")).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap()
}

fn claims(iss: &str, aud: &str) -> Claims {
    Claims {
        sub: "idp|42".into(),
        tenant: Uuid::now_v7().to_string(),
        roles: vec![Role::TitleOfficer],
        projects: vec!["*".into()],
        contractor: None,
        exp: expiry(300),
        nbf: None,
        iat: None,
        iss: Some(iss.into()),
        aud: Some(aud.into()),
    }
}

fn production_settings() -> AuthSettings {
    AuthSettings {
        issuer: Some("https://id.example-group.cn".into()),
        audience: Some("anju".into()),
        ..AuthSettings::default()
    }
}

#[tokio::test]
async fn rs256_tokens_verify_against_a_pem_key() {
    let settings = AuthSettings {
        rs256_public_key_file: Some(format!("{FIXTURES}/rs256-test-public.pem").into()),
        ..production_settings()
    };
    let auth = Authenticator::from_settings(&settings).await.unwrap();
    let good = claims("https://id.example-group.cn", "anju");
    let principal = auth.verify_now(&sign(&good, None)).unwrap();
    assert!(principal.has(Role::TitleOfficer));

    assert!(
        auth.verify_now(&sign(&claims("https://evil.example", "anju"), None))
            .is_err(),
        "wrong issuer"
    );
    assert!(
        auth.verify_now(&sign(
            &claims("https://id.example-group.cn", "other-app"),
            None
        ))
        .is_err(),
        "wrong audience"
    );
    let hs = anju_kit::auth::TokenIssuer::hs256("whatever")
        .staff(Uuid::now_v7(), "x", &[Role::Admin])
        .unwrap();
    assert!(
        auth.verify_now(&hs).is_err(),
        "HS256 is not accepted when only RS256 is configured"
    );
}

#[tokio::test]
async fn rs256_tokens_verify_against_a_jwks_document() {
    let settings = AuthSettings {
        jwks: Some(format!("{FIXTURES}/jwks-test.json")),
        ..production_settings()
    };
    let auth = Authenticator::from_settings(&settings).await.unwrap();
    let good = claims("https://id.example-group.cn", "anju");
    auth.verify_now(&sign(&good, Some("anju-test-1"))).unwrap();
    assert!(
        auth.verify_now(&sign(&good, Some("rotated-away"))).is_err(),
        "unknown key id"
    );
}

#[tokio::test]
async fn configured_issuer_and_audience_must_be_present() {
    let settings = AuthSettings {
        rs256_public_key_file: Some(format!("{FIXTURES}/rs256-test-public.pem").into()),
        ..production_settings()
    };
    let auth = Authenticator::from_settings(&settings).await.unwrap();
    let good = claims("https://id.example-group.cn", "anju");
    let no_iss = Claims {
        iss: None,
        ..good.clone()
    };
    let no_aud = Claims {
        aud: None,
        ..good.clone()
    };
    assert!(
        auth.verify_now(&sign(&no_iss, None)).is_err(),
        "missing iss"
    );
    assert!(
        auth.verify_now(&sign(&no_aud, None)).is_err(),
        "missing aud"
    );
    auth.verify_now(&sign(&good, None)).unwrap();
}

/// The identity provider adds a key: a token signed with it is accepted without a restart,
/// because an unknown `kid` makes the service read the JWKS again.
#[tokio::test]
async fn a_rotated_jwks_key_is_accepted_without_restart() {
    let dir = std::env::temp_dir().join(format!("anju-jwks-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let jwks = dir.join("jwks.json");
    std::fs::copy(format!("{FIXTURES}/jwks-test.json"), &jwks).unwrap();
    let settings = AuthSettings {
        jwks: Some(jwks.display().to_string()),
        ..production_settings()
    };
    let auth = std::sync::Arc::new(Authenticator::from_settings(&settings).await.unwrap());
    let good = claims("https://id.example-group.cn", "anju");
    let rotated = sign_with("rs256-rotated-private.pem", &good, Some("anju-test-2"));
    assert!(auth.verify_now(&rotated).is_err(), "not yet published");

    std::fs::copy(format!("{FIXTURES}/jwks-rotated.json"), &jwks).unwrap();
    auth.verify(&rotated)
        .await
        .expect("the new key is fetched on its first use");
    auth.verify(&sign(&good, Some("anju-test-1")))
        .await
        .expect("the old key is still published");
    // A key signed by nobody the JWKS names stays refused.
    let stranger = sign_with("rs256-rotated-private.pem", &good, Some("anju-test-1"));
    assert!(auth.verify(&stranger).await.is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
