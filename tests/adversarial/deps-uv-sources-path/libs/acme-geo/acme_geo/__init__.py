NAME = "acme-geo from libs/"
