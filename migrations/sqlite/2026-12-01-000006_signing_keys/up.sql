-- Signing keys kept in the database (`authd keys rotate`, `jwt.auto_rotate_days`). The private
-- key is PKCS#8 PEM sealed with XChaCha20-Poly1305 under the configured key-encryption key
-- (the kid is the associated data, so a sealed key cannot be moved to another row). A key is
-- published from `created_at`, signs from `activates_at` until `retires_at` (the next key's
-- activation), and verifies for a token lifetime after that. Rows are kept as the history.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    algorithm TEXT NOT NULL,
    public_key TEXT NOT NULL,
    private_key_sealed TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    activates_at TIMESTAMP NOT NULL,
    retires_at TIMESTAMP
);
CREATE INDEX signing_keys_activates_at ON signing_keys (activates_at);
