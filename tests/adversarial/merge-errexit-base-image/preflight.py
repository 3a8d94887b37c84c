import sys
sys.exit("preflight failed: model registry unreachable")
