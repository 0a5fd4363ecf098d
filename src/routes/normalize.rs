//! Trailing slashes are optional and repeated slashes count as one, so Django-era clients
//! (`/api/auth/user/`) reach the same routes. This replaces actix's `NormalizePath`, which runs
//! a regex over every path and copies it; here a path that is already normal costs one scan.

use actix_web::dev::ServiceRequest;
use actix_web::http::uri::{PathAndQuery, Uri};

/// Rewrites the request's path to its normal form, when it is not already normal.
pub fn normalize_path(req: &mut ServiceRequest) {
    let Some(path) = normalized(req.path()) else {
        return;
    };
    let head = req.head_mut();
    let mut parts = head.uri.clone().into_parts();
    let path_and_query = match parts.path_and_query.as_ref().and_then(|pq| pq.query()) {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    // The new path is a subsequence of a valid one, so it parses; if it somehow did not,
    // the request keeps its original path and meets a 404.
    let Ok(path_and_query) = PathAndQuery::try_from(path_and_query) else {
        return;
    };
    parts.path_and_query = Some(path_and_query);
    let Ok(uri) = Uri::from_parts(parts) else {
        return;
    };
    // Routing has not started yet, so nothing has been matched against the old path.
    req.match_info_mut().get_mut().update(&uri);
    req.head_mut().uri = uri;
}

/// The normal form of `path` (no trailing slash, no repeated slashes; the root stays `/`), or
/// `None` when `path` is already normal.
fn normalized(path: &str) -> Option<String> {
    let trailing = path.len() > 1 && path.ends_with('/');
    if !trailing && !path.contains("//") {
        return None;
    }
    let mut out = String::with_capacity(path.len());
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() {
        out.push('/');
    }
    (out != path).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::normalized;

    #[test]
    fn normal_paths_are_left_alone_and_others_are_rewritten() {
        for path in ["/", "/healthz", "/api/auth/me", "", "relative"] {
            assert_eq!(normalized(path), None, "{path}");
        }
        for (path, expected) in [
            ("/api/auth/me/", "/api/auth/me"),
            ("/api/auth/me///", "/api/auth/me"),
            ("//api//auth/me", "/api/auth/me"),
            ("//", "/"),
            ("///", "/"),
        ] {
            assert_eq!(normalized(path).as_deref(), Some(expected), "{path}");
        }
    }
}
