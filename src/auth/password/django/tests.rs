//! Known answers from Django 5.2.19's `make_password` (Python 3.11, argon2-cffi 25.1.0,
//! bcrypt 5.0.0), each checked there with `check_password`, right and wrong, before being
//! pasted here. After `settings.configure(PASSWORD_HASHERS=[the six hashers])` and
//! `django.setup()`:
//!
//! ```python
//! make_password(ASCII, hasher="pbkdf2_sha256")                     # 1,000,000 iterations
//! h = get_hasher("pbkdf2_sha256"); h.encode(NON_ASCII, h.salt(), iterations=1000)
//! h = get_hasher("pbkdf2_sha1"); h.encode(ASCII, h.salt(), iterations=1000)
//! make_password(NON_ASCII, hasher="argon2")                        # m=102400,t=2,p=8
//! class Argon2Light(Argon2PasswordHasher): memory_cost, time_cost, parallelism = 1024, 2, 2
//! make_password(ASCII, hasher=Argon2Light())
//! make_password(ASCII, hasher=Argon2iLight())      # Argon2Light whose params().type = Type.I
//! # argon2-cffi before 16.0 wrote no v= (meaning 0x10):
//! "argon2" + argon2.low_level.hash_secret(ASCII.encode(), b"someSaltValue123", time_cost=2,
//!     memory_cost=256, parallelism=1, hash_len=16, type=Type.I,
//!     version=0x10).decode().replace("$v=16", "", 1)
//! make_password(LONG, hasher="bcrypt_sha256")                      # cost 12
//! make_password(ASCII, hasher="bcrypt")                            # cost 12
//! class BCryptLight(BCryptPasswordHasher): rounds = 6
//! make_password(NON_ASCII, hasher=BCryptLight())
//! make_password(NON_ASCII, hasher="scrypt")                        # n=2**14, r=8, p=5
//! class ScryptLight(ScryptPasswordHasher): work_factor, parallelism = 2**10, 1
//! make_password(ASCII, hasher=ScryptLight())
//! ```

use std::time::{Duration, Instant};

use secrecy::SecretString;

use super::*;
use crate::auth::password::PasswordHasher;
use crate::config::PasswordSettings;

const ASCII: &str = "correct horse battery staple";
const NON_ASCII: &str = "Pässwörd-日本語-🔑";
/// 93 bytes: past bcrypt's 72, which is what `bcrypt_sha256` is for.
const LONG: &str =
    "a long passphrase that goes on a long passphrase that goes on a long passphrase \
                    that goes on ";

const PBKDF2_SHA256_DEFAULT: &str = "pbkdf2_sha256$1000000$kgDNjKzoeSDOpzb0xoWi9s$\
                                     4XVtQMkDnz3JrBScoQq2gp9+DWVFBc6CTA/ETqomJI8=";
const PBKDF2_SHA256_1000: &str = "pbkdf2_sha256$1000$Qnvc30fgICFNA7wYAoPutZ$\
                                  PuBZGhGb8vP7KwXX4wPALTTKsDiyTJWklCzxl5Unb0A=";
const PBKDF2_SHA1_1000: &str =
    "pbkdf2_sha1$1000$fQEj7GMtsgTjfTP0CgA6Fz$47XQ59hEenPQHRVZCdPL2TvJJvE=";
const ARGON2ID_DEFAULT: &str = "argon2$argon2id$v=19$m=102400,t=2,p=8$\
                                ZlMyVVBFanlSWDlSaFRTWFlKOUxZVQ$\
                                P1XCK9iEsJJRv0c/cn0AQGIsv0an7Cir4WNAcahplDE";
const ARGON2ID_LIGHT: &str = "argon2$argon2id$v=19$m=1024,t=2,p=2$\
                              RElVamVnQXdHVkUxVXVVeG9lMnJiWg$\
                              0Zx44WCs9i2cf6y2ppAZWsEcgJ2h91yLmrAVT1DEG2o";
const ARGON2I_LIGHT: &str = "argon2$argon2i$v=19$m=1024,t=2,p=2$\
                             S0I4U3JiM3NOeWdtaTEzV0V0bHlCUQ$\
                             QiCfDL5DnNYUvpjJUvfRfOWgVfinQHPgp1l1eXw6Q20";
const ARGON2I_NO_VERSION: &str =
    "argon2$argon2i$m=256,t=2,p=1$c29tZVNhbHRWYWx1ZTEyMw$A5y8LeCZC3fCFX/rK3WzyQ";
const BCRYPT_SHA256_DEFAULT: &str =
    "bcrypt_sha256$$2b$12$3X.01XAP.ptvoCM5i0uXzuSEQD0dRmmdgNkO2s65fV1kcaih8WJsu";
const BCRYPT_DEFAULT: &str = "bcrypt$$2b$12$YCjRfb8FmWskB5UuyZKlXe6wOwpK0CTx20bxl9uuVo8Sx8fsE4J1W";
const BCRYPT_LIGHT: &str = "bcrypt$$2b$06$ACldgZtqYLuBxU.c.iscCev.HqTKsaIOrhB5VcGiyY8FKONGaBGlW";
const SCRYPT_DEFAULT: &str = "scrypt$16384$q0RvFR9SzfC66m3sijOQMA$8$5$\
                              ifm396616AH45l3HoqMqWW1YLnQFwqm2azjHuvx9eLU42pU8EODM6IlrBYUTAFyvUV8Y\
                              OURbX2ee3gmhvRXsdQ==";
const SCRYPT_LIGHT: &str = "scrypt$1024$xBuGK3lhaKKZlC2HDKGsRW$8$1$\
                            H4jb9n7H+MbGJjPkPlgT7FbX9eEP02HZhl4R2FN8n/9170mkB9Eq2O64d0lkGlVu\
                            Jepp571w1tXJZbfFa5y+Tw==";

/// 64 bytes of key in base64, and 32, for hand-made strings that must fail before any work.
const B64_64: &str =
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";
const B64_32: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

fn hasher() -> PasswordHasher {
    PasswordHasher::new(&PasswordSettings {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
        max_concurrent_hashes: 1,
        queue_timeout_ms: 1000,
    })
    .unwrap()
}

fn secret(password: &str) -> SecretString {
    SecretString::from(password.to_owned())
}

/// The right password matches and comes back as authd's own argon2id (which then verifies as
/// current); a wrong one matches nothing and upgrades nothing.
fn assert_known_answer(stored: &str, password: &str) {
    let hasher = hasher();
    let mut memory = WorkingMemory::default();
    assert!(DjangoHash::parse(stored).is_some(), "parses: {stored}");

    let verified = hasher.verify_with(&secret(password), Some(stored), &mut memory);
    assert!(verified.matches, "{stored}");
    let upgraded = verified
        .upgraded_hash
        .expect("a Django hash is always upgraded");
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
        "{upgraded}"
    );
    let again = hasher.verify_with(&secret(password), Some(&upgraded), &mut memory);
    assert!(again.matches && again.upgraded_hash.is_none());

    let wrong = format!("{password}x");
    let verified = hasher.verify_with(&secret(&wrong), Some(stored), &mut memory);
    assert!(
        !verified.matches && verified.upgraded_hash.is_none(),
        "{stored}"
    );
}

#[test]
fn pbkdf2_sha256_at_djangos_default_iterations() {
    assert_known_answer(PBKDF2_SHA256_DEFAULT, ASCII);
}

#[test]
fn pbkdf2_sha256_with_a_non_ascii_password() {
    assert_known_answer(PBKDF2_SHA256_1000, NON_ASCII);
}

#[test]
fn pbkdf2_sha1() {
    assert_known_answer(PBKDF2_SHA1_1000, ASCII);
}

#[test]
fn argon2id_at_djangos_default_parameters() {
    assert_known_answer(ARGON2ID_DEFAULT, NON_ASCII);
}

#[test]
fn argon2id_and_the_older_argon2i() {
    assert_known_answer(ARGON2ID_LIGHT, ASCII);
    assert_known_answer(ARGON2I_LIGHT, ASCII);
}

#[test]
fn argon2i_without_a_version_is_version_0x10() {
    assert_known_answer(ARGON2I_NO_VERSION, ASCII);
}

#[test]
fn bcrypt_sha256_checks_past_72_bytes() {
    assert!(LONG.len() > 72);
    assert_known_answer(BCRYPT_SHA256_DEFAULT, LONG);
    let same_first_72 = format!("{}different tail", &LONG[..72]);
    let verified = hasher().verify_with(
        &secret(&same_first_72),
        Some(BCRYPT_SHA256_DEFAULT),
        &mut WorkingMemory::default(),
    );
    assert!(!verified.matches);
}

#[test]
fn bcrypt() {
    assert_known_answer(BCRYPT_DEFAULT, ASCII);
    assert_known_answer(BCRYPT_LIGHT, NON_ASCII);
}

#[test]
fn scrypt_at_djangos_default_parameters() {
    assert_known_answer(SCRYPT_DEFAULT, NON_ASCII);
}

#[test]
fn scrypt_at_lighter_parameters() {
    assert_known_answer(SCRYPT_LIGHT, ASCII);
}

#[test]
fn unusable_passwords_never_match() {
    let valid_behind_a_bang = format!("!{PBKDF2_SHA1_1000}");
    for stored in [
        "!",
        "!y8fEWQJbhbmgBSpWvHQ6Msx3lu4q7HKaK0NFoL9J",
        &valid_behind_a_bang,
    ] {
        assert!(DjangoHash::parse(stored).is_none(), "{stored}");
        for password in ["", ASCII, stored, &stored[1..]] {
            let verified =
                hasher().verify_with(&secret(password), Some(stored), &mut Default::default());
            assert!(!verified.matches && verified.upgraded_hash.is_none());
        }
    }
}

#[test]
fn malformed_hashes_never_match_and_do_not_panic() {
    let bcrypt_body = &BCRYPT_LIGHT["bcrypt$".len()..];
    let bcrypt_x = format!("bcrypt${}", bcrypt_body.replace("$2b$", "$2x$"));
    let bcrypt_low_cost = format!("bcrypt${}", bcrypt_body.replace("$06$", "$03$"));
    let bcrypt_cost_letters = format!("bcrypt${}", bcrypt_body.replace("$06$", "$a6$"));
    let bcrypt_sha256_one_dollar = BCRYPT_SHA256_DEFAULT.replacen("$$", "$", 1);
    let bcrypt_non_ascii = format!("bcrypt${}é", &bcrypt_body[..bcrypt_body.len() - 2]);
    let pbkdf2_short_key = PBKDF2_SHA256_1000.replace("b0A=", "");
    let pbkdf2_non_canonical = PBKDF2_SHA256_1000.replace("b0A=", "b0B=");
    let argon2d = ARGON2ID_LIGHT.replace("argon2id", "argon2d");
    let argon2_no_hash = ARGON2ID_LIGHT.rsplit_once('$').unwrap().0.to_owned();
    let scrypt_missing_p = SCRYPT_LIGHT.replacen("$8$1$", "$8$", 1);
    let cases = [
        "",
        "$",
        "pbkdf2_sha256",
        "pbkdf2_sha256$",
        "pbkdf2_sha256$1000$salt",
        &format!("pbkdf2_sha256$abc$salt${B64_32}"),
        &format!("pbkdf2_sha256$-1000$salt${B64_32}"),
        &format!("pbkdf2_sha256$+1000$salt${B64_32}"),
        &format!("pbkdf2_sha256$ 1000$salt${B64_32}"),
        &format!("pbkdf2_sha256$0$salt${B64_32}"),
        &format!("pbkdf2_sha256$1000$${B64_32}"),
        "pbkdf2_sha256$1000$salt$not base64!",
        &format!("pbkdf2_sha256$1000$salt${B64_32}$"),
        &format!("pbkdf2_sha1$1000$salt${B64_32}"),
        &pbkdf2_short_key,
        &pbkdf2_non_canonical,
        "argon2",
        "argon2$",
        "argon2$argon2id$v=19$m=x,t=2,p=2$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
        "argon2$argon2id$v=18$m=1024,t=2,p=2$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
        &argon2d,
        &argon2_no_hash,
        &ARGON2ID_LIGHT["argon2$".len()..],
        "bcrypt$$2b$12$short",
        &bcrypt_x,
        &bcrypt_low_cost,
        &bcrypt_cost_letters,
        &bcrypt_sha256_one_dollar,
        &bcrypt_non_ascii,
        &format!("scrypt$16383$salt$8$1${B64_64}"),
        &format!("scrypt$1$salt$8$1${B64_64}"),
        &format!("scrypt$0$salt$8$1${B64_64}"),
        &format!("scrypt$16384$salt$0$1${B64_64}"),
        &format!("scrypt$16384$salt$8$0${B64_64}"),
        &format!("scrypt$16384$$8$1${B64_64}"),
        &format!("scrypt$16384$salt$8$1${B64_32}"),
        // Valid numbers that scrypt itself refuses: n must be below 2^(16 r).
        &format!("scrypt$65536$salt$1$1${B64_64}"),
        &scrypt_missing_p,
        "scrypt$16384$salt$8$1$%%%",
    ];
    let hasher = hasher();
    let mut memory = WorkingMemory::default();
    for stored in cases {
        assert!(DjangoHash::parse(stored).is_none(), "{stored}");
        let verified = hasher.verify_with(&secret(ASCII), Some(stored), &mut memory);
        assert!(!verified.matches, "{stored}");
    }
}

#[test]
fn hashes_beyond_the_cost_bounds_are_refused_before_any_work() {
    let (argon2_salt, argon2_hash) = {
        let mut fields = ARGON2ID_LIGHT.rsplitn(3, '$');
        let hash = fields.next().unwrap();
        (fields.next().unwrap(), hash)
    };
    let argon2 =
        |params: &str| format!("argon2$argon2id$v=19${params}${argon2_salt}${argon2_hash}");
    let bcrypt_body = &BCRYPT_LIGHT["bcrypt$".len()..];
    let too_costly = [
        format!("pbkdf2_sha256$10000001$salt${B64_32}"),
        "pbkdf2_sha1$4294967295$salt$AAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned(),
        format!("pbkdf2_sha256$99999999999999999999999999$salt${B64_32}"),
        format!("bcrypt${}", bcrypt_body.replace("$06$", "$17$")),
        format!("bcrypt_sha256${}", bcrypt_body.replace("$06$", "$31$")),
        // 1 GiB of memory.
        format!("scrypt$1048576$salt$8$1${B64_64}"),
        // 16 MiB a lane, 1000 lanes.
        format!("scrypt$16384$salt$8$1000${B64_64}"),
        format!("scrypt$9223372036854775808$salt$8$1${B64_64}"),
        argon2("m=2097152,t=1,p=1"),
        argon2("m=1048576,t=5,p=1"),
        argon2("m=4294967295,t=4294967295,p=1"),
    ];
    let hasher = hasher();
    let mut memory = WorkingMemory::default();
    for stored in &too_costly {
        let (algorithm, rest) = stored.split_once('$').unwrap();
        let refused = match algorithm {
            "pbkdf2_sha256" => pbkdf2(true, rest).err(),
            "pbkdf2_sha1" => pbkdf2(false, rest).err(),
            "bcrypt" | "bcrypt_sha256" => super::bcrypt(false, rest).err(),
            "scrypt" => super::scrypt(rest).err(),
            _ => super::argon2(&stored["argon2".len()..]).err(),
        };
        assert!(
            matches!(refused, Some(Refused::TooCostly(_))),
            "refused as too costly, not as malformed: {stored}"
        );
        let started = Instant::now();
        let verified = hasher.verify_with(&secret(ASCII), Some(stored), &mut memory);
        assert!(!verified.matches, "{stored}");
        assert!(started.elapsed() < Duration::from_secs(1), "{stored}");
    }
}

#[test]
fn the_bounds_leave_room_above_djangos_defaults() {
    assert!(DjangoHash::parse(&format!("pbkdf2_sha256$10000000$salt${B64_32}")).is_some());
    let bcrypt_16 = BCRYPT_LIGHT.replace("$06$", "$16$");
    assert!(DjangoHash::parse(&bcrypt_16).is_some());
    // 128 MiB of memory; 16 MiB in each of 64 lanes (1 GiB of work).
    assert!(DjangoHash::parse(&format!("scrypt$131072$salt$8$1${B64_64}")).is_some());
    assert!(DjangoHash::parse(&format!("scrypt$16384$salt$8$64${B64_64}")).is_some());
    let argon2 = ARGON2ID_LIGHT.replace("m=1024,t=2,p=2", "m=1048576,t=4,p=8");
    assert!(DjangoHash::parse(&argon2).is_some());
}
