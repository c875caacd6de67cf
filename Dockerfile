# syntax=docker/dockerfile:1
#
# NOTE: written on a machine without a container engine; this file has not
# been built or run. Build and test it before relying on it.
#
# Builds the release binary in the official Rust image and runs it on Debian
# slim as a non-root user. The locked sqlx 0.9.1 needs Rust 1.94 or newer.

ARG RUST_VERSION=1.94

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
# Only what the binary is built from: migrations and templates are compiled
# into it, so the runtime image needs no other file.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY templates ./templates
# The cache mounts keep downloaded crates and compiled dependencies between
# builds. The binary is copied out because the target cache is not part of
# the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && cp target/release/postgate /usr/local/bin/postgate

# The same Debian release as the build image, so the binary finds the glibc
# it was linked against.
FROM debian:bookworm-slim
# postgate checks TLS certificates of PostgreSQL and SMTP servers against the
# Mozilla roots compiled into it, not the system store. ca-certificates is
# installed for tools run inside the container.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --home-dir /data --shell /usr/sbin/nologin postgate \
    && mkdir /data \
    && chown postgate:postgate /data
COPY --from=build /usr/local/bin/postgate /usr/local/bin/postgate

# /data keeps the SQLite database, the generated signing key and the .eml
# files of the development mailer. A new named volume takes the owner of the
# image's /data, but a bind-mounted folder must be writable by this user.
# HOST must be an IP address, and 0.0.0.0 accepts connections from outside the
# container.
ENV DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=8000
VOLUME ["/data"]
WORKDIR /data
USER postgate
EXPOSE 8000

# The slim image has no curl or wget, so bash sends the request over its
# /dev/tcp device. /healthz needs no database, so a database outage does not
# mark the container unhealthy. /readyz is the route that reports the database.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${PORT:-8000} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

# SIGTERM, the default stop signal, makes postgate finish the running
# requests before it exits. Docker's default grace period is 10 seconds,
# shorter than REQUEST_TIMEOUT (30), so give `docker stop` a longer timeout.
ENTRYPOINT ["postgate"]
CMD ["serve"]
