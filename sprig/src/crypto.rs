//! Randomness, password hashing and certificates. Keys and certificates come out as Go's
//! `crypto/x509` and `encoding/pem` write them: RSA keys as PKCS#1 (`RSA PRIVATE KEY`), ECDSA
//! keys as SEC1 with the curve named (`EC PRIVATE KEY`), Ed25519 keys as PKCS#8.

use std::net::IpAddr;
use std::sync::Arc;

use aes::cipher::block_padding::{NoPadding, Pkcs7};
use aes::cipher::{BlockDecryptMut as _, BlockEncryptMut as _, KeyIvInit as _};
use base64::Engine as _;
use gotemplate::{FuncError, FuncResult, Funcs, Object, Value};
use hmac::Mac as _;
use rand::Rng as _;
use rand::RngCore as _;
use rand::rngs::OsRng;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};

use crate::args::{Arity::*, call_error, int, register as add, slice, string, text, wrong_type};

pub(crate) fn register(funcs: &mut Funcs) {
    add(funcs, "randAlphaNum", Exact(1), |a| {
        Ok(text(random_text(int(&a[0])?, |c| {
            c.is_ascii_alphanumeric()
        })))
    });
    add(funcs, "randAlpha", Exact(1), |a| {
        Ok(text(random_text(int(&a[0])?, |c| c.is_ascii_alphabetic())))
    });
    add(funcs, "randNumeric", Exact(1), |a| {
        Ok(text(random_text(int(&a[0])?, |c| c.is_ascii_digit())))
    });
    add(funcs, "randAscii", Exact(1), |a| {
        Ok(text(random_text(int(&a[0])?, |c| (' '..='~').contains(&c))))
    });
    add(funcs, "randBytes", Exact(1), |a| {
        let count = usize::try_from(int(&a[0])?)
            .map_err(|_| call_error("runtime error: makeslice: len out of range"))?;
        let mut bytes = vec![0u8; count];
        OsRng.fill_bytes(&mut bytes);
        Ok(text(
            base64::engine::general_purpose::STANDARD.encode(bytes),
        ))
    });
    add(funcs, "uuidv4", Exact(0), |_| {
        Ok(text(uuid::Uuid::new_v4().to_string()))
    });
    add(funcs, "bcrypt", Exact(1), |a| {
        Ok(text(bcrypt_hash(string(&a[0])?)))
    });
    add(funcs, "htpasswd", Exact(2), |a| {
        let (user, password) = (string(&a[0])?, string(&a[1])?);
        Ok(text(if user.contains(':') {
            format!("invalid username: {user}")
        } else {
            format!("{user}:{}", bcrypt_hash(password))
        }))
    });
    add(funcs, "derivePassword", Exact(5), derive_password);
    add(funcs, "genPrivateKey", Exact(1), |a| {
        Ok(text(generate_private_key(string(&a[0])?)))
    });
    add(funcs, "buildCustomCert", Exact(2), build_custom_cert);
    add(funcs, "genCA", Exact(2), |a| {
        generate_ca(string(&a[0])?, int(&a[1])?, new_rsa_key()?)
    });
    add(funcs, "genCAWithKey", Exact(3), |a| {
        let key = parse_key(string(&a[2])?)
            .map_err(|e| call_error(format!("parsing private key: {e}")))?;
        generate_ca(string(&a[0])?, int(&a[1])?, key)
    });
    add(funcs, "genSelfSignedCert", Exact(4), |a| {
        self_signed(a, new_rsa_key()?)
    });
    add(funcs, "genSelfSignedCertWithKey", Exact(5), |a| {
        let key = parse_key(string(&a[4])?)
            .map_err(|e| call_error(format!("parsing private key: {e}")))?;
        self_signed(a, key)
    });
    add(funcs, "genSignedCert", Exact(5), |a| {
        signed(a, new_rsa_key()?)
    });
    add(funcs, "genSignedCertWithKey", Exact(6), |a| {
        let key = parse_key(string(&a[5])?)
            .map_err(|e| call_error(format!("parsing private key: {e}")))?;
        signed(a, key)
    });
    add(funcs, "encryptAES", Exact(2), |a| {
        encrypt_aes(string(&a[0])?, string(&a[1])?)
    });
    add(funcs, "decryptAES", Exact(2), |a| {
        decrypt_aes(string(&a[0])?, string(&a[1])?)
    });
}

/// goutils' crypto-random strings: `count` characters drawn uniformly from those printable
/// ASCII characters that `keep` accepts; nothing for a negative count.
fn random_text(count: i64, keep: fn(char) -> bool) -> String {
    let alphabet: Vec<char> = (' '..='~').filter(|&c| keep(c)).collect();
    let count = usize::try_from(count).unwrap_or(0);
    (0..count)
        .map(|_| alphabet[OsRng.gen_range(0..alphabet.len())])
        .collect()
}

/// Go's bcrypt at its default cost, with Go's `$2a$` prefix; failures come back as text.
fn bcrypt_hash(password: &str) -> String {
    if password.len() > 72 {
        return "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes"
            .into();
    }
    // Go's bcrypt.DefaultCost (the crate's default is higher).
    match bcrypt::hash_with_result(password, 10) {
        Ok(hash) => hash.format_for_version(bcrypt::Version::TwoA),
        Err(e) => format!("failed to encrypt string with bcrypt: {e}"),
    }
}

/// Character classes of the Master Password algorithm's templates.
fn template_characters(class: u8) -> &'static [u8] {
    match class {
        b'V' => b"AEIOU",
        b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
        b'v' => b"aeiou",
        b'c' => b"bcdfghjklmnpqrstvwxyz",
        b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        b'n' => b"0123456789",
        b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
        _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    }
}

/// The Master Password templates for each password type.
fn password_templates(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return None,
    })
}

/// `derivePassword counter type password user site`: the Master Password algorithm
/// (scrypt key from password and user, HMAC-SHA256 seed from site and counter).
fn derive_password(a: &[Value]) -> FuncResult {
    let counter = u32::try_from(int(&a[0])?).map_err(|_| wrong_type("uint32", &a[0]))?;
    let (kind, password, user, site) = (
        string(&a[1])?,
        string(&a[2])?,
        string(&a[3])?,
        string(&a[4])?,
    );
    let Some(templates) = password_templates(kind) else {
        return Ok(text(format!("cannot find password template {kind}")));
    };
    const SEED: &[u8] = b"com.lyndir.masterpassword";
    let scoped = |name: &str| {
        let mut buffer = SEED.to_vec();
        buffer.extend_from_slice(&(name.len() as u32).to_be_bytes());
        buffer.extend_from_slice(name.as_bytes());
        buffer
    };
    let mut key = [0u8; 64];
    let params = scrypt::Params::new(15, 8, 2, 64).map_err(|e| call_error(e.to_string()))?;
    if let Err(e) = scrypt::scrypt(password.as_bytes(), &scoped(user), &params, &mut key) {
        return Ok(text(format!("failed to derive password: {e}")));
    }
    let mut message = scoped(site);
    message.extend_from_slice(&counter.to_be_bytes());
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(|e| call_error(e.to_string()))?;
    mac.update(&message);
    let seed = mac.finalize().into_bytes();
    let template = templates[usize::from(seed[0]) % templates.len()];
    let password: String = template
        .bytes()
        .enumerate()
        .map(|(i, class)| {
            let characters = template_characters(class);
            char::from(characters[usize::from(seed[i + 1]) % characters.len()])
        })
        .collect();
    Ok(text(password))
}

/// PEM as Go's `encoding/pem` writes it.
fn pem_text(tag: &str, der: Vec<u8>) -> String {
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new(tag, der), config)
}

/// `genPrivateKey "rsa"|"ecdsa"|"ed25519"`: a new key in Go's PEM form, or sprig's message.
fn generate_private_key(kind: &str) -> String {
    let generated = match kind {
        "" | "rsa" => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096),
        "ecdsa" => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        "ed25519" => KeyPair::generate_for(&rcgen::PKCS_ED25519),
        "dsa" => return "failed to generate dsa params: DSA keys are not supported".into(),
        other => return format!("Unknown type {other}"),
    };
    match generated {
        Ok(key) => go_key_pem(&key),
        Err(e) => format!("failed to generate private key: {e}"),
    }
}

fn new_rsa_key() -> Result<KeyPair, FuncError> {
    KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .map_err(|e| call_error(format!("error generating rsa key: {e}")))
}

/// A DER element: tag, length, content.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// Splits one DER element off the front: (tag, content, rest).
fn der_read(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        let (bytes, after) = rest.split_at_checked(count)?;
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, &b| acc << 8 | usize::from(b))
    };
    let (content, rest) = rest.split_at_checked(len)?;
    Some((tag, content, rest))
}

/// The private key inside a PKCS#8 `PrivateKeyInfo`.
fn pkcs8_inner(pkcs8: &[u8]) -> Option<&[u8]> {
    let (_, info, _) = der_read(pkcs8)?;
    let (_, _, rest) = der_read(info)?; // version
    let (_, _, rest) = der_read(rest)?; // algorithm
    let (_, key, _) = der_read(rest)?;
    Some(key)
}

/// A key as Go's `pemBlockForKey` writes it.
fn go_key_pem(key: &KeyPair) -> String {
    let pkcs8 = key.serialize_der();
    let alg = key.algorithm();
    if alg == &rcgen::PKCS_ED25519 {
        // Go's PKCS#8 for Ed25519 is version 0 without the public key.
        let ed25519_oid = der(0x06, &[0x2b, 0x65, 0x70]);
        let seed = pkcs8_inner(&pkcs8).unwrap_or_default();
        let info = [der(0x02, &[0]), der(0x30, &ed25519_oid), der(0x04, seed)].concat();
        return pem_text("PRIVATE KEY", der(0x30, &info));
    }
    if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
        // SEC1 with the named curve and the public key, as x509.MarshalECPrivateKey writes.
        let inner = pkcs8_inner(&pkcs8).unwrap_or_default();
        let scalar = der_read(inner)
            .and_then(|(_, ec, _)| der_read(ec))
            .and_then(|(_, _, rest)| der_read(rest))
            .map(|(_, d, _)| d)
            .unwrap_or_default();
        let p256_oid = der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]);
        let public = der(0x03, &[&[0u8][..], key.public_key_raw()].concat());
        let ec = [
            der(0x02, &[1]),
            der(0x04, scalar),
            der(0xa0, &p256_oid),
            der(0xa1, &public),
        ]
        .concat();
        return pem_text("EC PRIVATE KEY", der(0x30, &ec));
    }
    pem_text(
        "RSA PRIVATE KEY",
        pkcs8_inner(&pkcs8).unwrap_or_default().to_vec(),
    )
}

/// `parsePrivateKeyPEM`: PKCS#8, PKCS#1 RSA or SEC1 EC keys.
fn parse_key(text_pem: &str) -> Result<KeyPair, String> {
    let block = pem::parse(text_pem).map_err(|_| "no PEM data in input".to_string())?;
    let tag = block.tag();
    if tag != "PRIVATE KEY" && !tag.ends_with(" PRIVATE KEY") {
        return Err(format!("no private key data in PEM block of type {tag}"));
    }
    KeyPair::try_from(block.contents()).map_err(|e| match tag {
        "PRIVATE KEY" => format!("decoding PEM as PKCS#8: {e}"),
        "RSA PRIVATE KEY" => format!("parsing RSA private key from PEM: {e}"),
        "EC PRIVATE KEY" => format!("parsing EC private key from PEM: {e}"),
        other => format!("invalid private key type {other}"),
    })
}

/// sprig's `certificate` struct: `.Cert` and `.Key` in PEM.
struct Certificate {
    cert: String,
    key: String,
}

const CERTIFICATE_TYPE: &str = "sprig.certificate";

impl Object for Certificate {
    fn type_name(&self) -> &str {
        CERTIFICATE_TYPE
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Cert" => Some(text(self.cert.as_str())),
            "Key" => Some(text(self.key.as_str())),
            _ => None,
        }
    }

    fn call(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }

    fn display(&self) -> String {
        format!("{{{} {}}}", self.cert, self.key)
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "Cert": self.cert, "Key": self.key })
    }
}

fn certificate(cert: String, key: String) -> Value {
    Value::Object(Arc::new(Certificate { cert, key }))
}

/// A `certificate` parameter's PEM texts.
fn certificate_param(value: &Value) -> Result<(String, String), FuncError> {
    let fields = match value {
        Value::Object(o) if o.type_name() == CERTIFICATE_TYPE => (o.field("Cert"), o.field("Key")),
        other => return Err(wrong_type(CERTIFICATE_TYPE, other)),
    };
    match fields {
        (Some(Value::String(cert)), Some(Value::String(key))) => {
            Ok((cert.to_string(), key.to_string()))
        }
        _ => Err(wrong_type(CERTIFICATE_TYPE, value)),
    }
}

/// sprig's base template: the common name, addresses, names, validity from now, key
/// encipherment and signature, server and client auth, and a random 128-bit serial.
fn base_params(
    cn: &str,
    ips: &[Value],
    names: &[Value],
    days: i64,
) -> Result<CertificateParams, FuncError> {
    let mut params = CertificateParams::default();
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, cn);
    params.distinguished_name = subject;
    for ip in ips {
        let Value::String(ip) = ip else {
            return Err(call_error(format!(
                "error parsing ip: {ip} is not a string"
            )));
        };
        let parsed: IpAddr = ip
            .parse()
            .map_err(|_| call_error(format!("error parsing ip: {ip}")))?;
        params.subject_alt_names.push(SanType::IpAddress(parsed));
    }
    for name in names {
        let Value::String(name) = name else {
            return Err(call_error(format!(
                "error processing alternate dns name: {name} is not a string"
            )));
        };
        let dns = name
            .to_string()
            .try_into()
            .map_err(|e| call_error(format!("error processing alternate dns name: {e}")))?;
        params.subject_alt_names.push(SanType::DnsName(dns));
    }
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now + time::Duration::hours(24 * days);
    params.key_usages = vec![
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.is_ca = IsCa::ExplicitNoCa;
    let mut serial = [0u8; 16];
    OsRng.fill_bytes(&mut serial);
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    Ok(params)
}

fn creation_error(e: rcgen::Error) -> FuncError {
    call_error(format!("error creating certificate: {e}"))
}

fn generate_ca(cn: &str, days: i64, key: KeyPair) -> FuncResult {
    let mut params = base_params(cn, &[], &[], days)?;
    params.key_usages.push(KeyUsagePurpose::KeyCertSign);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).map_err(creation_error)?;
    Ok(certificate(cert.pem(), go_key_pem(&key)))
}

/// `genSelfSignedCert cn ips names days`.
fn self_signed(a: &[Value], key: KeyPair) -> FuncResult {
    let params = base_params(string(&a[0])?, slice(&a[1])?, slice(&a[2])?, int(&a[3])?)?;
    let cert = params.self_signed(&key).map_err(creation_error)?;
    Ok(certificate(cert.pem(), go_key_pem(&key)))
}

/// `genSignedCert cn ips names days ca`.
fn signed(a: &[Value], key: KeyPair) -> FuncResult {
    let (cn, ips, names, days) = (string(&a[0])?, slice(&a[1])?, slice(&a[2])?, int(&a[3])?);
    let (ca_cert, ca_key) = certificate_param(&a[4])?;
    pem::parse(&ca_cert).map_err(|_| call_error("unable to decode certificate"))?;
    let signer_key =
        parse_key(&ca_key).map_err(|e| call_error(format!("error parsing private key: {e}")))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert, signer_key).map_err(|e| {
        call_error(format!(
            "error parsing certificate: decodedSignerCert.Bytes: {e}"
        ))
    })?;
    let params = base_params(cn, ips, names, days)?;
    let cert = params.signed_by(&key, &issuer).map_err(creation_error)?;
    Ok(certificate(cert.pem(), go_key_pem(&key)))
}

/// `buildCustomCert base64cert base64key`: checks both and wraps them as a certificate.
fn build_custom_cert(a: &[Value]) -> FuncResult {
    let decode = |s: &str| base64::engine::general_purpose::STANDARD.decode(s);
    let cert =
        decode(string(&a[0])?).map_err(|_| call_error("unable to decode base64 certificate"))?;
    let key =
        decode(string(&a[1])?).map_err(|_| call_error("unable to decode base64 private key"))?;
    let cert = String::from_utf8_lossy(&cert).into_owned();
    let key = String::from_utf8_lossy(&key).into_owned();
    let block = pem::parse(&cert).map_err(|_| call_error("unable to decode certificate"))?;
    x509_parser::parse_x509_certificate(block.contents())
        .map_err(|e| call_error(format!("error parsing certificate: decodedCert.Bytes: {e}")))?;
    parse_key(&key).map_err(|e| call_error(format!("error parsing private key: {e}")))?;
    Ok(certificate(cert, key))
}

/// The AES-256 key sprig derives from a password: its bytes, zero-padded or cut to 32.
fn aes_key(password: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    let bytes = password.as_bytes();
    let len = bytes.len().min(32);
    key[..len].copy_from_slice(&bytes[..len]);
    key
}

/// `encryptAES password text`: AES-256-CBC with PKCS#7 padding, a random IV in front, base64.
fn encrypt_aes(password: &str, plaintext: &str) -> FuncResult {
    if plaintext.is_empty() {
        return Ok(text(""));
    }
    let mut iv = [0u8; 16];
    OsRng.fill_bytes(&mut iv);
    let encryptor = cbc::Encryptor::<aes::Aes256>::new(&aes_key(password).into(), &iv.into());
    let ciphertext = encryptor.encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_bytes());
    Ok(text(
        base64::engine::general_purpose::STANDARD.encode([&iv[..], &ciphertext].concat()),
    ))
}

/// `decryptAES password base64`: the inverse of `encryptAES`; like sprig, the padding is
/// dropped by its last byte without checking it.
fn decrypt_aes(password: &str, encoded: &str) -> FuncResult {
    if encoded.is_empty() {
        return Ok(text(""));
    }
    let crypt = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| call_error(format!("illegal base64 data: {e}")))?;
    if crypt.len() < 16 {
        return Err(call_error(format!(
            "runtime error: slice bounds out of range [:16] with capacity {}",
            crypt.len()
        )));
    }
    let (iv, body) = crypt.split_at(16);
    let iv: [u8; 16] = iv.try_into().map_err(|_| call_error("invalid iv"))?;
    let decryptor = cbc::Decryptor::<aes::Aes256>::new(&aes_key(password).into(), &iv.into());
    let plain = decryptor
        .decrypt_padded_vec_mut::<NoPadding>(body)
        .map_err(|_| call_error("crypto/cipher: input not full blocks"))?;
    let pad = usize::from(plain.last().copied().unwrap_or(0));
    let end = plain.len().checked_sub(pad).ok_or_else(|| {
        call_error(format!(
            "runtime error: slice bounds out of range [:{}]",
            plain.len() as i64 - pad as i64
        ))
    })?;
    Ok(crate::args::from_bytes(&plain[..end]))
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;
    use gotemplate::Value;

    #[test]
    fn random_strings_have_the_asked_shape() {
        let alnum = out("randAlphaNum", &[i(40)]);
        assert!(
            alnum.len() == 40 && alnum.chars().all(|c| c.is_ascii_alphanumeric()),
            "{alnum}"
        );
        let alpha = out("randAlpha", &[i(20)]);
        assert!(
            alpha.len() == 20 && alpha.chars().all(|c| c.is_ascii_alphabetic()),
            "{alpha}"
        );
        let digits = out("randNumeric", &[i(20)]);
        assert!(
            digits.len() == 20 && digits.chars().all(|c| c.is_ascii_digit()),
            "{digits}"
        );
        let ascii = out("randAscii", &[i(50)]);
        assert!(
            ascii.len() == 50 && ascii.chars().all(|c| (' '..='~').contains(&c)),
            "{ascii}"
        );
        assert_eq!(out("randAlpha", &[i(-1)]), "");
        assert_eq!(
            args_err("randAlphaNum", &[f(3.0)]),
            "wrong type for value; expected int; got float64"
        );
        let uuid = out("uuidv4", &[]);
        let shape = regex::Regex::new(
            "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        )
        .unwrap();
        assert!(shape.is_match(&uuid), "{uuid}");
        assert_eq!(out("randBytes", &[i(12)]).len(), 16);
    }

    #[test]
    fn bcrypt_and_htpasswd() {
        let line = out("htpasswd", &[s("myUser"), s("myPassword")]);
        let (user, hash) = line.split_once(':').unwrap();
        assert_eq!(user, "myUser");
        assert!(hash.starts_with("$2a$10$"), "{hash}");
        assert!(bcrypt::verify("myPassword", hash).unwrap());
        assert_eq!(
            out("htpasswd", &[s("my:user"), s("pw")]),
            "invalid username: my:user"
        );
    }

    #[test]
    fn derive_password_matches_master_password() {
        let derive = |counter, kind| {
            out(
                "derivePassword",
                &[
                    i(counter),
                    s(kind),
                    s("password"),
                    s("user"),
                    s("example.com"),
                ],
            )
        };
        // One scrypt run only: it takes seconds in an unoptimised build.
        assert_eq!(derive(1, "long"), "ZedaFaxcZaso9*");
        assert_eq!(derive(1, "nope"), "cannot find password template nope");
    }

    #[test]
    fn private_keys_in_go_pem_forms() {
        assert!(
            out("genPrivateKey", &[s("ecdsa")]).starts_with("-----BEGIN EC PRIVATE KEY-----\n")
        );
        let ed = out("genPrivateKey", &[s("ed25519")]);
        assert!(ed.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{ed}");
        let der = pem::parse(&ed).unwrap();
        assert_eq!(
            der.contents().len(),
            48,
            "Go's PKCS#8 for Ed25519 is 48 bytes"
        );
        assert_eq!(out("genPrivateKey", &[s("foo")]), "Unknown type foo");
        let rsa = out("genPrivateKey", &[s("rsa")]);
        assert!(
            rsa.starts_with("-----BEGIN RSA PRIVATE KEY-----\n")
                && rsa.ends_with("-----END RSA PRIVATE KEY-----\n")
        );
        for key in [rsa, ed, out("genPrivateKey", &[s("ecdsa")])] {
            assert!(super::parse_key(&key).is_ok(), "re-reads {key}");
        }
    }

    #[test]
    fn certificates_chain_to_their_ca() {
        let ca = ok("genCA", &[s("my-ca"), i(365)]);
        let Value::Object(ca_object) = &ca else {
            panic!("not an object")
        };
        assert_eq!(ca.type_name(), "sprig.certificate");
        let ca_cert = ca_object.field("Cert").unwrap().to_string();
        assert!(ca_cert.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(
            ca_object
                .field("Key")
                .unwrap()
                .to_string()
                .starts_with("-----BEGIN RSA PRIVATE KEY-----\n")
        );
        let ips = list(vec![s("10.0.0.1")]);
        let names = list(vec![s("svc.example.com")]);
        let signed = ok(
            "genSignedCert",
            &[s("svc"), ips.clone(), names.clone(), i(30), ca.clone()],
        );
        let Value::Object(signed_object) = &signed else {
            panic!("not an object")
        };
        let signed_pem = signed_object.field("Cert").unwrap().to_string();
        let der = pem::parse(&signed_pem).unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(der.contents()).unwrap();
        assert_eq!(parsed.issuer().to_string(), "CN=my-ca");
        assert_eq!(parsed.subject().to_string(), "CN=svc");
        let names = parsed
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .len();
        assert_eq!(names, 2);
        let self_signed = ok(
            "genSelfSignedCert",
            &[s("me"), Value::Nil, list(vec![s("me.example.com")]), i(1)],
        );
        assert!(
            self_signed
                .to_string()
                .starts_with("{-----BEGIN CERTIFICATE-----")
        );
        assert_eq!(
            call_err(
                "genSelfSignedCert",
                &[s("me"), list(vec![s("x")]), Value::Nil, i(1)]
            ),
            "error parsing ip: x"
        );
        assert_eq!(
            args_err(
                "genSignedCert",
                &[s("svc"), ips, Value::Nil, i(30), s("ca")]
            ),
            "wrong type for value; expected sprig.certificate; got string"
        );
        let b64 = |text: String| {
            s(&base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                text,
            ))
        };
        let rebuilt = ok(
            "buildCustomCert",
            &[
                b64(ca_cert.clone()),
                b64(ca_object.field("Key").unwrap().to_string()),
            ],
        );
        assert_eq!(rebuilt.to_string(), ca.to_string());
        assert_eq!(
            call_err("buildCustomCert", &[s("!!"), s("")]),
            "unable to decode base64 certificate"
        );
    }

    #[test]
    fn aes_round_trip() {
        let encrypted = out("encryptAES", &[s("secretkey"), s("plaintext")]);
        assert_eq!(
            out("decryptAES", &[s("secretkey"), s(&encrypted)]),
            "plaintext"
        );
        assert_eq!(out("encryptAES", &[s("k"), s("")]), "");
    }
}
