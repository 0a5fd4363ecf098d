//! A stand-in identity provider on loopback: discovery, a JWKS that can rotate, a token
//! endpoint that checks client credentials and PKCE, and a GitHub-like API. Tests issue codes
//! directly (no login page) and choose what the ID token says.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const CLIENT_ID: &str = "authd-test-client";
pub const CLIENT_SECRET: &str = "stand-in-secret";

#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    encoding: EncodingKey,
    pub public: Value,
}

impl SigningKey {
    pub fn generate(kid: &str) -> Self {
        use p256::pkcs8::{EncodePrivateKey, LineEnding};
        let pem = p256::SecretKey::random(&mut rand::rngs::OsRng)
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap();
        let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        Self {
            kid: kid.to_owned(),
            encoding,
            public: serde_json::to_value(jwk).unwrap(),
        }
    }
}

/// What the ID token of one code says, on top of the defaults.
#[derive(Clone)]
pub struct Grant {
    pub subject: String,
    pub email: String,
    pub email_verified: bool,
    /// Claims to set (or, with `null`, to remove) in the ID token.
    pub overrides: Value,
    /// Sign with this key instead of the current one.
    pub sign_with: Option<SigningKey>,
}

impl Grant {
    pub fn new(subject: &str, email: &str) -> Self {
        Self {
            subject: subject.to_owned(),
            email: email.to_owned(),
            email_verified: true,
            overrides: json!({}),
            sign_with: None,
        }
    }
}

struct Issued {
    grant: Grant,
    nonce: Option<String>,
    challenge: String,
    redirect_uri: String,
}

struct State {
    issuer: String,
    /// What discovery says the issuer is; the Microsoft multi-tenant template when set.
    advertised_issuer: Option<String>,
    published: Vec<SigningKey>,
    current: SigningKey,
    codes: HashMap<String, Issued>,
    refuse_codes: bool,
    /// Sign in with Apple: the key that must have signed the client secret JWT.
    apple: Option<(String, String, jsonwebtoken::DecodingKey)>,
}

pub struct StandIn {
    pub base: String,
    state: Arc<Mutex<State>>,
    pub jwks_fetches: Arc<AtomicUsize>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        futures::executor::block_on(self.handle.stop(false));
    }
}

impl StandIn {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let key = SigningKey::generate("key-1");
        let state = Arc::new(Mutex::new(State {
            issuer: base.clone(),
            advertised_issuer: None,
            published: vec![key.clone()],
            current: key,
            codes: HashMap::new(),
            refuse_codes: false,
            apple: None,
        }));
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let (data, fetches) = (
            web::Data::new(state.clone()),
            web::Data::new(jwks_fetches.clone()),
        );
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(fetches.clone())
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(discovery),
                )
                .route(
                    "/{tenant}/v2.0/.well-known/openid-configuration",
                    web::get().to(discovery),
                )
                .route("/jwks", web::get().to(jwks))
                .route("/token", web::post().to(token))
                .route("/login/oauth/access_token", web::post().to(github_token))
                .route("/user", web::get().to(github_user))
                .route("/user/emails", web::get().to(github_emails))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        std::thread::spawn(move || actix_web::rt::System::new().block_on(server));
        Self {
            base,
            state,
            jwks_fetches,
            handle,
        }
    }

    /// Microsoft's multi-tenant shape: discovery under /common/v2.0 advertising a template.
    pub fn advertise_tenant_template(&self) {
        let mut state = self.state.lock().unwrap();
        state.advertised_issuer = Some(format!("{}/{{tenantid}}/v2.0", state.issuer));
    }

    /// Rotates to a new signing key, dropping the old one from the JWKS.
    pub fn rotate_keys(&self, kid: &str) {
        let key = SigningKey::generate(kid);
        let mut state = self.state.lock().unwrap();
        state.published = vec![key.clone()];
        state.current = key;
    }

    pub fn current_key(&self) -> SigningKey {
        self.state.lock().unwrap().current.clone()
    }

    /// Acts as Apple: the client secret must be an ES256 JWT from this team and key.
    pub fn expect_apple_client_secret(&self, team_id: &str, key_id: &str, public_pem: &str) {
        let key = jsonwebtoken::DecodingKey::from_ec_pem(public_pem.as_bytes()).unwrap();
        self.state.lock().unwrap().apple = Some((team_id.to_owned(), key_id.to_owned(), key));
    }

    pub fn refuse_codes(&self) {
        self.state.lock().unwrap().refuse_codes = true;
    }

    /// "Logs in" the person for the authorize URL authd produced, and returns the code the
    /// provider would redirect back with. Asserts the request is a proper PKCE S256 one.
    pub fn issue_code(&self, authorize_url: &str, grant: Grant) -> String {
        let url = openidconnect::url::Url::parse(authorize_url).unwrap();
        let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(
            params.get("code_challenge_method").map(String::as_str),
            Some("S256")
        );
        assert_eq!(params.get("client_id").map(String::as_str), Some(CLIENT_ID));
        assert!(
            params["state"].len() >= 22,
            "state under 128 bits: {params:?}"
        );
        let code = uuid::Uuid::new_v4().to_string();
        self.state.lock().unwrap().codes.insert(
            code.clone(),
            Issued {
                grant,
                nonce: params.get("nonce").cloned(),
                challenge: params["code_challenge"].clone(),
                redirect_uri: params["redirect_uri"].clone(),
            },
        );
        code
    }
}

async fn discovery(state: web::Data<Arc<Mutex<State>>>) -> HttpResponse {
    let state = state.lock().unwrap();
    let base = &state.issuer;
    HttpResponse::Ok().json(json!({
        "issuer": state.advertised_issuer.clone().unwrap_or_else(|| base.clone()),
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(
    state: web::Data<Arc<Mutex<State>>>,
    fetches: web::Data<Arc<AtomicUsize>>,
) -> HttpResponse {
    fetches.fetch_add(1, Ordering::SeqCst);
    let keys: Vec<Value> = state
        .lock()
        .unwrap()
        .published
        .iter()
        .map(|k| k.public.clone())
        .collect();
    HttpResponse::Ok().json(json!({ "keys": keys }))
}

fn invalid_grant(description: &str) -> HttpResponse {
    HttpResponse::BadRequest()
        .json(json!({ "error": "invalid_grant", "error_description": description }))
}

/// Takes the code, checking PKCE and the redirect URI as a real provider does.
fn redeem(state: &mut State, form: &HashMap<String, String>) -> Result<Issued, &'static str> {
    if state.refuse_codes {
        return Err("refused");
    }
    let issued = state
        .codes
        .remove(form.get("code").map(String::as_str).unwrap_or_default())
        .ok_or("unknown or used code")?;
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != issued.challenge {
        return Err("PKCE verification failed");
    }
    if form.get("redirect_uri") != Some(&issued.redirect_uri) {
        return Err("redirect_uri differs");
    }
    Ok(issued)
}

/// Apple's rule: the secret is a JWT signed by the team's key, for this client, for Apple.
fn apple_secret_valid(
    apple: &(String, String, jsonwebtoken::DecodingKey),
    form: &HashMap<String, String>,
) -> bool {
    let (team, key_id, key) = apple;
    let secret = form.get("client_secret").cloned().unwrap_or_default();
    let header = jsonwebtoken::decode_header(&secret).ok();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
    validation.set_audience(&["https://appleid.apple.com"]);
    validation.set_issuer(&[team]);
    validation.sub = Some(CLIENT_ID.to_owned());
    header.and_then(|h| h.kid).as_deref() == Some(key_id.as_str())
        && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && jsonwebtoken::decode::<Value>(&secret, key, &validation).is_ok()
}

fn client_authenticated(req: &HttpRequest, form: &HashMap<String, String>) -> bool {
    let basic = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| STANDARD.decode(v).ok())
        .map(|v| String::from_utf8_lossy(&v).into_owned());
    let expected = format!("{CLIENT_ID}:{CLIENT_SECRET}");
    basic.as_deref() == Some(expected.as_str())
        || (form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
            && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET))
}

async fn token(
    req: HttpRequest,
    state: web::Data<Arc<Mutex<State>>>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let mut state = state.lock().unwrap();
    let authenticated = match &state.apple {
        Some(apple) => apple_secret_valid(apple, &form),
        None => client_authenticated(&req, &form),
    };
    if !authenticated {
        return HttpResponse::Unauthorized().json(json!({ "error": "invalid_client" }));
    }
    let issued = match redeem(&mut state, &form) {
        Ok(issued) => issued,
        Err(description) => return invalid_grant(description),
    };
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": state.issuer, "sub": issued.grant.subject, "aud": CLIENT_ID, "exp": now + 300, "iat": now,
        "email": issued.grant.email, "email_verified": issued.grant.email_verified,
        "given_name": "Grace", "family_name": "Hopper",
    });
    if let Some(nonce) = issued.nonce {
        claims["nonce"] = json!(nonce);
    }
    for (name, value) in issued.grant.overrides.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    let key = issued
        .grant
        .sign_with
        .unwrap_or_else(|| state.current.clone());
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    let id_token = jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap();
    HttpResponse::Ok().json(json!({
        "access_token": "stand-in-access-token", "token_type": "Bearer", "expires_in": 300, "id_token": id_token,
    }))
}

/// GitHub answers 200 with an `error` field for a bad code.
async fn github_token(
    state: web::Data<Arc<Mutex<State>>>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    if form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET) {
        return HttpResponse::Ok().json(json!({ "error": "incorrect_client_credentials" }));
    }
    let mut state = state.lock().unwrap();
    match redeem(&mut state, &form) {
        Ok(issued) => {
            let token = format!("gh-{}-{}", issued.grant.subject, issued.grant.email);
            HttpResponse::Ok().json(json!({ "access_token": token, "token_type": "bearer", "scope": "read:user,user:email" }))
        }
        Err(_) => HttpResponse::Ok().json(json!({ "error": "bad_verification_code" })),
    }
}

fn github_grant(req: &HttpRequest) -> Option<(String, String)> {
    let token = req
        .headers()
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer gh-")?
        .to_owned();
    let (id, email) = token.split_once('-')?;
    Some((id.to_owned(), email.to_owned()))
}

async fn github_user(req: HttpRequest) -> HttpResponse {
    match github_grant(&req) {
        Some((id, _)) => HttpResponse::Ok().json(json!({ "id": id.parse::<u64>().unwrap(), "login": "octocat", "name": "Mona Lisa Octocat" })),
        None => HttpResponse::Unauthorized().finish(),
    }
}

async fn github_emails(req: HttpRequest) -> HttpResponse {
    match github_grant(&req) {
        Some((_, email)) => HttpResponse::Ok().json(json!([
            { "email": "old@example.com", "primary": false, "verified": true },
            { "email": email, "primary": true, "verified": true },
        ])),
        None => HttpResponse::Unauthorized().finish(),
    }
}
