# wagate: build, then a Debian slim runtime with Chromium and chromedriver.
#   docker build -t wagate .
#   docker run -p 8080:8080 -v wagate-data:/data wagate
FROM rust:1-bookworm AS build
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends pkg-config libsqlite3-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin wagate

FROM debian:bookworm-slim
# Runtime steps live in one script, which the test suite also runs (see tests/api/ops.rs).
COPY scripts/install-runtime.sh /usr/local/bin/install-runtime.sh
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends libsqlite3-0 \
    && WAGATE_USER=wagate WAGATE_DATA=/data /usr/local/bin/install-runtime.sh
COPY --from=build /src/target/release/wagate /usr/local/bin/wagate
USER wagate
WORKDIR /home/wagate
ENV WAGATE__DATA_DIR=/data \
    WAGATE__SERVER__HOST=0.0.0.0 \
    WAGATE__SERVER__PORT=8080
VOLUME ["/data"]
EXPOSE 8080
# Browsers need a moment to close on stop.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/health || exit 1
ENTRYPOINT ["/usr/local/bin/wagate"]
CMD ["serve"]
