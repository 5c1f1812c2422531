# ringway container image. Built on Debian 12; the runtime image is a minimal Debian 12 file system
# that holds only the ringway binary, the Debian shared libraries it links (found with ldd), a non-root
# user (uid/gid 10001, "ringway") and an example configuration. No shell, no package manager.
#
#   docker build -t ringway .
#   docker run --rm -p 8080:8080 -p 9901:9901 -v $PWD/ringway.yaml:/etc/ringway/ringway.yaml:ro ringway
#   docker kill -s HUP CONTAINER          # reload the configuration
#   docker stop -t 40 CONTAINER           # graceful: Close 1001 to every WebSocket, then exit 0
#
# Without a Docker engine: tools/container-test builds this file with buildah and tests the image.

# ---- build: the toolchain and -dev packages (a stage of its own, so that it is cached apart) ----
FROM debian:bookworm-slim AS build-deps
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ make cmake ninja-build pkg-config \
      libuv1-dev node-llhttp libssl-dev libyaml-cpp-dev doctest-dev libxxhash-dev \
 && rm -rf /var/lib/apt/lists/*

FROM build-deps AS build
# Parallel compile jobs (empty: ninja's default, cores + 2). tools/container-test passes JOBS=2.
ARG JOBS=
WORKDIR /src
COPY . .
# Only the proxy binary: tests run in CI (tools/check), not in the image build.
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
 && ninja -C /build ${JOBS:+-j"$JOBS"} ringway \
 && strip /build/proxy/ringway

# The runtime file system, staged in /rootfs:
# - ringway, and every shared library ldd lists for it, copied from this Debian stage (the same
#   packages it was linked against), with Debian's merged-/usr layout (/lib -> usr/lib, ...);
# - for each package a library came from, its copyright file and its dpkg status entry
#   (/var/lib/dpkg/status.d/, as distroless images do), so that licences ship and scanners see them;
# - /etc/passwd and /etc/group with root and the non-root user ringway (10001:10001), an
#   nsswitch.conf (glibc's files and dns lookups are built into libc), os-release, /tmp;
# - the demo configuration as an example, listening on every interface (a 127.0.0.1 bind is
#   unreachable from outside a container). Mount your own over /etc/ringway/.
RUN set -eu; r=/rootfs; \
    mkdir -p "$r/usr/local/bin" "$r/etc/ringway" "$r/tmp" "$r/var/lib/dpkg/status.d" "$r/usr/share/doc"; \
    chmod 1777 "$r/tmp"; \
    cp /build/proxy/ringway "$r/usr/local/bin/ringway"; \
    for d in bin sbin lib lib32 lib64 libx32; do \
      if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$r/$d"; fi; \
    done; \
    if ldd /build/proxy/ringway | grep -q 'not found'; then ldd /build/proxy/ringway; exit 1; fi; \
    for p in $(ldd /build/proxy/ringway | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do \
      dir=$(readlink -f "$(dirname "$p")"); base=$(basename "$p"); \
      mkdir -p "$r$dir"; cp -L "$p" "$r$dir/$base"; \
      pkg=; \
      for c in "$p" "$dir/$base" "${dir#/usr}/$base" "$(readlink -f "$p")"; do \
        pkg=$(dpkg -S "$c" 2>/dev/null | head -n 1 | cut -d: -f1) && [ -n "$pkg" ] && break; \
      done; \
      [ -n "$pkg" ] || { echo "no Debian package owns $p" >&2; exit 1; }; \
      dpkg-query -s "$pkg" > "$r/var/lib/dpkg/status.d/$pkg"; \
      if [ -f "/usr/share/doc/$pkg/copyright" ]; then \
        mkdir -p "$r/usr/share/doc/$pkg"; cp "/usr/share/doc/$pkg/copyright" "$r/usr/share/doc/$pkg/"; \
      fi; \
    done; \
    ldconfig -r "$r"; \
    cp /usr/lib/os-release "$r/usr/lib/os-release"; ln -s ../usr/lib/os-release "$r/etc/os-release"; \
    printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nringway:x:10001:10001:ringway:/nonexistent:/usr/sbin/nologin\n' > "$r/etc/passwd"; \
    printf 'root:x:0:\nringway:x:10001:\n' > "$r/etc/group"; \
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$r/etc/nsswitch.conf"; \
    sed 's/"127\.0\.0\.1:8080"/"0.0.0.0:8080"/; s/"127\.0\.0\.1:9901"/"0.0.0.0:9901"/' tools/demo.yaml \
      > "$r/etc/ringway/ringway.yaml"

# ---- runtime: only the staged file system ----
FROM scratch
COPY --from=build /rootfs/ /
# Fails the build if the binary cannot start here (a library missing) or the example is invalid.
RUN ["/usr/local/bin/ringway", "-c", "/etc/ringway/ringway.yaml", "--check"]
LABEL org.opencontainers.image.title="ringway" \
      org.opencontainers.image.description="WebSocket-aware load balancer" \
      org.opencontainers.image.base.name="debian:bookworm-slim (libraries only)"
EXPOSE 8080 9901
# glibc's per-thread malloc cache keeps about 100 freed chunks per worker thread, scattered over the
# heap, which malloc_trim cannot give back: after 9,000 WebSockets close, two workers stay 16 % above
# the fresh process instead of 9 %. ringway allocates nothing on the relay's hot path, and turning
# the cache off measured no CPU difference (connection cycles; README, "Memory after closes").
ENV GLIBC_TUNABLES=glibc.malloc.tcache_count=0
# Numeric, so that Kubernetes' runAsNonRoot can verify it; /etc/passwd names it "ringway".
USER 10001:10001
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ringway", "-c", "/etc/ringway/ringway.yaml"]
