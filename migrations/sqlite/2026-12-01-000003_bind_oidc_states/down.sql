ALTER TABLE oidc_states DROP COLUMN link_user_id;
ALTER TABLE oidc_states DROP COLUMN browser_challenge;
