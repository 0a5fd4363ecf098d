-- A sign-in is bound to the browser that started it (the S256 challenge of a secret the SPA
-- keeps) and, for linking, to the user who started it.
ALTER TABLE oidc_states ADD COLUMN browser_challenge TEXT;
ALTER TABLE oidc_states ADD COLUMN link_user_id TEXT;
