//! Polling authd's revocation feed (`GET /api/auth/revocations?since=<cursor>`): the sessions
//! revoked and the users' "not before" times, each remembered for the feed's horizon (an
//! access token's lifetime: after that every token it could refuse has expired anyway). A
//! failed poll keeps what is known and tries again at the next interval.

use std::collections::HashMap;
use std::sync::{Mutex, Weak};
use std::time::Duration;

use serde::Deserialize;

use crate::{unix_now, AccessClaims, VerifyError};

pub struct RevocationFeed {
    http: reqwest::Client,
    url: String,
    secret: String,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    cursor: Option<String>,
    /// sid → when the entry may be forgotten (unix seconds).
    sessions: HashMap<String, i64>,
    /// sub → (not before, forget after).
    users: HashMap<String, (i64, i64)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    sessions: Vec<SessionEntry>,
    users: Vec<UserEntry>,
    cursor: String,
    more: bool,
    horizon_secs: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionEntry {
    sid: String,
    revoked_at: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserEntry {
    sub: String,
    not_before: i64,
}

impl std::fmt::Debug for RevocationFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationFeed")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl RevocationFeed {
    pub(crate) fn new(http: reqwest::Client, url: String, secret: String) -> Self {
        Self {
            http,
            url,
            secret,
            state: Mutex::new(State::default()),
        }
    }

    /// Refuses the token of a revoked session, or of a user whose tokens issued before a
    /// time (logout everywhere, password change, deactivation) are revoked.
    pub fn check(&self, claims: &AccessClaims) -> Result<(), VerifyError> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.sessions.contains_key(&claims.sid) {
            return Err(VerifyError::Revoked("the session was revoked"));
        }
        if let Some((not_before, _)) = state.users.get(&claims.sub) {
            if claims.iat < *not_before {
                return Err(VerifyError::Revoked(
                    "the user's tokens issued before a logout everywhere, password change or deactivation are revoked",
                ));
            }
        }
        Ok(())
    }

    /// Reads the feed from the last cursor until no page is full.
    pub(crate) async fn poll_once(&self) -> Result<(), String> {
        loop {
            let cursor = self
                .state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .cursor
                .clone();
            let mut request = self.http.get(&self.url).bearer_auth(&self.secret);
            if let Some(cursor) = &cursor {
                request = request.query(&[("since", cursor)]);
            }
            let response = request
                .send()
                .await
                .map_err(|e| format!("{}: {e}", self.url))?;
            if !response.status().is_success() {
                return Err(format!("{}: HTTP {}", self.url, response.status()));
            }
            let page: Page = response
                .json()
                .await
                .map_err(|e| format!("{}: {e}", self.url))?;
            let more = page.more;
            self.apply(page);
            if !more {
                return Ok(());
            }
        }
    }

    fn apply(&self, page: Page) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = unix_now();
        state.sessions.retain(|_, forget_at| *forget_at > now);
        state.users.retain(|_, (_, forget_at)| *forget_at > now);
        for session in page.sessions {
            state
                .sessions
                .insert(session.sid, session.revoked_at + page.horizon_secs);
        }
        for user in page.users {
            let entry = state.users.entry(user.sub).or_insert((i64::MIN, 0));
            entry.0 = entry.0.max(user.not_before);
            entry.1 = entry.1.max(user.not_before + page.horizon_secs);
        }
        state.cursor = Some(page.cursor);
    }

    /// Polls every `interval` until the feed is dropped.
    pub(crate) fn keep_polling(feed: Weak<Self>, interval: Duration) {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(feed) = feed.upgrade() else {
                    return;
                };
                if let Err(error) = feed.poll_once().await {
                    log::warn!("authd-verify: revocation feed: {error}");
                }
            }
        });
    }
}
