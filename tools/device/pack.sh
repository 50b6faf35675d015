#!/usr/bin/env bash
# Copies, from this Debian machine's packages, the headers and libraries the GPU machine lacks into .device/root,
# packed as .device/root.tar.xz (ignored by git; named in the device tool's `carry`, whose size is limited;
# tools/device/env.sh unpacks it there), plus the Python baseline script from ../shared/bench.
set -euo pipefail
cd "$(dirname "$0")/../.."
R=.device/root/usr
rm -rf .device && mkdir -p $R/include $R/lib/x86_64-linux-gnu/cmake $R/share/cmake
cp -r /usr/include/CLI /usr/include/nlohmann /usr/include/yaml-cpp /usr/include/gtest /usr/include/gmock $R/include/
cp -r /usr/include/unicode /usr/include/zstd.h /usr/include/zstd_errors.h /usr/include/zlib.h /usr/include/zconf.h /usr/include/httplib.h $R/include/
cp -r /usr/include/openssl $R/include/ && cp -r /usr/include/x86_64-linux-gnu/openssl/* $R/include/openssl/
cp -a /usr/lib/x86_64-linux-gnu/libyaml-cpp.so* /usr/lib/x86_64-linux-gnu/libgtest*.a /usr/lib/x86_64-linux-gnu/libgmock*.a \
  /usr/lib/x86_64-linux-gnu/libcrypto.so* /usr/lib/x86_64-linux-gnu/libicu{uc,i18n,data}.so* \
  /usr/lib/x86_64-linux-gnu/libzstd.so* /usr/lib/x86_64-linux-gnu/libz.so* \
  /usr/lib/x86_64-linux-gnu/libcpp-httplib.so* /usr/lib/x86_64-linux-gnu/libssl.so* \
  /usr/lib/x86_64-linux-gnu/libbrotli{common,dec,enc}.so* $R/lib/x86_64-linux-gnu/
# Debian builds cpp-httplib as a library whose build flags (tools/device/env.sh passes them) change the header's
# declarations; the header then includes OpenSSL's and brotli's.
cp -r /usr/include/brotli $R/include/
cp -r /usr/lib/x86_64-linux-gnu/cmake/yaml-cpp /usr/lib/x86_64-linux-gnu/cmake/GTest $R/lib/x86_64-linux-gnu/cmake/
cp -r /usr/share/cmake/nlohmann_json $R/share/cmake/
[ -d /usr/share/cmake/CLI11 ] && cp -r /usr/share/cmake/CLI11 $R/share/cmake/ || true
cp ../shared/bench/hf_peft_baseline.py .device/
tar -C .device -cJf .device/root.tar.xz root && rm -rf .device/root
du -sh .device
