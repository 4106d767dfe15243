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
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                // 0.0.0.0/8 "this network", 100.64.0.0/10 carrier-grade NAT, 192.0.0.0/24 IETF
                // protocol assignments, 198.18.0.0/15 benchmarking, 240.0.0.0/4 reserved.
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            // The IPv4 address some IPv6 forms carry: mapped and compatible (::ffff:a.b.c.d,
            // ::a.b.c.d), NAT64 (64:ff9b::/96), 6to4 (2002::/16, in the next 32 bits).
            let embedded = v6
                .to_ipv4()
                .or_else(|| (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4]).then(|| v4_of(s[6], s[7])))
                .or_else(|| (s[0] == 0x2002).then(|| v4_of(s[1], s[2])));
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7 unique local, fe80::/10 link-local, fec0::/10 site-local, 2001::/32
                // Teredo (a tunnel to any IPv4 address).
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x2001 && s[1] == 0)
                || embedded.is_some_and(|v4| is_internal(&IpAddr::V4(v4)))
        }
    }
}

fn v4_of(high: u16, low: u16) -> std::net::Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    std::net::Ipv4Addr::new(a, b, c, d)
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
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://[64:ff9b::a00:1]/",
            "http://[2002:c0a8:1::1]/",
            "http://[fec0::1]/",
            "http://198.18.0.1/",
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
