//! Who may call what: API keys with scopes, and which hosts and browser origins are served.
//!
//! A key grants one or more scopes: `read` (search, reading verbatims), `write` (ingestion,
//! analysis) and `admin` (erasure and its audit record). Keys are configured as `KEY` (every
//! scope, as keys were before scopes existed) or `KEY:SCOPE+SCOPE`. Browsers add two risks a
//! plain API client does not have: a page on another site can send writes with the user's
//! network position (cross-site requests), and DNS rebinding can point a foreign name at a
//! service on loopback. The [`HostPolicy`] answers both from the `Host` and `Origin` headers.

use std::net::{IpAddr, SocketAddr};

use actix_web::http::Method;

/// What a key may do. Scopes are independent: `admin` does not imply `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The scope an operation needs: erasure, its audit record and a customer's data export
    /// are `admin`, other reads `read`, other changes (cancelling a job, naming a topic
    /// included) `write`. `None`: any valid key will do (the answer is a 405).
    pub fn required(method: &Method, path: &str) -> Option<Scope> {
        let erases = ["/v1/verbatims/", "/v1/customers/"].iter().any(|erased| path.starts_with(erased));
        if path == "/v1/erasures" || path.starts_with("/v1/customers/") || (*method == Method::DELETE && erases) {
            return Some(Scope::Admin);
        }
        match *method {
            Method::GET | Method::HEAD => Some(Scope::Read),
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE => Some(Scope::Write),
            _ => None,
        }
    }
}

/// One configured key and what it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub secret: String,
    pub scopes: Vec<Scope>,
}

impl ApiKey {
    /// Reads `KEY` (every scope) or `KEY:SCOPE+SCOPE`.
    pub fn parse(spec: &str) -> Result<ApiKey, String> {
        let (secret, scopes) = match spec.rsplit_once(':') {
            Some((secret, scopes)) => {
                let scopes = scopes
                    .split('+')
                    .map(|name| {
                        Scope::parse(name.trim())
                            .ok_or_else(|| format!("API key scope `{name}` is not one of read, write, admin"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                (secret, scopes)
            }
            None => (spec, Scope::ALL.to_vec()),
        };
        let secret = secret.trim();
        if secret.is_empty() || secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("an API key is empty or holds white space".to_string());
        }
        Ok(ApiKey { secret: secret.to_string(), scopes })
    }

    pub fn grants(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// Which `Host` names and browser `Origin`s the server answers.
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    /// Host names (without port) accepted in `Host`; `None` accepts any.
    hosts: Option<Vec<String>>,
    /// Origins (`scheme://host[:port]`) allowed to send writes besides the server's own.
    origins: Vec<String>,
}

impl HostPolicy {
    /// `allowed_hosts` as configured (`*` accepts any). Unconfigured, a server on loopback
    /// answers only loopback names (what DNS rebinding needs it to refuse); one on another
    /// address cannot know the names it is reached by, so it accepts any.
    pub fn new(addr: SocketAddr, allowed_hosts: &[String], allowed_origins: &[String]) -> HostPolicy {
        let hosts = if allowed_hosts.iter().any(|h| h == "*") {
            None
        } else if !allowed_hosts.is_empty() {
            Some(allowed_hosts.iter().map(|h| normalise_host(strip_port(h.trim()))).collect())
        } else if addr.ip().is_loopback() {
            let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
            names.push(normalise_host(&addr.ip().to_string()));
            Some(names)
        } else {
            None
        };
        HostPolicy {
            hosts,
            origins: allowed_origins.iter().map(|o| o.trim_end_matches('/').to_ascii_lowercase()).collect(),
        }
    }

    /// Whether a request with this `Host` header is for us. HTTP/1.1 requires the header;
    /// a request without one is judged by the loopback rule as if it named no host.
    pub fn host_allowed(&self, host: Option<&str>) -> bool {
        let Some(hosts) = &self.hosts else { return true };
        host.is_some_and(|host| hosts.contains(&normalise_host(strip_port(host))))
    }

    /// Whether a browser at `origin` may send this request: reads always (the browser keeps
    /// their answers from the foreign page), writes only from our own origin or a configured one.
    pub fn origin_allowed(&self, method: &Method, origin: &str, host: Option<&str>) -> bool {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return true;
        }
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        let same_origin = origin
            .split_once("://")
            .is_some_and(|(_, authority)| host.is_some_and(|host| authority == host.to_ascii_lowercase()));
        same_origin || self.origins.contains(&origin)
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

fn normalise_host(host: &str) -> String {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']').trim_end_matches('.');
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => host.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_their_scopes() {
        assert_eq!(ApiKey::parse("k").unwrap().scopes, Scope::ALL.to_vec());
        let key = ApiKey::parse("s3cr:et:read+write").unwrap();
        assert_eq!(key.secret, "s3cr:et");
        assert!(key.grants(Scope::Write) && !key.grants(Scope::Admin));
        assert!(ApiKey::parse("k:root").is_err());
        assert!(ApiKey::parse(":read").is_err());
        assert_eq!(ApiKey::parse(" admin-key :admin").unwrap().secret, "admin-key");
        assert!(ApiKey::parse("two words").is_err());
    }

    #[test]
    fn erasure_is_admin_reading_is_read_writing_is_write() {
        assert_eq!(Scope::required(&Method::DELETE, "/v1/customers/{customer_id}"), Some(Scope::Admin));
        assert_eq!(Scope::required(&Method::GET, "/v1/erasures"), Some(Scope::Admin));
        assert_eq!(Scope::required(&Method::GET, "/v1/customers/c1/export"), Some(Scope::Admin));
        assert_eq!(Scope::required(&Method::GET, "/v1/search"), Some(Scope::Read));
        assert_eq!(Scope::required(&Method::POST, "/v1/analyze"), Some(Scope::Write));
        assert_eq!(Scope::required(&Method::TRACE, "/v1/verbatims"), None);
        assert_eq!(Scope::required(&Method::PUT, "/v1/alerts/rules/1"), Some(Scope::Write));
        assert_eq!(Scope::required(&Method::PATCH, "/v1/topics/3"), Some(Scope::Write));
        assert_eq!(Scope::required(&Method::DELETE, "/v1/jobs/job_1"), Some(Scope::Write));
        assert_eq!(Scope::required(&Method::DELETE, "/v1/verbatims/v1"), Some(Scope::Admin));
    }

    #[test]
    fn loopback_servers_answer_loopback_names_only() {
        let policy = HostPolicy::new("127.0.0.1:8080".parse().unwrap(), &[], &[]);
        for host in ["127.0.0.1:8080", "localhost:8080", "LOCALHOST", "[::1]:8080"] {
            assert!(policy.host_allowed(Some(host)), "{host}");
        }
        assert!(!policy.host_allowed(Some("evil.example:8080")));
        assert!(!policy.host_allowed(None));
        let open = HostPolicy::new("0.0.0.0:8080".parse().unwrap(), &[], &[]);
        assert!(open.host_allowed(Some("verbatim.internal")));
        let listed = HostPolicy::new("0.0.0.0:8080".parse().unwrap(), &["cx.internal:443".into()], &[]);
        assert!(listed.host_allowed(Some("CX.internal:443")) && !listed.host_allowed(Some("other")));
    }

    #[test]
    fn foreign_origins_may_read_but_not_write() {
        let policy = HostPolicy::new("127.0.0.1:8080".parse().unwrap(), &[], &["https://cx.example".into()]);
        let host = Some("127.0.0.1:8080");
        assert!(policy.origin_allowed(&Method::GET, "https://evil.example", host));
        assert!(!policy.origin_allowed(&Method::POST, "https://evil.example", host));
        assert!(!policy.origin_allowed(&Method::POST, "null", host));
        assert!(policy.origin_allowed(&Method::POST, "http://127.0.0.1:8080", host));
        assert!(policy.origin_allowed(&Method::DELETE, "https://cx.example/", host));
    }
}
