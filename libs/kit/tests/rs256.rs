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
    let pem = std::fs::read(format!("{FIXTURES}/rs256-test-private.pem")).unwrap();
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
        iss: Some(iss.into()),
        aud: Some(aud.into()),
    }
}

fn production_settings() -> AuthSettings {
    AuthSettings {
        hs256_secret: None,
        rs256_public_key_file: None,
        jwks: None,
        issuer: Some("https://id.example-group.cn".into()),
        audience: Some("anju".into()),
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
    let principal = auth.verify(&sign(&good, None)).unwrap();
    assert!(principal.has(Role::TitleOfficer));

    assert!(
        auth.verify(&sign(&claims("https://evil.example", "anju"), None))
            .is_err(),
        "wrong issuer"
    );
    assert!(
        auth.verify(&sign(
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
        auth.verify(&hs).is_err(),
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
    auth.verify(&sign(&good, Some("anju-test-1"))).unwrap();
    assert!(
        auth.verify(&sign(&good, Some("rotated-away"))).is_err(),
        "unknown key id"
    );
}
