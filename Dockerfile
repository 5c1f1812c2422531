# ringway container image: build on Debian 12, run on a slim Debian 12 with only the runtime libraries.
#   docker build -t ringway .
#   docker run --rm -p 8080:8080 -v $PWD/ringway.yaml:/etc/ringway/ringway.yaml:ro ringway

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ make cmake ninja-build pkg-config \
      libuv1-dev node-llhttp libssl-dev libyaml-cpp-dev doctest-dev libxxhash-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Only the proxy binary: tests run in CI (tools/check), not in the image build.
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
 && ninja -C /build ringway \
 && strip /build/proxy/ringway

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libuv1 libyaml-cpp0.7 libssl3 libxxhash0 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home --shell /usr/sbin/nologin ringway
COPY --from=build /build/proxy/ringway /usr/local/bin/ringway
# The demo configuration as an example; mount your own over it. Its binds are 127.0.0.1, which is
# unreachable from outside a container, so the example listens on every interface here.
COPY tools/demo.yaml /etc/ringway/ringway.yaml
RUN sed -i 's/"127\.0\.0\.1:8080"/"0.0.0.0:8080"/; s/"127\.0\.0\.1:9901"/"0.0.0.0:9901"/' /etc/ringway/ringway.yaml \
 && ringway --version
EXPOSE 8080 9901
USER ringway
STOPSIGNAL SIGTERM
ENTRYPOINT ["ringway", "-c", "/etc/ringway/ringway.yaml"]
