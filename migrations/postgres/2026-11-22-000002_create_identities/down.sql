DROP TABLE oidc_states;
DROP TABLE identities;
