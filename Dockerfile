# crm-gateway: the one binary in a small image (docs/deployment.md, "Container image").
# Build: docker build -t crm-gateway .

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# --locked: the image is built from exactly the dependency versions the repository tested.
RUN cargo build --release --locked -p gateway-server --bin crm-gateway

FROM debian:bookworm-slim
# CA certificates for the providers' https endpoints (the HTTP client uses rustls with the
# system roots); nothing else is needed at run time.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/crm-gateway --shell /usr/sbin/nologin crm-gateway \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/crm-gateway /var/lib/crm-gateway/data
COPY --from=build /src/target/release/crm-gateway /usr/local/bin/crm-gateway
USER 10001:10001
WORKDIR /var/lib/crm-gateway
# Inside a container the API must listen on every interface to be reachable through a
# published port; the SQLite default lives on the volume. Both can be overridden with -e.
ENV CRM_GATEWAY_LISTEN=0.0.0.0:8080 \
    CRM_GATEWAY_DATABASE_URL=sqlite:///var/lib/crm-gateway/data/crm-gateway.db?mode=rwc
VOLUME ["/var/lib/crm-gateway/data"]
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/crm-gateway"]
CMD ["serve", "--log-format", "json"]
