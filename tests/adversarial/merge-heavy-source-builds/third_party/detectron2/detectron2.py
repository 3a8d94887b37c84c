KERNELS = "detectron2 (stand-in for the CUDA build)"
