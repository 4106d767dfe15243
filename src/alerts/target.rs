//! Where a webhook may point. A rule's URL is chosen by whoever holds a write key; without
//! this check it could make the server POST into the internal network (request forgery):
//! loopback, private, link-local, shared, unspecified and multicast addresses are refused
//! unless the configuration allows private targets. The check runs when a rule is saved and
//! again before each delivery, on every address the name resolves to.

use std::net::{IpAddr, ToSocketAddrs};

use ureq::http::Uri;

/// Why a webhook URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook url: {0}")]
pub struct TargetError(pub String);

/// Whether webhooks may reach private and loopback addresses (`allow_private_webhooks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TargetPolicy {
    pub allow_private: bool,
}

impl TargetPolicy {
    /// Checks `url` (http or https, with a host) and what its host resolves to now.
    pub fn check(&self, url: &str) -> Result<(), TargetError> {
        let refuse = |why: String| Err(TargetError(why));
        let Ok(uri) = url.parse::<Uri>() else { return refuse("not a valid URL".into()) };
        let port = match uri.scheme_str() {
            Some("http") => 80,
            Some("https") => 443,
            _ => return refuse("expected an http:// or https:// URL".into()),
        };
        let Some(authority) = uri.authority() else { return refuse("no host".into()) };
        if authority.as_str().contains('@') {
            return refuse("credentials in the URL are not accepted; the secret signs each delivery".into());
        }
        let after_host = &authority.as_str()[authority.host().len()..];
        if !after_host.is_empty() && after_host.strip_prefix(':').and_then(|p| p.parse::<u16>().ok()).is_none() {
            return refuse(format!("port `{}` is not a number", after_host.trim_start_matches(':')));
        }
        let port = authority.port_u16().unwrap_or(port);
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return refuse("no host".into());
        }
        let addresses: Vec<IpAddr> = match (host, port).to_socket_addrs() {
            Ok(found) => found.map(|a| a.ip()).collect(),
            Err(err) => return refuse(format!("`{host}` does not resolve: {err}")),
        };
        if addresses.is_empty() {
            return refuse(format!("`{host}` resolves to no address"));
        }
        if !self.allow_private {
            if let Some(internal) = addresses.iter().find(|ip| is_internal(ip)) {
                return refuse(format!(
                    "`{host}` resolves to {internal}, an internal address; set allow_private_webhooks to allow it"
                ));
            }
        }
        Ok(())
    }
}

fn is_internal(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                // 100.64.0.0/10, carrier-grade NAT (shared address space).
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7 unique local, fe80::/10 link-local.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal(&IpAddr::V4(v4)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_targets_are_refused_unless_allowed() {
        let strict = TargetPolicy::default();
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://10.1.2.3/",
            "http://192.168.0.10/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:8080/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
        ] {
            assert!(strict.check(url).is_err(), "{url}");
            assert!(TargetPolicy { allow_private: true }.check(url).is_ok(), "{url}");
        }
        for url in ["ftp://example.com/", "http://user:pw@8.8.8.8/", "https://", "http://8.8.8.8:port/"] {
            assert!(TargetPolicy { allow_private: true }.check(url).is_err(), "{url}");
        }
        assert!(strict.check("https://8.8.8.8/hook").is_ok());
    }
}
