//! Base64, base32 and digests. Decoding failures are not template errors in sprig: the
//! function returns Go's error text as its result.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use gotemplate::{Funcs, Value};
use sha1::Digest as _;

use crate::args::{Arity::*, from_bytes, register as add, string, text};

pub(crate) fn register(funcs: &mut Funcs) {
    add(funcs, "b64enc", Exact(1), |a| {
        Ok(text(GO_BASE64.encode(string(&a[0])?)))
    });
    add(funcs, "b64dec", Exact(1), |a| {
        Ok(decoded(base64_decode(string(&a[0])?)))
    });
    add(funcs, "b32enc", Exact(1), |a| {
        Ok(text(base32_encode(string(&a[0])?.as_bytes())))
    });
    add(funcs, "b32dec", Exact(1), |a| {
        Ok(decoded(base32_decode(string(&a[0])?)))
    });
    add(funcs, "sha1sum", Exact(1), |a| {
        Ok(text(hex::encode(sha1::Sha1::digest(string(&a[0])?))))
    });
    add(funcs, "sha256sum", Exact(1), |a| {
        Ok(text(hex::encode(sha2::Sha256::digest(string(&a[0])?))))
    });
    add(funcs, "sha512sum", Exact(1), |a| {
        Ok(text(hex::encode(sha2::Sha512::digest(string(&a[0])?))))
    });
    add(funcs, "adler32sum", Exact(1), |a| {
        Ok(text(adler32(string(&a[0])?.as_bytes()).to_string()))
    });
}

/// Go's `base64.StdEncoding`: padded, and lenient about the unused bits of the last symbol.
const GO_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

fn decoded(result: Result<Vec<u8>, String>) -> Value {
    match result {
        Ok(bytes) => from_bytes(&bytes),
        Err(message) => text(message),
    }
}

/// Go skips line breaks in encoded input.
fn without_newlines(s: &str) -> String {
    s.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let input = without_newlines(s);
    GO_BASE64.decode(&input).map_err(|e| {
        let offset = match e {
            base64::DecodeError::InvalidByte(offset, _)
            | base64::DecodeError::InvalidLastSymbol(offset, _) => offset,
            base64::DecodeError::InvalidLength(len) => len - len % 4,
            base64::DecodeError::InvalidPadding => input.find('=').unwrap_or(0),
        };
        format!("illegal base64 data at input byte {offset}")
    })
}

const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Go's `base32.StdEncoding`: RFC 4648 with `=` padding.
fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for block in bytes.chunks(5) {
        let mut buffer = [0u8; 5];
        buffer[..block.len()].copy_from_slice(block);
        let bits = buffer.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
        let symbols = (block.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < symbols {
                out.push(char::from(
                    BASE32_ALPHABET[(bits >> (35 - 5 * i) & 31) as usize],
                ));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base32_decode(s: &str) -> Result<Vec<u8>, String> {
    let input = without_newlines(s);
    let bytes = input.as_bytes();
    let corrupt = |offset: usize| format!("illegal base32 data at input byte {offset}");
    if !bytes.len().is_multiple_of(8) {
        return Err(corrupt(bytes.len() - bytes.len() % 8));
    }
    let mut out = Vec::new();
    for (block_index, block) in bytes.chunks(8).enumerate() {
        let start = block_index * 8;
        let data_len = block.iter().position(|&b| b == b'=').unwrap_or(8);
        let is_last = start + 8 == bytes.len();
        if data_len < 8 && (!is_last || !matches!(data_len, 2 | 4 | 5 | 7)) {
            return Err(corrupt(start + data_len));
        }
        if let Some(bad) = block[data_len..].iter().position(|&b| b != b'=') {
            return Err(corrupt(start + data_len + bad));
        }
        let mut bits = 0u64;
        for (i, &b) in block[..data_len].iter().enumerate() {
            let value = BASE32_ALPHABET
                .iter()
                .position(|&a| a == b)
                .ok_or_else(|| corrupt(start + i))?;
            bits |= (value as u64) << (35 - 5 * i);
        }
        let byte_count = data_len * 5 / 8;
        out.extend((0..byte_count).map(|i| (bits >> (32 - 8 * i)) as u8));
    }
    Ok(out)
}

fn adler32(bytes: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in bytes {
        a = (a + u32::from(byte)) % MOD;
        b = (b + a) % MOD;
    }
    b << 16 | a
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;

    #[test]
    fn base64_round_trip_and_errors() {
        assert_eq!(out("b64enc", &[s("my secret")]), "bXkgc2VjcmV0");
        assert_eq!(out("b64dec", &[s("bXkgc2VjcmV0")]), "my secret");
        assert_eq!(out("b64dec", &[s("bXkg\nc2VjcmV0")]), "my secret");
        assert_eq!(out("b64dec", &[s("YR==")]), "a");
        assert_eq!(
            out("b64dec", &[s("a!cd")]),
            "illegal base64 data at input byte 1"
        );
        assert_eq!(
            out("b64dec", &[s("abc")]),
            "illegal base64 data at input byte 0"
        );
    }

    #[test]
    fn base32_round_trip_and_errors() {
        assert_eq!(out("b32enc", &[s("my secret")]), "NV4SA43FMNZGK5A=");
        assert_eq!(out("b32enc", &[s("f")]), "MY======");
        assert_eq!(out("b32enc", &[s("foobar")]), "MZXW6YTBOI======");
        assert_eq!(out("b32dec", &[s("NV4SA43FMNZGK5A=")]), "my secret");
        assert_eq!(out("b32dec", &[s("MZXW6YTBOI======")]), "foobar");
        assert_eq!(
            out("b32dec", &[s("MZXW6YT1")]),
            "illegal base32 data at input byte 7"
        );
    }

    #[test]
    fn digests() {
        assert_eq!(
            out("sha1sum", &[s("abc")]),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            out("sha256sum", &[s("abc")]),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(out("sha512sum", &[s("abc")]).starts_with("ddaf35a193617aba"));
        assert_eq!(out("adler32sum", &[s("Wikipedia")]), "300286872");
        assert_eq!(
            args_err("sha256sum", &[f(1.0)]),
            "wrong type for value; expected string; got float64"
        );
    }
}
