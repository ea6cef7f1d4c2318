"""fastinit's main job: a Llama-shaped 1B model (bf16, about 2.3 GiB) written in place as
safetensors, with the progress bar, then verified against the contract and one tensor read
back with the official safetensors reader.

Beside it, for scale, the same number of bytes (1.0 bit patterns) written the common way --
a memory-mapped new file, then sync -- measured in the same run.  (bench.model_files
compares the fill with zeros sent by the same O_DIRECT writer, and with dd.)
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import fastinit
from fastinit.model import presets

out_dir = Path(__file__).resolve().parents[1] / "demo-out"
model_dir = out_dir / "llama-1b"
out_dir.mkdir(exist_ok=True)
fastinit.show_config()
cli = [sys.executable, "-m", "fastinit"]

# for scale: the same bytes written the common way, memory-mapped into a new file, then synced
spec = presets.from_config(presets.NAMED["llama-1b"], dtype="bf16")
nbytes = spec.nbytes
plain = out_dir / "plain.bin"
t = time.perf_counter()
with open(plain, "wb") as f:
    f.truncate(nbytes)
mm = np.memmap(plain, dtype=np.uint16, mode="r+")
mm.fill(0x3F80)  # bfloat16 1.0: never all-zero pages
mm.flush()
del mm
os.sync()
t_plain = time.perf_counter() - t
os.remove(plain)

print(f"\nfastinit fill llama-1b --dtype bf16 -> {model_dir}")
t = time.perf_counter()
subprocess.run(cli + ["fill", "llama-1b", "--dtype", "bf16", "--seed", "2026", "-o", str(model_dir), "--overwrite"],
               check=True)
os.sync()
t_fill = time.perf_counter() - t
print(f"  {nbytes / 2**30:.2f} GiB in {t_fill:.1f} s ({nbytes / t_fill / 1e9:.2f} GB/s, synced; "
      f"the same bytes memory-mapped and synced: {t_plain:.1f} s, {nbytes / t_plain / 1e9:.2f} GB/s)")

print("\nfastinit verify (sampled elements of every tensor, recomputed from the contract)")
subprocess.run(cli + ["verify", "llama-1b", str(model_dir), "--dtype", "bf16", "--seed", "2026"], check=True)

from safetensors import safe_open  # noqa: E402

with safe_open(str(model_dir / "model.safetensors"), framework="np") as f:
    name = "model.layers.0.mlp.up_proj.weight"
    w = f.get_tensor(name)
print(f"\n{name} read back with safetensors: shape {w.shape}, dtype {w.dtype}, "
      f"std {float(w.astype(np.float32).std()):.5f} (expected 0.02000)")
