def nms():
    pass
