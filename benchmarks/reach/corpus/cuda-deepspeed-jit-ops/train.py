import deepspeed
from deepspeed.ops.adam import FusedAdam
