KERNELS = "flash-attn (stand-in for the CUDA build)"
