# addon-operator image: the binary plus the modules and global hooks it runs.
# Build: docker build -t registry.example.com/addon-operator:stable .
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p operator --bin addon-operator

FROM debian:bookworm-slim
# Hooks are usually bash + jq scripts; keep the shell-operator toolbox available to them.
RUN apt-get update \
 && apt-get install -y --no-install-recommends bash jq ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/addon-operator /usr/local/bin/addon-operator
COPY modules /modules
COPY global-hooks /global-hooks
ENV ADDON_OPERATOR_MODULES_DIR=/modules \
    ADDON_OPERATOR_GLOBAL_HOOKS_DIR=/global-hooks \
    LOG_TYPE=json
EXPOSE 9650
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/addon-operator"]
CMD ["run"]
