"""Debian/Ubuntu packages: which ones only build things, and what a ``-dev`` package leaves at run time.

Used by SLM008 (multi-stage) to decide what a runtime stage still needs once the compilers and
headers stay behind in a builder stage.

Releases covered: Debian bookworm (12), bullseye (11), trixie (13); Ubuntu jammy (22.04),
noble (24.04), focal (20.04). Runtime library names differ between releases -- sonames move
(libssl1.1 -> libssl3, libffi7 -> libffi8) and the 64-bit time_t transition renamed many
libraries in trixie and noble (libssl3t64, libglib2.0-0t64, libcurl4t64, libpng16-16t64, ...).
The bookworm names were checked against the bookworm archive and the trixie ones against a
trixie system; the others follow the archives' package lists for those releases.
"""

from __future__ import annotations

import re

DEBIAN_RELEASES = ("bookworm", "bullseye", "trixie")
UBUNTU_RELEASES = ("jammy", "noble", "focal")
RELEASES = DEBIAN_RELEASES + UBUNTU_RELEASES

# -- build-only packages -------------------------------------------------------------------------------
# Compilers, build systems, VCS clients, headers: needed to build wheels and extensions, not to run them.
BUILD_ONLY_PACKAGES = frozenset(
    {
        "build-essential",
        "gcc",
        "g++",
        "cpp",
        "make",
        "cmake",
        "cmake-data",
        "ninja-build",
        "pkg-config",
        "pkgconf",
        "autoconf",
        "autoconf-archive",
        "automake",
        "libtool",
        "libtool-bin",
        "m4",
        "git",
        "git-lfs",
        "cargo",
        "rustc",
        "gfortran",
        "swig",
        "swig4.0",
        "bison",
        "flex",
        "patch",
        "python3-dev",
        "python-dev",
        "python-dev-is-python3",
        "dpkg-dev",
        "binutils",
        "clang",
        "lld",
        "meson",
        "scons",
        "ccache",
        "nasm",
        "yasm",
        "cython3",
        "subversion",
        "mercurial",
        "gcc-multilib",
        "g++-multilib",
        "libc6-dev",
        "linux-libc-dev",
        "linux-headers-generic",
        "linux-headers-amd64",
    }
)
BUILD_ONLY_RES = (
    re.compile(r"^(gcc|g\+\+|cpp|gfortran|clang|clang\+\+|lld|llvm)-\d+(\.\d+)?(-dev)?$"),
    re.compile(r"^python3\.\d+-dev$"),
    re.compile(r"^libpython3(\.\d+)?-dev$"),
    re.compile(
        r"^cuda-(nvcc|toolkit|minimal-build|libraries-dev|command-line-tools|cudart-dev|nvrtc-dev|"
        r"driver-dev|compiler|cupti-dev|nvml-dev|profiler-api)(-\d+(-\d+)?)?$"
    ),
    re.compile(r"^linux-headers-.+$"),
    re.compile(r"^.+-dev$"),  # headers and static libraries; their shared library is a separate package
)


def is_build_only(pkg: str) -> bool:
    return pkg in BUILD_ONLY_PACKAGES or any(r.match(pkg) for r in BUILD_ONLY_RES)


# -- what a build-only package leaves behind at run time --------------------------------------------
# package -> runtime packages: a tuple (same on every release) or {release: tuple}. An empty tuple
# means nothing is needed at run time (compilers, header-only libraries, libc headers).


def _per(bookworm, bullseye, trixie, jammy, noble, focal) -> dict[str, tuple[str, ...] | None]:
    """Per-release runtime packages; None: the -dev package does not exist on that release."""
    vals = (bookworm, bullseye, trixie, jammy, noble, focal)
    return {r: (v if isinstance(v, tuple) else ((v,) if v else None)) for r, v in zip(RELEASES, vals)}


RUNTIME_OF: dict[str, tuple[str, ...] | dict[str, tuple[str, ...] | None]] = {
    # Nothing at run time.
    "build-essential": (),
    "gcc": (),
    "g++": (),
    "cpp": (),
    "make": (),
    "cmake": (),
    "cmake-data": (),
    "ninja-build": (),
    "pkg-config": (),
    "pkgconf": (),
    "autoconf": (),
    "autoconf-archive": (),
    "automake": (),
    "libtool": (),
    "libtool-bin": (),
    "m4": (),
    "git": (),
    "git-lfs": (),
    "cargo": (),
    "rustc": (),
    "swig": (),
    "swig4.0": (),
    "bison": (),
    "flex": (),
    "patch": (),
    "python3-dev": (),
    "python-dev": (),
    "python-dev-is-python3": (),
    "dpkg-dev": (),
    "binutils": (),
    "clang": (),
    "lld": (),
    "meson": (),
    "scons": (),
    "ccache": (),
    "nasm": (),
    "yasm": (),
    "cython3": (),
    "subversion": (),
    "mercurial": (),
    "gcc-multilib": (),
    "g++-multilib": (),
    "libc6-dev": (),
    "libc-dev": (),
    "linux-libc-dev": (),
    "linux-headers-generic": (),
    "linux-headers-amd64": (),
    "libpython3-dev": (),
    "libstdc++-dev": (),
    "libeigen3-dev": (),
    "pybind11-dev": (),
    "nlohmann-json3-dev": (),
    "libboost-dev": (),
    "libglm-dev": (),
    "rapidjson-dev": (),
    "libcereal-dev": (),
    "libspdlog-dev": (),
    "libfmt-dev": (),
    "libgtest-dev": (),
    # Fortran code links libgfortran.
    "gfortran": ("libgfortran5",),
    # Databases.
    "libpq-dev": ("libpq5",),
    "default-libmysqlclient-dev": _per(
        "libmariadb3", "libmariadb3", "libmariadb3", "libmysqlclient21", "libmysqlclient21", "libmysqlclient21"
    ),
    "libmysqlclient-dev": _per(None, None, None, "libmysqlclient21", "libmysqlclient21", "libmysqlclient21"),
    "libmariadb-dev": ("libmariadb3",),
    "libmariadb-dev-compat": ("libmariadb3",),
    "libsqlite3-dev": ("libsqlite3-0",),
    "unixodbc-dev": _per("libodbc2", "libodbc1", "libodbc2", "libodbc2", "libodbc2", "libodbc1"),
    "freetds-dev": ("libsybdb5",),
    # XML, crypto, compression, networking.
    "libxml2-dev": ("libxml2",),
    "libxslt1-dev": ("libxslt1.1",),
    "libxslt-dev": ("libxslt1.1",),
    "libxmlsec1-dev": _per(
        ("libxmlsec1", "libxmlsec1-openssl"),
        ("libxmlsec1", "libxmlsec1-openssl"),
        ("libxmlsec1t64", "libxmlsec1t64-openssl"),
        ("libxmlsec1", "libxmlsec1-openssl"),
        ("libxmlsec1t64", "libxmlsec1t64-openssl"),
        ("libxmlsec1", "libxmlsec1-openssl"),
    ),
    "libssl-dev": _per("libssl3", "libssl1.1", "libssl3t64", "libssl3", "libssl3t64", "libssl1.1"),
    "libffi-dev": _per("libffi8", "libffi7", "libffi8", "libffi8", "libffi8", "libffi7"),
    "libcurl4-openssl-dev": _per("libcurl4", "libcurl4", "libcurl4t64", "libcurl4", "libcurl4t64", "libcurl4"),
    "libcurl4-gnutls-dev": _per(
        "libcurl3-gnutls",
        "libcurl3-gnutls",
        "libcurl3t64-gnutls",
        "libcurl3-gnutls",
        "libcurl3t64-gnutls",
        "libcurl3-gnutls",
    ),
    "zlib1g-dev": ("zlib1g",),
    "libzstd-dev": ("libzstd1",),
    "libbz2-dev": ("libbz2-1.0",),
    "liblzma-dev": ("liblzma5",),
    "liblz4-dev": ("liblz4-1",),
    "libsnappy-dev": ("libsnappy1v5",),
    "libbrotli-dev": ("libbrotli1",),
    "libsodium-dev": ("libsodium23",),
    "libzmq3-dev": ("libzmq5",),
    "libkrb5-dev": ("libkrb5-3", "libgssapi-krb5-2"),
    "libsasl2-dev": ("libsasl2-2",),
    "libldap2-dev": _per("libldap-2.5-0", "libldap-2.4-2", "libldap2", "libldap-2.5-0", "libldap2", "libldap-2.4-2"),
    "libldap-dev": _per("libldap-2.5-0", "libldap-2.4-2", "libldap2", "libldap-2.5-0", "libldap2", "libldap-2.4-2"),
    "libssh2-1-dev": _per("libssh2-1", "libssh2-1", "libssh2-1t64", "libssh2-1", "libssh2-1t64", "libssh2-1"),
    "libevent-dev": _per(
        "libevent-2.1-7", "libevent-2.1-7", "libevent-2.1-7t64", "libevent-2.1-7", "libevent-2.1-7t64", "libevent-2.1-7"
    ),
    "libexpat1-dev": ("libexpat1",),
    "uuid-dev": ("libuuid1",),
    "libcap-dev": ("libcap2",),
    "libsystemd-dev": ("libsystemd0",),
    "libdbus-1-dev": ("libdbus-1-3",),
    "libnss3-dev": ("libnss3",),
    "libpcap-dev": _per("libpcap0.8", "libpcap0.8", "libpcap0.8t64", "libpcap0.8", "libpcap0.8t64", "libpcap0.8"),
    "libmagic-dev": _per("libmagic1", "libmagic1", "libmagic1t64", "libmagic1", "libmagic1t64", "libmagic1"),
    "libyaml-dev": ("libyaml-0-2",),
    "libreadline-dev": _per(
        "libreadline8", "libreadline8", "libreadline8t64", "libreadline8", "libreadline8t64", "libreadline8"
    ),
    "libncurses-dev": ("libncurses6",),
    "libncurses5-dev": ("libncurses6",),
    "libncursesw5-dev": ("libncursesw6",),
    "libgdbm-dev": _per("libgdbm6", "libgdbm6", "libgdbm6t64", "libgdbm6", "libgdbm6t64", "libgdbm6"),
    "libedit-dev": ("libedit2",),
    "libgmp-dev": ("libgmp10",),
    "libmpfr-dev": ("libmpfr6",),
    "libmpc-dev": ("libmpc3",),
    "libonig-dev": ("libonig5",),
    "libpcre3-dev": ("libpcre3",),
    "libunwind-dev": ("libunwind8",),
    "libnuma-dev": ("libnuma1",),
    "libjemalloc-dev": ("libjemalloc2",),
    "libgoogle-perftools-dev": _per(
        "libgoogle-perftools4",
        "libgoogle-perftools4",
        "libgoogle-perftools4t64",
        "libgoogle-perftools4",
        "libgoogle-perftools4t64",
        "libgoogle-perftools4",
    ),
    "libgflags-dev": ("libgflags2.2",),
    "libtbb-dev": _per("libtbb12", "libtbb2", "libtbb12", "libtbb12", "libtbb12", "libtbb2"),
    "libusb-1.0-0-dev": ("libusb-1.0-0",),
    # Numerics.
    "libopenblas-dev": ("libopenblas0",),
    "libopenblas-base": ("libopenblas0",),
    "liblapack-dev": ("liblapack3",),
    "liblapacke-dev": ("liblapacke",),
    "libblas-dev": ("libblas3",),
    "libatlas-base-dev": ("libatlas3-base",),
    "libfftw3-dev": ("libfftw3-double3", "libfftw3-single3"),
    # Images, fonts, GUI toolkits, GL.
    "libjpeg-dev": _per(
        "libjpeg62-turbo", "libjpeg62-turbo", "libjpeg62-turbo", "libjpeg-turbo8", "libjpeg-turbo8", "libjpeg-turbo8"
    ),
    "libjpeg62-turbo-dev": ("libjpeg62-turbo",),
    "libjpeg-turbo8-dev": ("libjpeg-turbo8",),
    "libpng-dev": _per("libpng16-16", "libpng16-16", "libpng16-16t64", "libpng16-16", "libpng16-16t64", "libpng16-16"),
    "libtiff-dev": _per("libtiff6", "libtiff5", "libtiff6", "libtiff5", "libtiff6", "libtiff5"),
    "libtiff5-dev": _per("libtiff6", "libtiff5", "libtiff6", "libtiff5", "libtiff6", "libtiff5"),
    "libwebp-dev": _per("libwebp7", "libwebp6", "libwebp7", "libwebp7", "libwebp7", "libwebp6"),
    "liblcms2-dev": ("liblcms2-2",),
    "libopenjp2-7-dev": ("libopenjp2-7",),
    "libfreetype6-dev": ("libfreetype6",),
    "libfreetype-dev": ("libfreetype6",),
    "libharfbuzz-dev": ("libharfbuzz0b",),
    "libfribidi-dev": ("libfribidi0",),
    "libcairo2-dev": ("libcairo2",),
    "libpango1.0-dev": ("libpango-1.0-0", "libpangocairo-1.0-0", "libpangoft2-1.0-0"),
    "libgirepository1.0-dev": ("libgirepository-1.0-1",),
    "libglib2.0-dev": _per(
        "libglib2.0-0", "libglib2.0-0", "libglib2.0-0t64", "libglib2.0-0", "libglib2.0-0t64", "libglib2.0-0"
    ),
    "libgtk-3-dev": _per("libgtk-3-0", "libgtk-3-0", "libgtk-3-0t64", "libgtk-3-0", "libgtk-3-0t64", "libgtk-3-0"),
    "libgl1-mesa-dev": ("libgl1",),
    "libgl-dev": ("libgl1",),
    "libglu1-mesa-dev": ("libglu1-mesa",),
    "libegl1-mesa-dev": ("libegl1",),
    "libegl-dev": ("libegl1",),
    "libgles2-mesa-dev": ("libgles2",),
    "libgles-dev": ("libgles2",),
    "libgbm-dev": ("libgbm1",),
    "libdrm-dev": ("libdrm2",),
    "libvulkan-dev": ("libvulkan1",),
    "libx11-dev": ("libx11-6",),
    "libxext-dev": ("libxext6",),
    "libxrender-dev": ("libxrender1",),
    "libsm-dev": ("libsm6",),
    "libice-dev": ("libice6",),
    "libxcb1-dev": ("libxcb1",),
    "libxkbcommon-dev": ("libxkbcommon0",),
    # Audio and video.
    "libsndfile1-dev": ("libsndfile1",),
    "libsndfile-dev": ("libsndfile1",),
    "portaudio19-dev": ("libportaudio2",),
    "libasound2-dev": _per("libasound2", "libasound2", "libasound2t64", "libasound2", "libasound2t64", "libasound2"),
    "libsox-dev": ("libsox3",),
    "libmp3lame-dev": ("libmp3lame0",),
    "libogg-dev": ("libogg0",),
    "libvorbis-dev": ("libvorbis0a", "libvorbisenc2", "libvorbisfile3"),
    "libopus-dev": ("libopus0",),
    "libsamplerate0-dev": ("libsamplerate0",),
    "libflac-dev": _per("libflac12", "libflac8", "libflac14", "libflac8", "libflac12t64", "libflac8"),
    "libavcodec-dev": _per(
        "libavcodec59", "libavcodec58", "libavcodec61", "libavcodec58", "libavcodec60", "libavcodec58"
    ),
    "libavformat-dev": _per(
        "libavformat59", "libavformat58", "libavformat61", "libavformat58", "libavformat60", "libavformat58"
    ),
    "libavutil-dev": _per("libavutil57", "libavutil56", "libavutil59", "libavutil56", "libavutil58", "libavutil56"),
    "libswscale-dev": _per("libswscale6", "libswscale5", "libswscale8", "libswscale5", "libswscale7", "libswscale5"),
    "libswresample-dev": _per(
        "libswresample4", "libswresample3", "libswresample5", "libswresample3", "libswresample4", "libswresample3"
    ),
    # CUDA libraries shipped as apt packages (the runtime images carry the same repositories).
    "libcudnn8-dev": ("libcudnn8",),
    "libnccl-dev": ("libnccl2",),
    # Geospatial.
    "libgeos-dev": _per(
        "libgeos-c1v5", "libgeos-c1v5", "libgeos-c1t64", "libgeos-c1v5", "libgeos-c1t64", "libgeos-c1v5"
    ),
    "libproj-dev": _per("libproj25", "libproj19", "libproj25", "libproj22", "libproj25", "libproj15"),
    "libgdal-dev": _per("libgdal32", "libgdal28", "libgdal36", "libgdal30", "libgdal34t64", "libgdal26"),
    # A runtime library named in PIP_SYSTEM_LIBS stands for itself (no -dev package carries it alone:
    # libgomp's headers come with gcc). Not build-only, so never dropped from an install.
    "libgomp1": ("libgomp1",),
}
_ARCH_RE = re.compile(r"^(?P<name>[a-z0-9][a-z0-9+.-]*)(:[a-z0-9-]+)?$")


def package_name(word: str) -> str | None:
    """The package a word of ``apt-get install`` names (``pkg=1.2-3``, ``pkg:amd64``, ``pkg/bookworm``
    -> ``pkg``); None when it is not a plain name (a variable, a glob, a path to a .deb)."""
    w = word.split("=", 1)[0].split("/", 1)[0] if not word.startswith(("/", ".")) else word
    if any(ch in w for ch in "$*?[]{}`\\'\"") or w.endswith(".deb"):
        return None
    m = _ARCH_RE.match(w)
    return m.group("name") if m else None


def runtime_packages(pkg: str, release: str | None) -> tuple[str, ...] | None:
    """What ``pkg`` (a build-only package) leaves needed at run time on ``release``; None: unknown.

    With ``release`` None only a release-independent answer is given.
    """
    val = RUNTIME_OF.get(pkg)
    if val is None:
        if pkg in BUILD_ONLY_PACKAGES or (not pkg.endswith("-dev") and any(r.match(pkg) for r in BUILD_ONLY_RES[:-1])):
            return ()  # compilers, versioned toolchains, kernel headers
        m = re.match(r"^libpython3(\.\d+)?-dev$|^python3\.\d+-dev$", pkg)
        return () if m else None
    if isinstance(val, tuple):
        return val
    if release is None:
        values = set(val.values())
        return next(iter(values)) if len(values) == 1 else None
    return val.get(release)  # None: not a release this table knows, or the package does not exist there


# -- commands each build-only package provides (to see whether the runtime still uses it) ----------
PACKAGE_COMMANDS: dict[str, tuple[str, ...]] = {
    "build-essential": ("gcc", "g++", "cc", "c++", "cpp", "make", "dpkg-buildpackage"),
    "gcc": ("gcc", "cc"),
    "g++": ("g++", "c++"),
    "cpp": ("cpp",),
    "make": ("make",),
    "cmake": ("cmake", "ctest", "cpack"),
    "ninja-build": ("ninja",),
    "pkg-config": ("pkg-config",),
    "pkgconf": ("pkg-config", "pkgconf"),
    "autoconf": ("autoconf", "autoreconf", "autoheader"),
    "automake": ("automake", "aclocal"),
    "libtool": ("libtoolize",),
    "libtool-bin": ("libtool",),
    "m4": ("m4",),
    "git": ("git",),
    "git-lfs": ("git-lfs",),
    "cargo": ("cargo",),
    "rustc": ("rustc",),
    "gfortran": ("gfortran",),
    "swig": ("swig",),
    "swig4.0": ("swig4.0", "swig"),
    "bison": ("bison", "yacc"),
    "flex": ("flex", "lex"),
    "patch": ("patch",),
    "clang": ("clang", "clang++"),
    "lld": ("ld.lld", "lld"),
    "meson": ("meson",),
    "scons": ("scons",),
    "ccache": ("ccache",),
    "nasm": ("nasm",),
    "yasm": ("yasm",),
    "cython3": ("cython", "cython3"),
    "subversion": ("svn",),
    "mercurial": ("hg",),
    "binutils": ("ld", "as", "ar", "nm", "objdump", "strip", "ranlib", "readelf"),
    "libpq-dev": ("pg_config",),
    "default-libmysqlclient-dev": ("mysql_config", "mariadb_config"),
    "libmysqlclient-dev": ("mysql_config",),
    "libmariadb-dev": ("mariadb_config", "mysql_config"),
    "libxml2-dev": ("xml2-config",),
    "libcurl4-openssl-dev": ("curl-config",),
}
_VERSIONED_TOOL_RE = re.compile(r"^(gcc|g\+\+|cpp|gfortran|clang|clang\+\+)-(\d+(\.\d+)?)$")
_CUDA_NVCC_RE = re.compile(r"^cuda-(nvcc|toolkit|minimal-build|command-line-tools|compiler)(-\d+(-\d+)?)?$")


def package_commands(pkg: str) -> tuple[str, ...]:
    if pkg in PACKAGE_COMMANDS:
        return PACKAGE_COMMANDS[pkg]
    m = _VERSIONED_TOOL_RE.match(pkg)
    if m:
        return (pkg,)
    if _CUDA_NVCC_RE.match(pkg):
        return ("nvcc",)
    return ()


# -- run-time tools of the base images -----------------------------------------------------------------
# Commands of the full ``python:<ver>`` images (buildpack-deps: curl, scm and build layers) that the
# ``-slim`` images lack, with the package that brings each back.
PYTHON_FULL_ONLY_COMMANDS: dict[str, str] = {
    "curl": "curl",
    "wget": "wget",
    "git": "git",
    "unzip": "unzip",
    "xz": "xz-utils",
    "unxz": "xz-utils",
    "xzcat": "xz-utils",
    "bzip2": "bzip2",
    "bunzip2": "bzip2",
    "file": "file",
    "ps": "procps",
    "pgrep": "procps",
    "pkill": "procps",
    "top": "procps",
    "free": "procps",
    "watch": "procps",
    "ssh": "openssh-client",
    "scp": "openssh-client",
    "ssh-keyscan": "openssh-client",
    "gpg": "gnupg",
    "dirmngr": "dirmngr",
    "hg": "mercurial",
    "svn": "subversion",
    "convert": "imagemagick",
    "identify": "imagemagick",
    "mogrify": "imagemagick",
    "magick": "imagemagick",
    "make": "make",
    "gcc": "gcc",
    "cc": "gcc",
    "g++": "g++",
    "c++": "g++",
    "patch": "patch",
    "pkg-config": "pkg-config",
    "autoconf": "autoconf",
    "automake": "automake",
}
# CUDA devel-only tools (a runtime image has none of them, and nothing installs them sanely there).
CUDA_DEVEL_COMMANDS = frozenset(
    {
        "nvcc",
        "ptxas",
        "cuobjdump",
        "nvdisasm",
        "fatbinary",
        "nvlink",
        "nvprune",
        "cu++filt",
        "cuda-gdb",
        "nsys",
        "ncu",
        "compute-sanitizer",
        "nvcc_wrapper",
    }
)
# Compilers whose ``-o`` output is the artifact a builder stage produces.
COMPILERS_RE = re.compile(r"^(gcc|g\+\+|cc|c\+\+|clang|clang\+\+|nvcc|gfortran)(-\d+(\.\d+)?)?$")
# Build systems whose outputs cannot be told from the command line.
OPAQUE_BUILD_TOOLS = frozenset(
    {
        "make",
        "cmake",
        "ninja",
        "meson",
        "scons",
        "bazel",
        "cargo",
        "go",
        "mvn",
        "gradle",
        "npm",
        "yarn",
        "pnpm",
        "npx",
        "bun",
        "rustc",
        "ant",
        "configure",
        "autoreconf",
    }
)

# -- pip packages that link a system library the full python image has and -slim does not -----------
# pip name (canonical) -> the -dev packages it builds/loads against (or a runtime package standing for
# itself, see RUNTIME_OF); their runtime packages are added to the runtime stage. With a build,
# measure.repair finds what this table misses from the image's own ELF files. (Packages without Linux wheels compile against buildpack-deps' headers, and
# ctypes wrappers load libraries the full image happens to have.)
PIP_SYSTEM_LIBS: dict[str, tuple[str, ...]] = {
    "psycopg2": ("libpq-dev",),
    "mysqlclient": ("default-libmysqlclient-dev",),
    "python-ldap": ("libldap2-dev", "libsasl2-dev"),
    "pycairo": ("libcairo2-dev",),
    "cairocffi": ("libcairo2-dev",),
    "cairosvg": ("libcairo2-dev",),
    "pygobject": ("libgirepository1.0-dev", "libcairo2-dev"),
    "python-magic": ("libmagic-dev",),
    # cv2's GUI build links libGL.so.1 and glib (the -headless wheels need neither).
    "opencv-python": ("libglib2.0-dev", "libgl-dev"),
    "opencv-contrib-python": ("libglib2.0-dev", "libgl-dev"),
    # Native libraries loaded with ctypes, which auditwheel does not vendor: they link gcc's OpenMP runtime
    # (libgomp.so.1), in the full image through build-essential ("OSError: libgomp.so.1" on -slim).
    "lightgbm": ("libgomp1",),
    "xgboost": ("libgomp1",),
    "pyodbc": ("unixodbc-dev",),  # links libodbc.so.2 (libodbc.so.1 on bullseye/focal), not vendored
    "gssapi": ("libkrb5-dev",),
    "pykerberos": ("libkrb5-dev",),
    "kerberos": ("libkrb5-dev",),
    "xmlsec": ("libxmlsec1-dev",),
    "pyaudio": ("portaudio19-dev",),
}


# -- libraries a runtime base already has -------------------------------------------------------------
# In every Debian/Ubuntu image: Priority required, or what dpkg/apt themselves link.
BASE_LIBS = frozenset(
    {"libc6", "libgcc-s1", "libstdc++6", "zlib1g", "liblzma5", "libbz2-1.0", "libzstd1", "libuuid1", "libgmp10"}
)
# The Docker official python images (full and -slim) keep the shared libraries CPython's own extension
# modules link (_ssl, _ctypes, _sqlite3, _lzma, _bz2, readline, _curses, _uuid, zlib, pyexpat, _dbm): their
# Dockerfile marks every library `ldd` finds under /usr/local as manually installed. Named here by the
# -dev package, so the release decides the runtime name (libssl3 / libssl1.1 / libssl3t64).
PYTHON_IMAGE_DEV_LIBS = (
    "libssl-dev",
    "libffi-dev",
    "libsqlite3-dev",
    "liblzma-dev",
    "libbz2-dev",
    "libreadline-dev",
    "libncursesw5-dev",
    "uuid-dev",
    "zlib1g-dev",
    "libexpat1-dev",
    "libgdbm-dev",
)


def preinstalled(release: str | None, python_image: bool) -> frozenset[str]:
    """Runtime packages the base image already has (installing them again is a no-op)."""
    out = set(BASE_LIBS)
    if python_image:
        for dev in PYTHON_IMAGE_DEV_LIBS:
            out.update(runtime_packages(dev, release) or ())
    return frozenset(out)
