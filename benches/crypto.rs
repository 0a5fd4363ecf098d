//! Micro-benchmarks: per algorithm, signing a token pair, verifying a signature, and finding a
//! verified access token in the cache; and one argon2id hash at the default parameters (which
//! bounds login throughput: cores / hash time).
//! `cargo bench --bench crypto`; bench/run runs it and puts the figures in bench/RESULTS.md.

use authd::auth::jwt::{PairIds, TokenIssuer, TokenSubject};
use authd::auth::keys::{generate_private_key, parse_algorithm, KeyRing, LiveKeys};
use authd::auth::password::{PasswordHasher, WorkingMemory};
use authd::config::{Settings, Sources};
use criterion::{criterion_group, criterion_main, Criterion};
use secrecy::SecretString;

fn settings() -> Settings {
    Settings::from_sources(Sources {
        profile: "local",
        config_dir: None,
        environment: false,
    })
    .expect("default settings")
}

fn tokens(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    for name in ["EdDSA", "ES256", "RS256", "HS256"] {
        let mut jwt = settings().jwt;
        jwt.algorithm = name.into();
        jwt.generate_key = false;
        let key = generate_private_key(parse_algorithm(name).unwrap()).unwrap();
        if name == "HS256" {
            jwt.secret = key;
        } else {
            jwt.private_key = key;
        }
        let ring = KeyRing::load(&jwt, dir.path()).unwrap();
        let keys = LiveKeys::configured_only(&jwt, ring).unwrap();
        let verifier = keys.verifier();
        let issuer = TokenIssuer::new(keys, &jwt);
        let subject = TokenSubject {
            user_id: "3f1c2b4e-8a9d-4e5f-b6a7-0c1d2e3f4a5b",
            email: "ann@example.com",
            is_staff: false,
        };
        let ids = PairIds::fresh("6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d");
        c.bench_function(&format!("sign_pair/{name}"), |b| {
            b.iter(|| issuer.issue(&subject, &ids).unwrap())
        });
        let pair = issuer.issue(&subject, &ids).unwrap();
        // A refresh token is checked in full every time (each one is used once).
        c.bench_function(&format!("verify_signature/{name}"), |b| {
            b.iter(|| verifier.verify_refresh(&pair.refresh, true).unwrap())
        });
        // An access token is checked in full once, then found in the verified cache until
        // it expires: this is what a bearer request costs.
        c.bench_function(&format!("verify_access_cached/{name}"), |b| {
            b.iter(|| verifier.verify_access(&pair.access).unwrap())
        });
    }
}

fn argon2id(c: &mut Criterion) {
    let hasher = PasswordHasher::new(&settings().password).unwrap();
    let password = SecretString::from("violet-Tractor-42".to_owned());
    let mut group = c.benchmark_group("password");
    group.sample_size(20);
    // Working memory is reused between hashes, as the server does while logins keep coming.
    let mut memory = WorkingMemory::default();
    group.bench_function("argon2id_hash_default_params", |b| {
        b.iter(|| hasher.hash_with(&password, &mut memory).unwrap())
    });
    // One hash on every core at once: what the cores really deliver together (they share
    // caches and memory bandwidth), the practical ceiling for login next to the nominal one.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut memories: Vec<WorkingMemory> = (0..cores).map(|_| WorkingMemory::default()).collect();
    group.bench_function("argon2id_hash_on_every_core", |b| {
        b.iter(|| {
            std::thread::scope(|scope| {
                for memory in memories.iter_mut() {
                    let (hasher, password) = (&hasher, &password);
                    scope.spawn(move || hasher.hash_with(password, memory).unwrap());
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, tokens, argon2id);
criterion_main!(benches);
