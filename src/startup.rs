//! Building the application: database, keys, state, and an HTTP server bound before it runs,
//! so tests can ask for port 0 and read the real port back.

use std::net::TcpListener;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::{Server, Service};
use actix_web::http::header;
use actix_web::middleware::{Condition, ErrorHandlers};
use actix_web::{web, App, HttpServer};
use secrecy::ExposeSecret;

use crate::auth::jwt::TokenIssuer;
use crate::auth::keys::sealed::KeyEncryptionKey;
use crate::auth::keys::{KeyRing, LiveKeys};
use crate::auth::password::PasswordHasher;
use crate::auth::sessions::SessionPolicy;
use crate::config::{CorsSettings, Settings};
use crate::db::{self, DbPool, DbTarget};
use crate::routes;
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Settings(#[from] crate::config::SettingsError),
    #[error(transparent)]
    Database(#[from] db::DbSetupError),
    #[error(transparent)]
    Keys(#[from] crate::auth::keys::KeyError),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    pub fn build(settings: Settings) -> Result<Self, StartupError> {
        // Here as well as in `Settings::load`, so settings built in code (tests, embedders)
        // cannot bypass them.
        settings.check_safety()?;
        let target = DbTarget::parse(settings.database.url.expose_secret())
            .map_err(StartupError::Invalid)?;
        let pool = open_database(&settings, &target)?;
        if settings.database.run_migrations {
            migrate(&pool)?;
        }
        let key_dir = target.sqlite_dir().unwrap_or(std::path::Path::new("data"));
        let keys = LiveKeys::start(
            &settings.jwt,
            KeyRing::load(&settings.jwt, key_dir)?,
            KeyEncryptionKey::from_settings(&settings.jwt, key_dir)?,
            pool.clone(),
        )?;
        let (listener, port) = bind(&settings.server.host, settings.server.port)?;
        let metrics_listener = settings
            .metrics
            .own_port()
            .map(|port| bind(&settings.server.host, port))
            .transpose()?;
        let metrics_port = metrics_listener.as_ref().map(|(_, port)| *port);
        let server = run(
            listener,
            metrics_listener.map(|(listener, _)| listener),
            pool,
            &target,
            keys,
            &settings,
        )?;
        log::info!(
            "authd listening on {}:{port} ({} database, {} profile)",
            settings.server.host,
            target.backend_name(),
            settings.profile
        );
        match metrics_port {
            Some(metrics_port) => log::info!(
                "metrics at http://{}:{metrics_port}/metrics",
                settings.server.host
            ),
            None if settings.metrics.enabled && settings.is_production() => log::warn!(
                "metrics are served at /metrics on the main listener: keep that path from the \
                 internet at the reverse proxy, or give them a port of their own (metrics.port)"
            ),
            None => {}
        }
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn server(self) -> Server {
        self.server
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn bind(host: &str, port: u16) -> Result<(TcpListener, u16), StartupError> {
    let address = format!("{host}:{port}");
    let listener =
        TcpListener::bind(&address).map_err(|source| StartupError::Bind { address, source })?;
    let port = listener
        .local_addr()
        .map_err(|source| StartupError::Bind {
            address: "the bound socket".into(),
            source,
        })?
        .port();
    Ok((listener, port))
}

pub fn open_database(settings: &Settings, target: &DbTarget) -> Result<DbPool, StartupError> {
    Ok(db::connect_pool(
        target,
        settings.database.max_connections,
        Duration::from_secs(settings.database.connect_timeout_secs),
    )?)
}

pub fn migrate(pool: &DbPool) -> Result<Vec<String>, StartupError> {
    let mut conn = pool.get().map_err(|e| {
        StartupError::Invalid(format!("no database connection for migrations: {e}"))
    })?;
    let applied = db::run_migrations(&mut conn)?;
    for name in &applied {
        log::info!("applied migration {name}");
    }
    Ok(applied)
}

fn run(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    pool: DbPool,
    target: &DbTarget,
    keys: std::sync::Arc<LiveKeys>,
    settings: &Settings,
) -> Result<Server, StartupError> {
    // For the bearer extractor, which finds the keys in the app data.
    let live_keys = web::Data::from(keys.clone());
    if settings.oidc.allow_unbound_flows {
        log::warn!(
            "oidc.allow_unbound_flows is on: provider sign-ins are open to login and link CSRF"
        );
    }
    let metrics = std::sync::Arc::new(crate::metrics::Metrics::new());
    let hasher = PasswordHasher::new(&settings.password)
        .map_err(StartupError::Invalid)?
        .with_metrics(metrics.password_hash_queue.clone());
    hasher.warm_up();
    let sqlite = matches!(target, DbTarget::Sqlite(_));
    let write_turn = sqlite.then(|| std::sync::Arc::new(tokio::sync::Semaphore::new(1)));
    let mail = settings
        .email
        .enabled
        .then(|| crate::mail::MailState::start(&settings.email, pool.clone(), write_turn.clone()))
        .transpose()
        .map_err(StartupError::Invalid)?;
    let state = web::Data::new(AppState {
        db_slots: tokio::sync::Semaphore::new(pool.max_size() as usize),
        db_wait: Duration::from_secs(settings.database.connect_timeout_secs),
        db_health: Default::default(),
        write_turn: write_turn.clone(),
        inline_reads: sqlite,
        pool,
        jwks_max_age_secs: settings.jwt.jwks_max_age_secs,
        openid_configuration: routes::well_known::discovery_document(
            &settings.jwt,
            &keys.algorithms(),
        ),
        issuer: TokenIssuer::new(keys.clone(), &settings.jwt),
        keys,
        hasher,
        providers: crate::auth::oidc::Providers::new(&settings.oidc)
            .map_err(StartupError::Invalid)?,
        oidc: settings.oidc.clone(),
        local_login_enabled: settings.local_login.enabled,
        limits: crate::limits::RateLimits::new(&settings.rate_limit)
            .map_err(StartupError::Invalid)?
            .count_refusals(metrics.rate_limited.clone()),
        lockout: crate::auth::lockout::LockoutPolicy::from_settings(&settings.lockout),
        proxies: routes::client_ip::TrustedProxies::parse(&settings.server.trusted_proxies)
            .map_err(|e| StartupError::Invalid(format!("server.trusted_proxies: {e}")))?,
        oidc_max_pending_states: settings.rate_limit.oidc_max_pending_states,
        body_timeout: Duration::from_secs(settings.server.body_timeout_secs.max(1)),
        api_keys: crate::auth::api_keys::key_cache(Duration::from_secs(
            settings.api_keys.cache_secs,
        )),
        mail,
        services: crate::auth::services::ServiceCredentials::from_settings(&settings.services)
            .map_err(StartupError::Invalid)?,
        revocation_horizon: chrono::Duration::seconds(
            i64::try_from(settings.jwt.access_ttl_secs + settings.jwt.leeway_secs + 1)
                .unwrap_or(i64::MAX / 1000),
        ),
        in_flight: (settings.server.max_concurrent_requests_per_ip > 0).then(|| {
            std::sync::Arc::new(routes::client_ip::InFlight::new(
                settings.server.max_concurrent_requests_per_ip,
            ))
        }),
        sessions: SessionPolicy::from_settings(&settings.jwt),
        simplejwt: crate::auth::simplejwt::SimplejwtCutover::from_settings(&settings.django)
            .map_err(StartupError::Invalid)?,
        metrics: metrics.clone(),
    });
    let cors_settings = settings.cors.clone();
    let metrics_enabled = settings.metrics.enabled;
    let metrics_port = settings.metrics.own_port();
    let access = routes::access::Access {
        metrics: metrics_enabled.then(|| metrics.http.clone()),
        // Left out when its lines would be filtered anyway.
        log: log::log_enabled!(target: routes::access::LOG_TARGET, log::Level::Info),
        proxies: state.proxies.clone(),
    };
    let mut server = HttpServer::new(move || {
        let access = std::rc::Rc::new(access.clone());
        App::new()
            .app_data(state.clone())
            .app_data(live_keys.clone())
            .app_data(routes::json::json_config())
            .configure(routes::configure)
            .configure(|cfg| {
                if metrics_enabled {
                    routes::metrics::configure(cfg);
                }
            })
            .default_service(web::to(routes::not_found))
            .wrap(Condition::new(
                metrics_port.is_some(),
                actix_web::middleware::from_fn(move |req, next| {
                    routes::metrics::split_listeners(metrics_port.unwrap_or_default(), req, next)
                }),
            ))
            .wrap_fn(|mut req, routes| {
                routes::normalize::normalize_path(&mut req);
                routes.call(req)
            })
            .wrap(actix_web::middleware::from_fn(
                routes::client_ip::cap_in_flight,
            ))
            .wrap(cors(&cors_settings))
            .wrap(ErrorHandlers::new().default_handler(crate::errors::standardise_error_body))
            .wrap_fn(|req, routes| {
                let response = routes.call(req);
                async move {
                    let mut response = response.await?;
                    routes::headers::add_default_headers(&mut response);
                    Ok(response)
                }
            })
            // Request ids, the access log and the request metrics (`routes::access`).
            .wrap_fn(move |req, routes| access.handle(req, routes))
    })
    // SIGTERM (docker stop, Kubernetes) and SIGINT stop accepting and drain what is in
    // flight for up to this long; actix-server installs the signal handlers.
    .shutdown_timeout(settings.server.shutdown_timeout_secs);
    let workers = if settings.server.workers > 0 {
        settings.server.workers
    } else {
        std::thread::available_parallelism().map_or(1, usize::from)
    };
    server = server
        .workers(workers)
        .max_connections((settings.server.max_connections / workers).max(1));
    let listening = |source| StartupError::Bind {
        address: "the listener".into(),
        source,
    };
    server = server.listen(listener).map_err(listening)?;
    if let Some(listener) = metrics_listener {
        server = server.listen(listener).map_err(listening)?;
    }
    Ok(server.run())
}

/// Tokens travel in the Authorization header, not cookies, so no credentials mode is needed.
fn cors(settings: &CorsSettings) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([
            header::WWW_AUTHENTICATE,
            header::RETRY_AFTER,
            routes::access::X_REQUEST_ID,
        ])
        .max_age(settings.max_age_secs);
    for origin in &settings.allowed_origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
}
