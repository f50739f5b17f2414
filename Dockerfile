# Session Error Ledger: the production image.
#
#   docker build -t error-ledger .
#   docker run --rm -e LEDGER_DATABASE_URL=… error-ledger migrate      # a one-shot, before serve
#   docker run -p 8080:8080 -e LEDGER_DATABASE_URL=… error-ledger       # serve
#
# The build stage compiles with the Swift toolchain image; the Swift runtime is linked in
# statically, so the runtime stage is a slim Debian with only what the binary loads: libpq,
# libcurl (its TLS stack for Hubject's mutual TLS), and CA certificates. ./deploy/test proves
# that stage without a container engine: it builds a Debian root with debootstrap holding exactly
# RUNTIME_PACKAGES below, copies the binary and db/ in, and runs migrate and serve in it (chroot).

# ---- build ------------------------------------------------------------------------------------
FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libpq-dev libcurl4-openssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first: a source change does not refetch them.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product error-ledger --static-swift-stdlib \
 && install -D "$(swift build -c release --show-bin-path)/error-ledger" /out/usr/local/bin/error-ledger
COPY db /out/usr/local/share/error-ledger/db

# ---- runtime ----------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# Keep this list in step with deploy/lib/image.sh (RUNTIME_PACKAGES), which the test installs.
ARG RUNTIME_PACKAGES="libpq5 libcurl4 ca-certificates"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${RUNTIME_PACKAGES} \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin error-ledger
COPY --from=build /out/ /
USER 10001:10001
ENV LEDGER_HTTP_ADDRESS=0.0.0.0:8080 \
    LEDGER_LOG_FORMAT=json \
    LEDGER_MIGRATIONS_DIR=/usr/local/share/error-ledger/db
EXPOSE 8080
# /healthz: the process is up and its event loop answers (no shell, no curl in the image: the
# binary probes itself). Orchestrators use their own probes (deploy/kubernetes).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/error-ledger", "probe"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/error-ledger"]
CMD ["serve"]
