//! Signed JSON values: an Ed25519 signature appended to a JSON object as its last field,
//! over the exact bytes of the object without it.
//!
//! `{"id":"…",…}` signed is `{"id":"…",…,"signature":{"key":"O…","sig":"…"}}`. Readers
//! that do not check signatures (`/job` listings) parse the whole value and ignore the
//! extra field; a verifier cuts the field off and checks the signature over the bytes
//! that remain, exactly as they were signed: no canonical JSON is needed, so whatever
//! the payload holds (floats, key order) cannot make a good signature fail.
//!
//! Each kind of value has its own domain tag in the signed message, so a signature made
//! for an answer can never pass as one for a job record.

use base64::Engine;
use nkeys::KeyPair;
use serde::{Deserialize, Serialize};

/// What a signature is for; part of the signed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// A job record written by the controller.
    JobRecord,
    /// A host's answer written by an agent.
    JobResponse,
}

impl Domain {
    fn tag(self) -> &'static [u8] {
        match self {
            Self::JobRecord => b"osapi job record v1\n",
            Self::JobResponse => b"osapi job response v1\n",
        }
    }
}

/// The appended field.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Signature {
    /// The signer's public NKey.
    key: String,
    /// Base64 (standard, padded) Ed25519 signature of the domain tag + body.
    sig: String,
}

const FIELD: &[u8] = b",\"signature\":";

/// Why a signed value was not accepted. The messages end up in job answers and events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("it is not signed")]
    Unsigned,
    #[error("its signature is malformed")]
    Malformed,
    #[error("it is signed with {0}, a key not trusted here")]
    Untrusted(String),
    #[error("its signature does not match its content (signed by {0}): it was altered")]
    BadSignature(String),
    #[error("no trusted key is configured: {0}")]
    NoTrustedKey(String),
}

/// Signing failed (a key pair without its seed).
#[derive(Debug, thiserror::Error)]
#[error("cannot sign: {0}")]
pub struct SignError(String);

fn message(domain: Domain, body: &[u8]) -> Vec<u8> {
    [domain.tag(), body].concat()
}

/// `body` (a serialised, non-empty JSON object) with its signature by `pair` appended.
pub fn sign(pair: &KeyPair, domain: Domain, body: &[u8]) -> Result<Vec<u8>, SignError> {
    let open = match body.split_last() {
        Some((b'}', open)) if open.len() > 1 && open[0] == b'{' => open,
        _ => return Err(SignError("the value is not a non-empty JSON object".into())),
    };
    let sig = pair
        .sign(&message(domain, body))
        .map_err(|e| SignError(e.to_string()))?;
    let field = Signature {
        key: pair.public_key(),
        sig: base64::engine::general_purpose::STANDARD.encode(sig),
    };
    let field = serde_json::to_vec(&field).map_err(|e| SignError(e.to_string()))?;
    Ok([open, FIELD, &field, b"}"].concat())
}

/// `bytes` split into the signed body and its signature: the signature is the last
/// `,"signature":` field (one inside the body is in a string, and comes before it).
fn split(bytes: &[u8]) -> Result<(Vec<u8>, Signature), Refusal> {
    let bytes = bytes.trim_ascii_end();
    let at = bytes
        .windows(FIELD.len())
        .rposition(|w| w == FIELD)
        .ok_or(Refusal::Unsigned)?;
    let Some((b'}', field)) = bytes[at + FIELD.len()..].split_last() else {
        return Err(Refusal::Malformed);
    };
    let signature: Signature = serde_json::from_slice(field).map_err(|_| Refusal::Malformed)?;
    Ok(([&bytes[..at], b"}"].concat(), signature))
}

/// The body of `bytes` when it carries a valid signature of `domain` by one of `trusted`
/// (public keys). Parse the body, never `bytes`: only the body was signed.
pub fn open(bytes: &[u8], domain: Domain, trusted: &[String]) -> Result<Vec<u8>, Refusal> {
    let (body, signature) = split(bytes)?;
    if !trusted.iter().any(|k| k == &signature.key) {
        return Err(Refusal::Untrusted(signature.key));
    }
    let pair = KeyPair::from_public_key(&signature.key).map_err(|_| Refusal::Malformed)?;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(&signature.sig)
        .map_err(|_| Refusal::Malformed)?;
    pair.verify(&message(domain, &body), &sig)
        .map_err(|_| Refusal::BadSignature(signature.key))?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> KeyPair {
        KeyPair::new_operator()
    }

    #[test]
    fn a_signed_value_opens_to_its_exact_body_and_still_parses_whole() {
        let k = pair();
        let body =
            br#"{"id":"j1","data":{"z":1.1000000000000001,"a":[1,2]},"s":",\"signature\":"}"#;
        let signed = sign(&k, Domain::JobRecord, body).expect("sign");
        let whole: serde_json::Value = serde_json::from_slice(&signed).expect("still JSON");
        assert_eq!(whole["id"], "j1");
        let opened = open(&signed, Domain::JobRecord, &[k.public_key()]).expect("open");
        assert_eq!(opened, body);
        assert!(sign(&k, Domain::JobRecord, b"{}").is_err());
    }

    #[test]
    fn unsigned_untrusted_altered_and_cross_domain_values_are_refused() {
        let (k, other) = (pair(), pair());
        let trusted = [k.public_key()];
        let body = br#"{"op":"command.exec","args":["true"]}"#;
        assert_eq!(
            open(body, Domain::JobRecord, &trusted),
            Err(Refusal::Unsigned)
        );
        let by_other = sign(&other, Domain::JobRecord, body).expect("sign");
        assert_eq!(
            open(&by_other, Domain::JobRecord, &trusted),
            Err(Refusal::Untrusted(other.public_key()))
        );
        let signed = sign(&k, Domain::JobRecord, body).expect("sign");
        let altered = String::from_utf8(signed.clone())
            .expect("utf8")
            .replace("true", "reboot");
        assert_eq!(
            open(altered.as_bytes(), Domain::JobRecord, &trusted),
            Err(Refusal::BadSignature(k.public_key()))
        );
        assert_eq!(
            open(&signed, Domain::JobResponse, &trusted),
            Err(Refusal::BadSignature(k.public_key()))
        );
        let mut extra = signed[..signed.len() - 1].to_vec();
        extra.extend_from_slice(br#","more":1}"#);
        assert!(open(&extra, Domain::JobRecord, &trusted).is_err());
        assert_eq!(
            open(
                br#"{"a":1,"signature":{"key":1}}"#,
                Domain::JobRecord,
                &trusted
            ),
            Err(Refusal::Malformed)
        );
    }
}
