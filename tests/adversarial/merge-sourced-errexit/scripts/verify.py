import sys
sys.exit("verification failed: checksum mismatch")
