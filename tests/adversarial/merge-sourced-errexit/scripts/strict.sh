# shared by every build script: stop at the first error
set -eu
