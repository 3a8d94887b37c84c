KERNELS = "deepspeed (stand-in for the CUDA build)"
