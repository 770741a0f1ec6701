# syntax=docker/dockerfile:1

# ---- build ------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /app
# The whole workspace; see .dockerignore for what is left out.
COPY . .
RUN cargo build --release --locked -p buendel

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /home/buendel --shell /usr/sbin/nologin buendel \
    && install -d -o buendel -g buendel -m 0700 /creds
COPY --from=builder /app/target/release/buendel /usr/local/bin/buendel
USER buendel
EXPOSE 8080
ENTRYPOINT ["buendel"]
CMD ["up"]
