KERNELS = "apex (stand-in for the CUDA build)"
