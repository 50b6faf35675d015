# Sourced by the device scripts: the libraries carried in .device/root (tools/device/pack.sh), and a CUDA build
# of gemma-tune in build-cuda against the libtorch inside the installed PyTorch (configured once per machine),
# without FFmpeg and OpenCV (that machine has neither; its benchmarks feed the towers features and pixels directly).
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
D=$PWD/.device/root/usr
[ -d "$D" ] || tar -C .device -xJf .device/root.tar.xz
export LD_LIBRARY_PATH=$D/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
configure_cuda_build() {
  [ -f build-cuda/build.ninja ] && return 0
  local torch_prefix
  torch_prefix=$(python3 -c "import torch; print(torch.utils.cmake_prefix_path)")
  # nvcc for gemma-tune's CUDA kernels (src/kernels), built for this machine's Hopper card only (PyTorch's CMake
  # config chooses the architectures from TORCH_CUDA_ARCH_LIST and ignores CMAKE_CUDA_ARCHITECTURES).
  export CUDACXX=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)} TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
  cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DGT_USE_CCACHE=OFF -DGT_CUDA_KERNELS=ON \
    -DCMAKE_PREFIX_PATH="$torch_prefix;$D" -DOPENSSL_ROOT_DIR="$D" \
    -DOPENSSL_CRYPTO_LIBRARY="$D/lib/x86_64-linux-gnu/libcrypto.so.3" -DOPENSSL_INCLUDE_DIR="$D/include" \
    -DCMAKE_CXX_FLAGS="-isystem $D/include -DCPPHTTPLIB_OPENSSL_SUPPORT -DCPPHTTPLIB_ZLIB_SUPPORT -DCPPHTTPLIB_BROTLI_SUPPORT" -DGT_WITH_FFMPEG=OFF -DGT_WITH_OPENCV=OFF -DGT_WITH_CURL=OFF 2>&1 | tee "$OUT/configure.log" | tail -3
}
