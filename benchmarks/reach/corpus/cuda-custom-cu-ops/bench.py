import fused_ops
