from detectron2.config import get_cfg
