KERNELS = "torch (stand-in for the CUDA build)"
