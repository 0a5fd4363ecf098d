# authd as a container: a release build on rust:1-bookworm, run on debian:bookworm-slim as a
# non-root user, in the production profile, on 0.0.0.0:8000. Builds with the classic builder
# (DOCKER_BUILDKIT=0): no BuildKit syntax, no cache mounts.
#
#   docker build -t authd .
#   docker run --rm -p 127.0.0.1:8000:8000 -e AUTHD__JWT__ISSUER=https://auth.example.com \
#     -e AUTHD__JWT__PRIVATE_KEY="$(cat signing-key.pem)" -e DATABASE_URL=postgres://... authd

FROM rust:1-bookworm AS builder
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq-dev libsqlite3-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
# The same settings for both builds below, so the dependencies built first stay valid.
ENV CARGO_TERM_COLOR=never CARGO_PROFILE_RELEASE_STRIP=symbols

# Dependencies get a layer of their own: it is rebuilt only when Cargo.toml or Cargo.lock
# change. authd's own targets are placeholders here, and their artifacts are removed so the
# real sources below are compiled whatever their timestamps.
# The workspace's other member, crates/authd-verify, gets the same treatment (its example's
# source must exist for its manifest to load).
COPY Cargo.toml Cargo.lock ./
COPY crates/authd-verify/Cargo.toml crates/authd-verify/Cargo.toml
RUN mkdir -p src benches crates/authd-verify/src examples/resource-server \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs crates/authd-verify/src/lib.rs \
 && echo 'fn main() {}' > benches/crypto.rs \
 && echo 'fn main() {}' > benches/metrics.rs \
 && echo 'fn main() {}' > examples/resource-server/main.rs \
 && cargo build --release --locked --bin authd \
 && rm -rf src benches crates/authd-verify/src examples \
           target/release/authd* target/release/deps/authd-* target/release/deps/libauthd-* \
           target/release/deps/authd_verify-* target/release/deps/libauthd_verify-* \
           target/release/.fingerprint/authd-*

# config/ and migrations/ are compiled into the binary.
COPY config config
COPY migrations migrations
COPY benches benches
COPY crates crates
COPY examples/resource-server examples/resource-server
COPY src src
RUN cargo build --release --locked --bin authd \
 && ./target/release/authd --version

FROM debian:bookworm-slim
# hadolint ignore=DL3008
# apt-get clean and the .bin caches: not every base image is configured to drop them (80 MB).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 libsqlite3-0 ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && groupadd --system --gid 10001 authd \
 && useradd --system --uid 10001 --gid authd --home-dir /var/lib/authd --shell /usr/sbin/nologin authd \
 && mkdir -p /var/lib/authd/data /var/lib/authd/keys \
 && chown -R authd:authd /var/lib/authd \
 && chmod 700 /var/lib/authd/keys
COPY --from=builder /build/target/release/authd /usr/local/bin/authd
WORKDIR /var/lib/authd
# The production profile refuses to start without a signing key, an https issuer and explicit
# CORS origins; see docker-compose.yml and .env.example for a complete set.
# The port is 8000 by default; PORT (or AUTHD__SERVER__PORT) moves it.
ENV AUTHD_ENV=production \
    AUTHD__SERVER__HOST=0.0.0.0 \
    RUST_LOG=info
USER 10001:10001
EXPOSE 8000
# authd drains requests in flight on SIGTERM for up to server.shutdown_timeout_secs (5 s), then
# exits 0; docker stop waits 10 s before SIGKILL.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=6s --start-period=20s --retries=3 \
  CMD ["authd", "healthcheck"]
ENTRYPOINT ["authd"]
CMD ["serve"]
