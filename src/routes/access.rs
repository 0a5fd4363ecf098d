//! Every request's id, its access-log line and its count in the metrics, in one middleware: the
//! outermost, so that the status is the one the client gets and the time covers every layer.

use std::borrow::Cow;
use std::future::Future;
use std::rc::Rc;
use std::time::Instant;

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::HttpRequest;

use super::client_ip::TrustedProxies;
use crate::metrics::{HttpMetrics, RouteMetrics};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The log target of the access lines (`RUST_LOG=authd::access=off` silences them).
pub const LOG_TARGET: &str = "authd::access";
/// The longest `X-Request-Id` taken from a client.
const MAX_REQUEST_ID: usize = 128;

#[derive(Clone)]
pub struct Access {
    /// `None`: requests are not counted (`metrics.enabled` off).
    pub metrics: Option<HttpMetrics>,
    /// Whether the access lines would be written at all; when not, nothing is formatted.
    pub log: bool,
    /// For the client address in the log, as the rate limits see it.
    pub proxies: TrustedProxies,
}

impl Access {
    /// For `App::wrap_fn`: passes the request on, then counts it, logs it and puts its id in
    /// the response.
    pub fn handle<S, B>(
        self: &Rc<Self>,
        req: ServiceRequest,
        service: &S,
    ) -> impl Future<Output = Result<ServiceResponse<B>, actix_web::Error>> + 'static
    where
        S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
        S::Future: 'static,
        B: MessageBody,
    {
        let request_id = taken_request_id(req.headers()).unwrap_or_else(new_request_id);
        let started = (self.metrics.is_some() || self.log).then(Instant::now);
        let response = service.call(req);
        let access = Rc::clone(self);
        async move {
            // Every layer inside answers refusals as responses (handlers' errors, CORS, the
            // in-flight cap, `metrics::split_listeners`); an `Err` would pass uncounted.
            let mut response = response.await?;
            if let Some(started) = started {
                access.record(&response, &request_id, started.elapsed().as_secs_f64());
            }
            response.headers_mut().insert(X_REQUEST_ID, request_id);
            Ok(response)
        }
    }

    fn record<B: MessageBody>(
        &self,
        response: &ServiceResponse<B>,
        request_id: &HeaderValue,
        seconds: f64,
    ) {
        let req = response.request();
        let status = response.status();
        let route_metrics = req.app_data::<RouteMetrics>();
        if let Some(http) = &self.metrics {
            let method = req.method().as_str();
            match route_metrics {
                Some(route) => {
                    route.observe(http, method, (status.as_u16(), status.as_str()), seconds)
                }
                None => http.observe(&route_of(req, None), method, status.as_str(), seconds),
            }
        }
        if self.log {
            let bytes = match response.response().body().size() {
                BodySize::Sized(bytes) => Some(bytes),
                BodySize::None => Some(0),
                BodySize::Stream => None,
            };
            self.log(
                req,
                route_of(req, route_metrics),
                status.as_u16(),
                bytes,
                request_id,
                seconds,
            );
        }
    }

    /// The path without the query string: nothing secret travels in authd's URLs, but the log
    /// should not depend on that staying true.
    fn log(
        &self,
        req: &HttpRequest,
        route: Cow<'_, str>,
        status: u16,
        bytes: Option<u64>,
        request_id: &HeaderValue,
        seconds: f64,
    ) {
        let client = self
            .proxies
            .client_ip(req.peer_addr().map(|a| a.ip()), req.headers())
            .to_string();
        let method = req.method().as_str();
        let path = req.path();
        // Taken only when printable ASCII, or made here: always text.
        let request_id = request_id.to_str().unwrap_or_default();
        let latency_ms = seconds * 1000.0;
        let size = bytes.map_or(Cow::Borrowed("-"), |b| Cow::Owned(b.to_string()));
        log::info!(
            target: LOG_TARGET,
            request_id, client = client.as_str(), method, path, route = route.as_ref(), status,
            bytes, latency_ms;
            "{client} \"{method} {path}\" {status} {size} {latency_ms:.3}ms {request_id}"
        );
    }
}

/// The route pattern the request matched, or `unmatched`.
fn route_of<'a>(req: &'a HttpRequest, route: Option<&'a RouteMetrics>) -> Cow<'a, str> {
    match route {
        Some(route) => Cow::Borrowed(route.route()),
        // Answered before routing (a CORS preflight, a refusal of the in-flight cap), or a
        // route that was not built by `routes::resource`.
        None => req
            .match_pattern()
            .map_or(Cow::Borrowed(crate::metrics::UNMATCHED), Cow::Owned),
    }
}

/// The client's `X-Request-Id`, when it is something a log can safely hold: 1 to 128
/// printable ASCII characters (no control characters, no bytes beyond ASCII).
fn taken_request_id(headers: &HeaderMap) -> Option<HeaderValue> {
    let value = headers.get(X_REQUEST_ID)?;
    let bytes = value.as_bytes();
    let sane = !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID
        && bytes.iter().all(|b| (0x20..=0x7e).contains(b));
    sane.then(|| value.clone())
}

/// A random (version 4) UUID, from the thread's generator rather than one system call each.
fn new_request_id() -> HeaderValue {
    let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut text))
        .expect("a UUID is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(value: &[u8]) -> Option<String> {
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_bytes(value).unwrap());
        taken_request_id(&headers).map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn only_sane_request_ids_are_taken() {
        assert_eq!(taken(b"abc-123_X.y:z").as_deref(), Some("abc-123_X.y:z"));
        assert_eq!(taken(&[b'a'; 128]).map(|v| v.len()), Some(128));
        assert_eq!(taken(&[b'a'; 129]), None);
        assert_eq!(taken(b"tab\there"), None);
        assert_eq!(taken("caf\u{e9}".as_bytes()), None);
        assert_eq!(taken(b""), None);
    }

    #[test]
    fn new_request_ids_are_version_4_uuids() {
        let id = new_request_id();
        let parsed = uuid::Uuid::parse_str(id.to_str().unwrap()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_ne!(new_request_id(), id);
    }
}
