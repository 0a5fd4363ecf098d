// @generated shape: kept identical to `diesel print-schema` output for migrations/postgres.

diesel::table! {
    blacklisted_tokens (jti) {
        jti -> Text,
        session_id -> Text,
        user_id -> Text,
        reason -> Text,
        expires_at -> Timestamp,
        blacklisted_at -> Timestamp,
        replaced_by_jti -> Nullable<Text>,
        replaced_by_access_jti -> Nullable<Text>,
        replaced_at -> Nullable<Timestamp>,
        replays -> Integer,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
        method -> Text,
        user_agent -> Text,
        ip -> Text,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        email_key -> Text,
        username -> Nullable<Text>,
        username_key -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        first_name -> Text,
        last_name -> Text,
        phone -> Text,
        email_verified -> Bool,
        is_active -> Bool,
        is_staff -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        legacy_id -> Nullable<Text>,
        last_login_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(blacklisted_tokens -> sessions (session_id));
diesel::joinable!(sessions -> users (user_id));

diesel::table! {
    identities (id) {
        id -> Text,
        user_id -> Text,
        provider -> Text,
        subject -> Text,
        email -> Nullable<Text>,
        created_at -> Timestamp,
        last_used_at -> Timestamp,
    }
}

diesel::table! {
    oidc_states (state) {
        state -> Text,
        provider -> Text,
        nonce -> Text,
        pkce_verifier -> Text,
        redirect_uri -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        browser_challenge -> Nullable<Text>,
        link_user_id -> Nullable<Text>,
    }
}

diesel::table! {
    login_failures (login_key) {
        login_key -> Text,
        failures -> Integer,
        window_started_at -> Timestamp,
        lockouts -> Integer,
        locked_until -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    login_sources (user_id, address) {
        user_id -> Text,
        address -> Text,
        last_success_at -> Timestamp,
    }
}

diesel::table! {
    email_outbox (id) {
        id -> Text,
        recipient -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        created_at -> Timestamp,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        sent_at -> Nullable<Timestamp>,
        failed_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    email_tokens (token_hash) {
        token_hash -> Text,
        purpose -> Text,
        user_id -> Nullable<Text>,
        email -> Text,
        email_at_issue -> Text,
        password_at_issue -> Text,
        code_hash -> Nullable<Text>,
        code_attempts -> Integer,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        prefix -> Text,
        key_sha256 -> Text,
        scopes -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        created_at -> Timestamp,
        event_type -> Text,
        user_id -> Nullable<Text>,
        actor -> Text,
        ip -> Text,
        user_agent -> Text,
        details -> Text,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        algorithm -> Text,
        public_key -> Text,
        private_key_sealed -> Text,
        created_at -> Timestamp,
        activates_at -> Timestamp,
        retires_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(api_keys -> users (user_id));
diesel::joinable!(email_tokens -> users (user_id));
diesel::joinable!(identities -> users (user_id));
diesel::joinable!(login_sources -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    audit_events,
    blacklisted_tokens,
    email_outbox,
    email_tokens,
    identities,
    login_failures,
    login_sources,
    oidc_states,
    sessions,
    signing_keys,
    users
);

diesel::table! {
    simplejwt_blacklist (jti) {
        jti -> Text,
        legacy_user_id -> Text,
        expires_at -> Timestamp,
    }
}
