use oci_client::secrets::RegistryAuth;

/// Credentials for a registry, from `--creds`, a Secret or the Docker configuration.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub enum Credentials {
    #[default]
    Anonymous,
    Basic {
        username: String,
        password: String,
    },
    /// A registry token (`--creds` without a `:`, or an identity token).
    Token(String),
}

impl std::fmt::Debug for Credentials {
    // Never print secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Self::Token(_) => f.write_str("Token(***)"),
        }
    }
}

impl Credentials {
    /// `--creds <username>[:<password>]`: a value without `:` is a registry token, as in flux.
    pub fn from_creds_flag(creds: &str) -> Self {
        match creds.split_once(':') {
            Some((username, password)) => Self::Basic {
                username: username.to_owned(),
                password: password.to_owned(),
            },
            None => Self::Token(creds.to_owned()),
        }
    }

    /// The Docker configuration's credentials for `registry` (`auths`, `credsStore`,
    /// `credHelpers`), or anonymous when it has none.
    pub fn from_docker_config(registry: &str) -> Self {
        match docker_credential::get_credential(registry) {
            Ok(docker_credential::DockerCredential::UsernamePassword(username, password)) => {
                Self::Basic { username, password }
            }
            Ok(docker_credential::DockerCredential::IdentityToken(token)) => Self::Token(token),
            Err(e) => {
                tracing::debug!(registry, error = %e, "no docker credentials");
                Self::Anonymous
            }
        }
    }

    pub(crate) fn registry_auth(&self) -> RegistryAuth {
        match self {
            Self::Anonymous => RegistryAuth::Anonymous,
            Self::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            Self::Token(token) => RegistryAuth::Bearer(token.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creds_flag_is_basic_with_a_colon_and_a_token_without() {
        assert_eq!(
            Credentials::from_creds_flag("user:pa:ss"),
            Credentials::Basic {
                username: "user".into(),
                password: "pa:ss".into()
            }
        );
        assert_eq!(
            Credentials::from_creds_flag("tok"),
            Credentials::Token("tok".into())
        );
        assert_eq!(
            format!("{:?}", Credentials::from_creds_flag("u:secret")),
            "Basic(u, ***)"
        );
    }
}
