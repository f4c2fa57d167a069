//! DPoP proofs (RFC 9449) for `aws login` refreshes: the cache's P-256 key read from its PEM
//! (SEC1 `EC PRIVATE KEY`, as the AWS CLI writes it, or PKCS#8 `PRIVATE KEY`), and one ES256
//! compact JWS per attempt: header `{"typ":"dpop+jwt","alg":"ES256","jwk":{…x,y…}}`, claims
//! `{"htm":"POST","htu":URL,"iat":…,"jti":…}`, signature the fixed 64 bytes `r || s`.
//!
//! The key lives in a [`DpopKey`] only as long as a refresh needs it; its `Debug` shows nothing
//! of it, and a proof comes back as a [`Secret`] (it could be replayed within its `iat` window).

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::secret::Secret;

/// The private key of a login's DPoP key pair.
pub struct DpopKey {
    pair: EcdsaKeyPair,
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DpopKey(** redacted **)")
    }
}

/// The cache's `dpopKey` could not be used. Says nothing of the key's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a PEM block with base64 between its `-----` lines.
    #[error("dpopKey is not a PEM private key")]
    NotPem,
    /// PEM, but not a P-256 private key in SEC1 or PKCS#8 form.
    #[error("dpopKey is not a P-256 private key (SEC1 or PKCS#8)")]
    NotP256,
    /// The signer failed (should not happen with a key that loaded).
    #[error("the DPoP proof could not be signed")]
    Sign,
}

impl DpopKey {
    /// Reads a PEM private key as botocore does: every `-----BEGIN`/`-----END` line dropped,
    /// the rest base64, and the DER tried as PKCS#8 then as SEC1 (RFC 5915).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----BEGIN") && !l.starts_with("-----END"))
            .flat_map(|l| l.chars().filter(|c| !c.is_ascii_whitespace()))
            .collect();
        if body.is_empty() {
            return Err(KeyError::NotPem);
        }
        let der = STANDARD.decode(body).map_err(|_| KeyError::NotPem)?;
        let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
            .map_err(|_| KeyError::NotP256)?;
        Ok(Self { pair })
    }

    /// The public key's affine coordinates `x` and `y`, base64url without padding (the JWK's
    /// members).
    pub fn jwk_xy(&self) -> (String, String) {
        // The uncompressed point: 04 || X (32 bytes) || Y (32 bytes).
        let point = self.pair.public_key().as_ref();
        (
            URL_SAFE_NO_PAD.encode(&point[1..33]),
            URL_SAFE_NO_PAD.encode(&point[33..65]),
        )
    }

    /// A proof for one `POST` to `url` (the exact URL the request goes to) at `now`, with a
    /// fresh `jti`. Make a new one for every attempt.
    pub fn proof(&self, url: &str, now: DateTime<Utc>) -> Result<Secret, KeyError> {
        let (x, y) = self.jwk_xy();
        let header = json!({
            "typ": "dpop+jwt",
            "alg": "ES256",
            "jwk": {"kty": "EC", "x": x, "y": y, "crv": "P-256"},
        });
        let claims = json!({
            "htm": "POST",
            "htu": url,
            "iat": now.timestamp(),
            "jti": fresh_jti()?,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| KeyError::Sign)?;
        Ok(Secret::new(format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )))
    }
}

/// A random UUID v4 in its usual text form, as botocore and the JS SDK use for `jti`.
fn fresh_jti() -> Result<String, KeyError> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| KeyError::Sign)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// Wraps DER in a PEM block with the given label, base64 lines of 64 characters, as the AWS
/// CLI writes `dpopKey`. For tests and stand-ins that lay out cache files.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A new P-256 key as the PEM `aws login` writes (`sec1` true: `EC PRIVATE KEY`) or as PKCS#8
/// (`PRIVATE KEY`). For tests and stand-ins; ssofresh itself never makes keys.
pub fn generate_pem(sec1: bool) -> String {
    use aws_lc_rs::encoding::AsDer;
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key");
    if sec1 {
        let der = pair.private_key().as_der().expect("SEC1 DER");
        pem("EC PRIVATE KEY", der.as_ref())
    } else {
        let doc = pair.to_pkcs8v1().expect("PKCS#8 DER");
        pem("PRIVATE KEY", doc.as_ref())
    }
}

/// What a verifier learns from a valid proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedProof {
    /// The header's JWK coordinates (the key the refresh token is bound to).
    pub x: String,
    pub y: String,
    pub htm: String,
    pub htu: String,
    pub iat: i64,
    pub jti: String,
}

/// Checks a proof as RFC 9449 §4.3 asks of a server: three base64url parts, `typ` `dpop+jwt`,
/// `alg` `ES256`, a public EC P-256 JWK (no `d`), and an ES256 signature that holds against
/// that JWK. Returns the claims for the caller to judge (`htm`, `htu`, `iat`, `jti`). Used by
/// the tests' Sign-In stand-in; independent of [`DpopKey`]'s signing code.
pub fn check_proof(proof: &str) -> Result<CheckedProof, String> {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
    let parts: Vec<&str> = proof.split('.').collect();
    let [h, c, s] = parts[..] else {
        return Err("not three parts".into());
    };
    let decode = |p: &str| {
        URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|e| format!("base64url: {e}"))
    };
    let header: serde_json::Value =
        serde_json::from_slice(&decode(h)?).map_err(|e| format!("header: {e}"))?;
    let claims: serde_json::Value =
        serde_json::from_slice(&decode(c)?).map_err(|e| format!("claims: {e}"))?;
    let text = |v: &serde_json::Value, k: &str| v[k].as_str().map(str::to_owned);
    if text(&header, "typ").as_deref() != Some("dpop+jwt") {
        return Err("typ is not dpop+jwt".into());
    }
    if text(&header, "alg").as_deref() != Some("ES256") {
        return Err("alg is not ES256".into());
    }
    let jwk = &header["jwk"];
    if text(jwk, "kty").as_deref() != Some("EC") || text(jwk, "crv").as_deref() != Some("P-256") {
        return Err("jwk is not an EC P-256 key".into());
    }
    if jwk.get("d").is_some() {
        return Err("jwk holds a private part".into());
    }
    let (x, y) = (
        text(jwk, "x").ok_or("jwk has no x")?,
        text(jwk, "y").ok_or("jwk has no y")?,
    );
    let (xb, yb) = (decode(&x)?, decode(&y)?);
    if xb.len() != 32 || yb.len() != 32 {
        return Err("jwk x or y is not 32 bytes".into());
    }
    let mut point = vec![4u8];
    point.extend_from_slice(&xb);
    point.extend_from_slice(&yb);
    let sig = decode(s)?;
    if sig.len() != 64 {
        return Err("signature is not 64 bytes r||s".into());
    }
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
        .verify(format!("{h}.{c}").as_bytes(), &sig)
        .map_err(|_| "signature does not hold against the header's jwk".to_owned())?;
    Ok(CheckedProof {
        x,
        y,
        htm: text(&claims, "htm").ok_or("no htm")?,
        htu: text(&claims, "htu").ok_or("no htu")?,
        iat: claims["iat"].as_i64().ok_or("no integer iat")?,
        jti: text(&claims, "jti").ok_or("no jti")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both PEM forms load; a proof's signature holds against the JWK in its own header, the
    /// JWK is the key's public part, and the claims are what was asked for.
    #[test]
    fn proofs_verify_for_sec1_and_pkcs8_keys() {
        let now = DateTime::from_timestamp(1_764_000_000, 0).expect("time");
        for sec1 in [true, false] {
            let pem = generate_pem(sec1);
            assert!(pem.contains(if sec1 {
                "EC PRIVATE KEY"
            } else {
                "BEGIN PRIVATE KEY"
            }));
            let key = DpopKey::from_pem(&pem).expect("loads");
            let url = "http://127.0.0.1:18443/v1/token";
            let proof = key.proof(url, now).expect("signs");
            let checked = check_proof(proof.expose()).expect("verifies");
            assert_eq!((checked.x.clone(), checked.y.clone()), key.jwk_xy());
            assert_eq!(checked.x.len(), 43);
            assert_eq!(checked.htm, "POST");
            assert_eq!(checked.htu, url);
            assert_eq!(checked.iat, 1_764_000_000);
            assert_eq!(checked.jti.len(), 36);
            assert_eq!(&checked.jti[14..15], "4", "UUID v4");
        }
    }

    /// Every proof has its own `jti`; a tampered proof (claims swapped, or another key's
    /// header) fails verification, so the check in the stand-in can fail.
    #[test]
    fn fresh_jti_and_tampering_detected() {
        let now = Utc::now();
        let a = DpopKey::from_pem(&generate_pem(true)).expect("a");
        let b = DpopKey::from_pem(&generate_pem(true)).expect("b");
        let p1 = a.proof("https://x/v1/token", now).expect("p1");
        let p2 = a.proof("https://x/v1/token", now).expect("p2");
        let j = |p: &Secret| check_proof(p.expose()).expect("ok").jti;
        assert_ne!(j(&p1), j(&p2));
        let other = b.proof("https://x/v1/token", now).expect("pb");
        let p1p: Vec<&str> = p1.expose().split('.').collect();
        let obp: Vec<&str> = other.expose().split('.').collect();
        let mixed = format!("{}.{}.{}", obp[0], p1p[1], p1p[2]);
        assert!(
            check_proof(&mixed)
                .expect_err("fails")
                .contains("does not hold")
        );
        assert!(check_proof("a.b").is_err());
    }

    /// Keys that are not PEM or not P-256 are refused with a message that shows nothing of
    /// the key; the Debug of a loaded key is redacted.
    #[test]
    fn bad_keys_and_redaction() {
        assert_eq!(DpopKey::from_pem("").expect_err("fails"), KeyError::NotPem);
        assert_eq!(
            DpopKey::from_pem(
                "-----BEGIN EC PRIVATE KEY-----\n!!!\n-----END EC PRIVATE KEY-----\n"
            )
            .expect_err("fails"),
            KeyError::NotPem
        );
        assert_eq!(
            DpopKey::from_pem(&pem("EC PRIVATE KEY", b"not a key")).expect_err("fails"),
            KeyError::NotP256
        );
        let key = DpopKey::from_pem(&generate_pem(false)).expect("loads");
        assert_eq!(format!("{key:?}"), "DpopKey(** redacted **)");
        let proof = key.proof("https://x/v1/token", Utc::now()).expect("p");
        assert_eq!(format!("{proof:?}"), "** redacted **");
    }
}
