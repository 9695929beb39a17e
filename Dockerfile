# addon-operator image: the binary, the modules and global hooks it runs, and what shell
# hooks call (bash, jq, kubectl, as in shell-operator's image), run as a non-root user.
#
# Build (the version and commit are stamped into the binary, shown by `addon-operator
# version`, and into the image labels, which self-update reads):
#   docker build \
#     --build-arg ADDON_OPERATOR_VERSION=v1.2.3 \
#     --build-arg ADDON_OPERATOR_COMMIT=$(git rev-parse HEAD) \
#     -t registry.example.com/addon-operator:stable .
ARG ADDON_OPERATOR_VERSION=dev
ARG ADDON_OPERATOR_COMMIT=unknown
ARG KUBECTL_VERSION=v1.33.1

FROM rust:1.95-slim-bookworm AS build
ARG ADDON_OPERATOR_VERSION
ARG ADDON_OPERATOR_COMMIT
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
# Read at compile time by the binary (`addon-operator version`).
ENV ADDON_OPERATOR_VERSION=${ADDON_OPERATOR_VERSION} \
    ADDON_OPERATOR_COMMIT=${ADDON_OPERATOR_COMMIT}
RUN cargo build --release --locked -p operator \
      --bin addon-operator --bin addon-operator-hook-launcher

# kubectl from the Kubernetes release, checked against its published SHA-256.
FROM debian:bookworm-slim AS kubectl
ARG KUBECTL_VERSION
ARG TARGETARCH=amd64
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
RUN curl -fsSLo /kubectl "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl" \
 && echo "$(curl -fsSL "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl.sha256")  /kubectl" \
    | sha256sum --check --strict - \
 && chmod 0755 /kubectl

FROM debian:bookworm-slim
ARG ADDON_OPERATOR_VERSION
ARG ADDON_OPERATOR_COMMIT
LABEL org.opencontainers.image.title="addon-operator" \
      org.opencontainers.image.version="${ADDON_OPERATOR_VERSION}" \
      org.opencontainers.image.revision="${ADDON_OPERATOR_COMMIT}"
# Hooks are usually bash + jq scripts, and many call kubectl; tini reaps what they leave.
# The fixed non-root user 65532 is the one deploy/base/deployment.yaml runs as.
RUN apt-get update \
 && apt-get install -y --no-install-recommends bash jq ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 addon-operator \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin addon-operator
COPY --from=kubectl /kubectl /usr/local/bin/kubectl
COPY --from=build /src/target/release/addon-operator /usr/local/bin/addon-operator
# Starts each hook from a small process, so the hook's max RSS metric is its own; it must stay
# next to addon-operator.
COPY --from=build /src/target/release/addon-operator-hook-launcher /usr/local/bin/addon-operator-hook-launcher
COPY modules /modules
COPY global-hooks /global-hooks
# The root filesystem is read-only in deploy/: hook temp files, the debug socket and
# kubectl's discovery cache go to the emptyDirs mounted at /tmp and /var/run/addon-operator.
ENV ADDON_OPERATOR_MODULES_DIR=/modules \
    ADDON_OPERATOR_GLOBAL_HOOKS_DIR=/global-hooks \
    ADDON_OPERATOR_TMP_DIR=/tmp/addon-operator \
    DEBUG_UNIX_SOCKET=/var/run/addon-operator/debug.socket \
    KUBECACHEDIR=/tmp/kubectl-cache \
    LOG_TYPE=json
USER 65532:65532
EXPOSE 9650
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/addon-operator"]
CMD ["run"]
