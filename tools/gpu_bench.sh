#!/bin/bash
# Prepared here: .gl/ (Vulkan/EGL loader debs, see the device tool README) and .devrun/
# (pulsewatch.gz: the stripped release binary gzipped; metrics_100k.csv.gz), both carried.
# One prepared device run: the burn-wgpu LSTM bench on the real GPU, the CPU path on the
# same machine, and the PyTorch peer on the same GPU, each under its own time limit.
exec > >(tee $OUT/log.txt) 2>&1
T0=$(date +%s)
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
if [ -f /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ]; then
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
export XDG_RUNTIME_DIR=/tmp/xdg; mkdir -p -m 700 /tmp/xdg
nvidia-smi -L; nproc; grep -m1 'model name' /proc/cpuinfo
gunzip -c .devrun/pulsewatch.gz > /tmp/pw && chmod +x /tmp/pw
gunzip -c .devrun/metrics_100k.csv.gz > /tmp/metrics_100k.csv
el() { echo "[$(( $(date +%s) - T0 )) s]"; }
el; echo "== gpu, 1 epoch, 10k"; timeout 120 /tmp/pw bench lstm --device gpu --epochs 1 --runs 1; echo "rc=$?"
el; echo "== cpu (this machine), 10 epochs, 10k, 3 runs"; timeout 60 /tmp/pw bench lstm --device cpu --runs 3; echo "rc=$?"
el; echo "== torch cuda peer, 10k, 2 runs"; timeout 90 python3 tools/torch_peer.py tests/fixtures/metrics_10k.csv cuda 2; echo "rc=$?"
el; echo "== gpu, 10 epochs, 10k, 1 run"; timeout 150 /tmp/pw bench lstm --device gpu --epochs 10 --runs 1; echo "rc=$?"
el; echo "== torch cuda peer, 100k, 1 run"; timeout 60 python3 tools/torch_peer.py /tmp/metrics_100k.csv cuda 1; echo "rc=$?"
el; echo "== cpu (this machine), 10 epochs, 100k, 1 run"; timeout 60 /tmp/pw bench lstm --device cpu --runs 1 --csv /tmp/metrics_100k.csv; echo "rc=$?"
el
