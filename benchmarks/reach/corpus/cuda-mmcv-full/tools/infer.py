import mmcv
