# Build: docker build -t verbatim .
# Run:   docker run -p 8080:8080 -v verbatim-data:/var/lib/verbatim verbatim
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin verbatim

FROM debian:bookworm-slim
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
