//! Who the client is: the connection's peer address, or, when the peer is a trusted proxy,
//! the address that proxy reports (`Forwarded`, else `X-Forwarded-For`). Every rate limit and
//! the access log use it. Headers from anyone else are ignored: a client could write any
//! address there.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use actix_web::http::header::HeaderMap;
use actix_web::HttpRequest;
use ipnet::IpNet;

use crate::auth::audit::{Actor, Event, Origin, Record};
use crate::auth::sessions::SignInMethod;
use crate::db::sessions::SessionOrigin;
use crate::errors::{ApiError, ApiResult};
use crate::limits::Rule;
use crate::state::{AppState, WithDb};

/// Requests of each client address in progress, capped (`server.max_concurrent_requests_per_ip`)
/// so that one client holding many slow requests open (a slowloris) cannot take every
/// connection and file the server has.
pub struct InFlight {
    per_client: dashmap::DashMap<String, usize>,
    max: usize,
}

impl InFlight {
    pub fn new(max: usize) -> Self {
        Self {
            per_client: dashmap::DashMap::new(),
            max,
        }
    }

    /// A place for one more request of `client`, given back when the guard drops; `None` when
    /// the client already has `max` in progress.
    pub fn enter(self: &std::sync::Arc<Self>, client: String) -> Option<InFlightGuard> {
        let mut count = self.per_client.entry(client.clone()).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        drop(count);
        Some(InFlightGuard {
            in_flight: self.clone(),
            client,
        })
    }
}

pub struct InFlightGuard {
    in_flight: std::sync::Arc<InFlight>,
    client: String,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.in_flight
            .per_client
            .remove_if_mut(&self.client, |_, count| {
                *count -= 1;
                *count == 0
            });
    }
}

/// Middleware: refuses a request at once (429, before its body is read) when its client
/// already has the maximum number of requests in progress.
pub async fn cap_in_flight(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let Some(state) = req.app_data::<actix_web::web::Data<AppState>>().cloned() else {
        return next.call(req).await.map(|r| r.map_into_left_body());
    };
    let Some(in_flight) = &state.in_flight else {
        return next.call(req).await.map(|r| r.map_into_left_body());
    };
    let client = limit_key(
        state
            .proxies
            .client_ip(req.peer_addr().map(|a| a.ip()), req.headers()),
    );
    let Some(_guard) = in_flight.enter(client) else {
        let refused = ApiError::rate_limited(std::time::Duration::from_secs(1));
        let mut response = actix_web::ResponseError::error_response(&refused);
        // Its body is not read: the connection cannot be reused.
        response
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        return Ok(req.into_response(response).map_into_right_body());
    };
    next.call(req).await.map(|r| r.map_into_left_body())
}

/// What the session list shows of a new session's client: the sign-in method and the
/// request's origin (`request_origin`).
pub fn session_origin(
    state: &AppState,
    req: &HttpRequest,
    method: SignInMethod<'_>,
) -> SessionOrigin {
    let Origin { ip, user_agent } = request_origin(state, req);
    SessionOrigin {
        method: method.label(),
        user_agent,
        ip,
    }
}

/// The address from the trusted-proxy rule, and the user agent cut to `MAX_USER_AGENT`
/// characters with control characters dropped: what sessions and audit events keep.
pub fn request_origin(state: &AppState, req: &HttpRequest) -> Origin {
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_USER_AGENT)
        .collect();
    Origin {
        ip: client_ip(state, req).to_string(),
        user_agent,
    }
}

const MAX_USER_AGENT: usize = 200;

pub fn client_ip(state: &AppState, req: &HttpRequest) -> IpAddr {
    state
        .proxies
        .client_ip(req.peer_addr().map(|a| a.ip()), req.headers())
}

/// Counts this request against `rule` for its client address; 429 `rate_limited` when over.
/// Returns the address, which later checks (the lockout) need too.
pub async fn limit_client(state: &AppState, req: &HttpRequest, rule: Rule) -> ApiResult<IpAddr> {
    let ip = client_ip(state, req);
    limit(state, req, rule, &limit_key(ip)).await?;
    Ok(ip)
}

/// Counts this request against `rule` for `key`; 429 `rate_limited` when over, and then, for
/// the first refusal of that key in a minute, a `rate_limit.triggered` audit event.
pub async fn limit(state: &AppState, req: &HttpRequest, rule: Rule, key: &str) -> ApiResult<()> {
    let Err(limited) = state.limits.check(rule, key).await else {
        return Ok(());
    };
    if state.limits.first_report(rule, key).await {
        let origin = request_origin(state, req);
        let user_id = key.strip_prefix("user:").map(str::to_owned);
        // Like every write: in the write turn on SQLite, behind the database's admission.
        let recorded = match req.app_data::<actix_web::web::Data<AppState>>() {
            Some(data) => {
                data.db_write(move |conn, _| {
                    Record::new(Event::RateLimitTriggered, user_id.as_deref())
                        .by(Actor::System)
                        .detail("rule", rule.name())
                        .write(conn, &origin)?;
                    Ok(())
                })
                .await
            }
            None => Err(ApiError::internal("no application state")),
        };
        if let Err(error) = recorded {
            log::warn!("cannot record a rate_limit.triggered event: {}", error.code);
        }
    }
    Err(ApiError::rate_limited(limited.retry_after))
}

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// CIDRs (`10.0.0.0/8`, `fd00::/8`) or single addresses.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is not an IP address or CIDR"))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address. The hops a trusted proxy reports are read from the right (the
    /// hop nearest to us) and the first one that is not itself a trusted proxy is the client;
    /// anything further left was written by the client and is not believed.
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
        let Some(peer) = peer.map(canonical) else {
            return IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        };
        if !self.trusts(peer) {
            return peer;
        }
        let mut nearest_trusted = peer;
        for hop in reported_hops(headers).into_iter().rev() {
            match hop {
                Some(ip) if self.trusts(ip) => nearest_trusted = ip,
                Some(ip) => return ip,
                // An obfuscated or malformed hop: nothing left of it can be believed.
                None => return nearest_trusted,
            }
        }
        nearest_trusted
    }
}

/// The `for=` hops of every `Forwarded` header in order, or else those of `X-Forwarded-For`.
fn reported_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name: &str| {
        headers
            .get_all(name)
            .map(|value| value.to_str().unwrap_or("\u{0}").to_owned())
            .collect::<Vec<_>>()
    };
    let forwarded = values("forwarded");
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|value| value.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, node)| parse_node(node))
            })
            .collect();
    }
    values("x-forwarded-for")
        .iter()
        .flat_map(|value| value.split(','))
        .map(parse_node)
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:80`, `"[2001:db8::1]:443"`, `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok().map(canonical);
    }
    let (host, _port) = node.rsplit_once(':')?;
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// An IPv4 address written as IPv6 (`::ffff:192.0.2.1`, what a dual-stack socket reports) is
/// the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The key rate limits count a client under: its IPv4 address, or its IPv6 /64 (one
/// subscriber's usual allocation, inside which it can pick any address it likes).
pub fn limit_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", Ipv6Addr::from(prefix))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn headers_are_believed_only_from_trusted_proxies() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), "fd00::1".into()]).unwrap();
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4")]);
        // Straight from a client: its own address, whatever it claims.
        assert_eq!(
            proxies.client_ip(Some(ip("203.0.113.9")), &spoofed),
            ip("203.0.113.9")
        );
        // Through the proxy: the rightmost hop that is not a proxy.
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.1.1.1")]);
        assert_eq!(
            proxies.client_ip(Some(ip("10.0.0.2")), &chain),
            ip("198.51.100.7")
        );
        let split = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        assert_eq!(
            proxies.client_ip(Some(ip("10.0.0.2")), &split),
            ip("198.51.100.7")
        );
        // Forwarded wins over X-Forwarded-For, with ports, quotes and IPv6.
        let forwarded = headers(&[
            (
                "forwarded",
                "for=6.6.6.6, for=\"[2001:db8::7]:4711\";proto=https",
            ),
            ("x-forwarded-for", "5.5.5.5"),
        ]);
        assert_eq!(
            proxies.client_ip(Some(ip("fd00::1")), &forwarded),
            ip("2001:db8::7")
        );
        let with_port = headers(&[("forwarded", "for=\"198.51.100.7:8080\"")]);
        assert_eq!(
            proxies.client_ip(Some(ip("10.0.0.2")), &with_port),
            ip("198.51.100.7")
        );
        // An obfuscated hop stops the walk at the nearest trusted hop.
        let hidden = headers(&[("forwarded", "for=6.6.6.6, for=_hidden")]);
        assert_eq!(
            proxies.client_ip(Some(ip("10.0.0.2")), &hidden),
            ip("10.0.0.2")
        );
        // No header: the proxy itself.
        assert_eq!(
            proxies.client_ip(Some(ip("10.0.0.2")), &HeaderMap::new()),
            ip("10.0.0.2")
        );
        // Dual-stack sockets report IPv4 clients as mapped IPv6.
        assert_eq!(
            proxies.client_ip(Some(ip("::ffff:203.0.113.9")), &spoofed),
            ip("203.0.113.9")
        );
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::parse(&["proxy.internal".into()]).is_err());
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        assert_eq!(limit_key(ip("203.0.113.9")), "203.0.113.9");
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(
            limit_key(ip("2001:db8:1:2:ffff::9")),
            limit_key(ip("2001:db8:1:2::1"))
        );
    }
}
