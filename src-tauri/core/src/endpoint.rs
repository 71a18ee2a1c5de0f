//! A mail server endpoint written as text, `HOST:PORT[:tls|starttls|plain]`, as administrators
//! type it (`exo-setup server endpoints --imap …`). Syntax only: whether the host may be used —
//! a real host name, encryption off only on this computer — is `org::set_server_endpoints`'s check.

use crate::DetailKey;
use std::str::FromStr;

use crate::error::{Actor, ErrorKind, UiError};
use crate::model::{Endpoint, Security};

/// Text that is not `HOST:PORT[:tls|starttls|plain]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{spec}' is not HOST:PORT[:tls|starttls|plain]")]
pub struct EndpointSyntaxError {
    pub spec: String,
}

impl EndpointSyntaxError {
    /// `endpoint_invalid` for the administrator, naming the protocol (`imap`, `pop3`, `smtp`).
    pub fn into_ui(self, protocol: &str) -> UiError {
        UiError::new(ErrorKind::EndpointInvalid, Actor::Admin, format!("--{protocol} {self}."))
            .with(DetailKey::Protocol, protocol)
            .with(DetailKey::Host, &self.spec)
            .with(DetailKey::Port, "")
    }
}

/// `HOST:PORT[:SECURITY]`; without a security, TLS.
impl FromStr for Endpoint {
    type Err = EndpointSyntaxError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        parse(spec, None, Security::Tls)
    }
}

/// `HOST[:PORT[:SECURITY]]`, the parts left out taken from `default` (e.g. Exchange Online's
/// endpoint of the same protocol: IMAP 993 TLS, POP3 995 TLS, SMTP 587 STARTTLS).
pub fn parse_with_defaults(spec: &str, default: &Endpoint) -> Result<Endpoint, EndpointSyntaxError> {
    parse(spec, Some(default.port), default.security)
}

fn parse(spec: &str, default_port: Option<u16>, default_security: Security) -> Result<Endpoint, EndpointSyntaxError> {
    let bad = || EndpointSyntaxError { spec: spec.to_owned() };
    let mut parts = spec.split(':');
    let host = parts.next().filter(|h| !h.is_empty()).ok_or_else(bad)?.to_owned();
    let port = match (parts.next(), default_port) {
        (Some(p), _) => p.parse::<u16>().map_err(|_| bad())?,
        (None, Some(port)) => port,
        (None, None) => return Err(bad()),
    };
    let security = match parts.next() {
        None => default_security,
        Some("tls") => Security::Tls,
        Some("starttls") => Security::Starttls,
        Some("plain") => Security::Plain,
        Some(_) => return Err(bad()),
    };
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(Endpoint { host, port, security })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(host: &str, port: u16, security: Security) -> Endpoint {
        Endpoint { host: host.into(), port, security }
    }

    #[test]
    fn host_port_and_security_are_read() {
        assert_eq!("mail.example:993".parse(), Ok(ep("mail.example", 993, Security::Tls)));
        assert_eq!("127.0.0.1:10143:plain".parse(), Ok(ep("127.0.0.1", 10143, Security::Plain)));
        assert_eq!("smtp.example:587:starttls".parse(), Ok(ep("smtp.example", 587, Security::Starttls)));
        assert_eq!("smtp.example:465:tls".parse(), Ok(ep("smtp.example", 465, Security::Tls)));
    }

    #[test]
    fn anything_else_is_a_syntax_error_naming_the_text() {
        for bad in ["", ":993", "host", "host:", "host:99999", "host:-1", "host:993:ssl", "host:993:tls:x", "a:b"] {
            assert_eq!(bad.parse::<Endpoint>(), Err(EndpointSyntaxError { spec: bad.into() }), "{bad:?}");
        }
    }

    #[test]
    fn left_out_parts_come_from_the_default() {
        let smtp = ep("smtp.office365.com", 587, Security::Starttls);
        assert_eq!(parse_with_defaults("gw.example", &smtp), Ok(ep("gw.example", 587, Security::Starttls)));
        assert_eq!(parse_with_defaults("gw.example:2525", &smtp), Ok(ep("gw.example", 2525, Security::Starttls)));
        assert_eq!(parse_with_defaults("gw.example:465:tls", &smtp), Ok(ep("gw.example", 465, Security::Tls)));
        assert!(parse_with_defaults("gw.example:x", &smtp).is_err());
        assert!(parse_with_defaults("", &smtp).is_err());
    }

    #[test]
    fn the_error_tells_the_administrator_which_option_is_wrong() {
        let e = "host:993:ssl".parse::<Endpoint>().unwrap_err().into_ui("imap");
        assert_eq!((e.kind, e.actor), (ErrorKind::EndpointInvalid, Actor::Admin));
        assert_eq!(e.message, "--imap 'host:993:ssl' is not HOST:PORT[:tls|starttls|plain].");
        assert_eq!(e.detail.get(&DetailKey::Protocol).map(String::as_str), Some("imap"));
    }
}
