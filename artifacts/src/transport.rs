//! TLS material and proxies named by Secrets (`certSecretRef`, `proxySecretRef`), read as
//! Flux reads them, and the HTTP clients they configure.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use reqwest::Url;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("secret '{secret}': {reason}")]
    Invalid { secret: String, reason: String },
    #[error("building the HTTP client: {0}")]
    Client(String),
}

fn invalid(secret: &str, reason: impl Into<String>) -> TransportError {
    TransportError::Invalid {
        secret: secret.to_owned(),
        reason: reason.into(),
    }
}

/// The certificates of a `certSecretRef`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsMaterial {
    /// PEM CA certificates to trust besides the system roots (`ca.crt`).
    pub ca_pem: Option<Vec<u8>>,
    /// A PEM client certificate and its key (`tls.crt`, `tls.key`).
    pub client: Option<ClientCertificate>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientCertificate {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl ClientCertificate {
    fn identity(&self) -> Result<reqwest::Identity, reqwest::Error> {
        let mut pem = self.cert_pem.clone();
        pem.push(b'\n');
        pem.extend_from_slice(&self.key_pem);
        reqwest::Identity::from_pem(&pem)
    }
}

fn value<'a>(data: &'a BTreeMap<String, ByteString>, keys: &[&str]) -> Option<&'a [u8]> {
    keys.iter()
        .find_map(|key| data.get(*key))
        .map(|v| v.0.as_slice())
        .filter(|v| !v.is_empty())
}

impl TlsMaterial {
    /// Reads `ca.crt`, `tls.crt` and `tls.key` (or the legacy `caFile`, `certFile`,
    /// `keyFile`) of the Secret `secret`, checking that they parse.
    pub fn from_secret(
        secret: &str,
        data: &BTreeMap<String, ByteString>,
    ) -> Result<Self, TransportError> {
        let ca_pem = value(data, &["ca.crt", "caFile"]).map(<[u8]>::to_vec);
        if let Some(pem) = &ca_pem {
            let certificates = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| invalid(secret, format!("'ca.crt' is not PEM certificates: {e}")))?;
            if certificates.is_empty() {
                return Err(invalid(secret, "'ca.crt' holds no PEM certificate"));
            }
        }
        let client = match (
            value(data, &["tls.crt", "certFile"]),
            value(data, &["tls.key", "keyFile"]),
        ) {
            (Some(cert), Some(key)) => {
                let client = ClientCertificate {
                    cert_pem: cert.to_vec(),
                    key_pem: key.to_vec(),
                };
                client.identity().map_err(|e| {
                    invalid(
                        secret,
                        format!("'tls.crt' and 'tls.key' are not a PEM certificate and key: {e}"),
                    )
                })?;
                Some(client)
            }
            (Some(_), None) => return Err(invalid(secret, "has 'tls.crt' but no 'tls.key'")),
            (None, Some(_)) => return Err(invalid(secret, "has 'tls.key' but no 'tls.crt'")),
            (None, None) => None,
        };
        if ca_pem.is_none() && client.is_none() {
            return Err(invalid(
                secret,
                "has neither 'ca.crt' nor a 'tls.crt' and 'tls.key' pair",
            ));
        }
        Ok(Self { ca_pem, client })
    }
}

/// The proxy of a `proxySecretRef`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxy {
    pub address: Url,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl Proxy {
    /// Reads `address` (required), `username` and `password` of the Secret `secret`.
    pub fn from_secret(
        secret: &str,
        data: &BTreeMap<String, ByteString>,
    ) -> Result<Self, TransportError> {
        let text = |key| value(data, &[key]).map(|v| String::from_utf8_lossy(v).trim().to_owned());
        let address = text("address").ok_or_else(|| invalid(secret, "has no 'address' key"))?;
        Ok(Self {
            address: Self::parse_address(secret, &address)?,
            username: text("username"),
            password: text("password"),
        })
    }

    /// A proxy given only by its URL (the deprecated `spec.proxy` of Providers).
    pub fn from_url(field: &str, url: &str) -> Result<Self, TransportError> {
        Ok(Self {
            address: Self::parse_address(field, url)?,
            username: None,
            password: None,
        })
    }

    fn parse_address(source: &str, address: &str) -> Result<Url, TransportError> {
        // A bare host:port is an HTTP proxy, as Go's http.ProxyURL reads it.
        let with_scheme = if address.contains("://") {
            address.to_owned()
        } else {
            format!("http://{address}")
        };
        Url::parse(&with_scheme)
            .map_err(|e| invalid(source, format!("invalid proxy address '{address}': {e}")))
    }

    /// The proxy URL with its credentials in it (percent-encoded), for clients that take
    /// only a URL. Never log it.
    pub fn url_with_credentials(&self) -> String {
        let mut url = self.address.clone();
        if let Some(user) = &self.username {
            // Setting credentials only fails on URLs without a host, which parse_address
            // cannot produce for an http(s) proxy.
            let _ = url.set_username(user);
            let _ = url.set_password(self.password.as_deref());
        }
        url.to_string()
    }
}

/// Equality that takes the same time wherever the inputs differ (tokens, passwords).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An HTTP client that trusts `tls`'s CA, presents its client certificate, and goes through
/// `proxy` (instead of the environment's proxies).
pub fn http_client(
    tls: Option<&TlsMaterial>,
    proxy: Option<&Proxy>,
) -> Result<reqwest::Client, TransportError> {
    let error = |e: reqwest::Error| TransportError::Client(crate::oci::error_chain(&e));
    let mut builder = reqwest::Client::builder();
    if let Some(tls) = tls {
        if let Some(pem) = &tls.ca_pem {
            builder =
                builder.tls_certs_merge(reqwest::Certificate::from_pem_bundle(pem).map_err(error)?);
        }
        if let Some(client) = &tls.client {
            builder = builder.identity(client.identity().map_err(error)?);
        }
    }
    if let Some(proxy) = proxy {
        let mut all = reqwest::Proxy::all(proxy.address.clone()).map_err(error)?;
        if let Some(user) = &proxy.username {
            all = all.basic_auth(user, proxy.password.as_deref().unwrap_or_default());
        }
        builder = builder.proxy(all);
    }
    builder.build().map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
            .collect()
    }

    #[test]
    fn proxies_need_an_address_and_carry_encoded_credentials() {
        let proxy = Proxy::from_secret(
            "proxy",
            &data(&[
                ("address", "proxy.local:3128"),
                ("username", "flux"),
                ("password", "p@ss word"),
            ]),
        )
        .unwrap();
        assert_eq!(proxy.address.as_str(), "http://proxy.local:3128/");
        assert_eq!(
            proxy.url_with_credentials(),
            "http://flux:p%40ss%20word@proxy.local:3128/"
        );
        let err = Proxy::from_secret("proxy", &data(&[("username", "u")])).unwrap_err();
        assert_eq!(err.to_string(), "secret 'proxy': has no 'address' key");
        assert!(
            Proxy::from_secret("proxy", &data(&[("address", "http://[::1")]))
                .unwrap_err()
                .to_string()
                .contains("invalid proxy address")
        );
    }

    #[test]
    fn constant_time_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn tls_material_must_be_complete_and_parse() {
        let err = TlsMaterial::from_secret("tls", &data(&[("tls.crt", "x")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "secret 'tls': has 'tls.crt' but no 'tls.key'"
        );
        let err = TlsMaterial::from_secret("tls", &data(&[])).unwrap_err();
        assert!(err.to_string().contains("neither 'ca.crt'"), "{err}");
        let err = TlsMaterial::from_secret("tls", &data(&[("ca.crt", "not pem")])).unwrap_err();
        assert!(err.to_string().contains("'ca.crt'"), "{err}");
    }
}
