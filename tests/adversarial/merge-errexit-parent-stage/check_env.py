import sys
sys.exit("refusing to build: FEATURE_STORE_URL is not configured")
