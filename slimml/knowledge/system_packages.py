"""System package managers (apt, apk, yum/dnf/microdnf): spellings, flags, and where they leave data."""

import re

# `yes | apt-get install ...` answers every prompt.
YES_COMMAND = "yes"

# -- apt ---------------------------------------------------------------------------------------------
APT_TOOLS = {"apt-get", "apt"}
APT_UPDATE = "update"
# Subcommands that resolve packages from the lists under /var/lib/apt/lists: they fail when the
# lists are missing (a slim Debian/Ubuntu base image ships none; a RUN may have deleted them).
APT_INSTALLS = {"install", "reinstall", "build-dep"}
# `upgrade` without lists upgrades nothing, silently: it needs them as much as `install` does.
APT_UPGRADES = {"upgrade", "dist-upgrade", "full-upgrade"}
APT_NEEDS_LISTS = APT_INSTALLS | APT_UPGRADES
# Other readers of the lists, which this rule cannot give an update of their own.
APT_CACHE_TOOL = "apt-cache"  # policy, show, madison, depends, search: every subcommand reads the lists
APT_OTHER_READERS = {
    "download",
    "source",
    "changelog",
    "showsrc",
    "policy",
    "show",
    "search",
    "list",
    "depends",
    "rdepends",
}
# Subcommands that ask "Do you want to continue? [Y/n]"; a build has no terminal, so they abort.
APT_PROMPTS = {
    "install",
    "reinstall",
    "build-dep",
    "upgrade",
    "dist-upgrade",
    "full-upgrade",
    "remove",
    "purge",
    "autoremove",
    "autopurge",
}
# Subcommands that pull in Recommends: packages by default.
APT_RECOMMENDS = {"install"}
# Options that take their value as the next word (``-o Foo=bar``, ``-t bookworm-backports``).
APT_OPTS_WITH_VALUE = {"-o", "-c", "-t", "--option", "--config-file", "--target-release", "--default-release"}
# Short options whose value may be glued to them (``-oFoo=bar``, ``-tbookworm``): no more flags after them.
APT_SHORT_WITH_VALUE = set("oct")
APT_YES_LONG = {"--yes", "--assume-yes"}
APT_YES_SHORT = "y"
# `-qq` / `-q=2` / `--quiet=2` imply -y (apt-get(8): "Quiet level 2 implies -y").
APT_QUIET_SHORT = "q"
APT_QUIET_LONG = "--quiet"
APT_QUIET_IMPLIES_YES = 2
# ``-o APT::Get::Assume-Yes=true``
APT_ASSUME_YES_OPTION = re.compile(r"^APT::Get::Assume-Yes\s*=\s*[\"']?(1|true|yes|on)[\"']?$", re.I)
# Modes that never prompt and never install anything.
APT_NO_ACTION = {"-s", "--simulate", "--just-print", "--dry-run", "--recon", "--no-act", "--print-uris", "--assume-no"}
APT_NO_RECOMMENDS_FLAG = "--no-install-recommends"
APT_NO_RECOMMENDS_OPTION = re.compile(r"^APT::Install-Recommends\s*=\s*[\"']?(0|false|no|off)[\"']?$", re.I)
# An apt.conf snippet (``APT::Install-Recommends "0";``) written into APT_CONF_DIR earlier in the
# stage turns recommends off for every later install. (``-o APT::...=0`` on a command does not.)
APT_CONF_NO_RECOMMENDS = re.compile(r"APT::Install-Recommends\s+[\\\"']*(0|false|no|off)[\\\"']*\s*;", re.I)
APT_CONF_DIR = "/etc/apt"
APT_YES_FLAG = "-y"
APT_LISTS_DIR = "/var/lib/apt/lists"
APT_LISTS_CLEAN = "rm -rf /var/lib/apt/lists/*"
# Any of these paths removed (recursively) after the install means the lists are gone.
APT_LISTS_REMOVED_BY = ("/var/lib/apt/lists", "/var/lib/apt")
APT_UPDATE_CMD = "apt-get update"

# -- apk ---------------------------------------------------------------------------------------------
APK_TOOLS = {"apk"}
APK_ADD = "add"
APK_UPDATE = "update"
APK_NO_CACHE_FLAG = "--no-cache"
APK_OPTS_WITH_VALUE = {
    "-X",
    "--repository",
    "-p",
    "--root",
    "--arch",
    "--keys-dir",
    "--repositories-file",
    "--cache-dir",
    "--virtual",
    "-t",
    "--wait",
    "--timeout",
}
APK_CACHE_CLEAN = "rm -rf /var/cache/apk/*"
APK_CACHE_REMOVED_BY = ("/var/cache/apk", "/etc/apk/cache")

# -- yum / dnf / microdnf ---------------------------------------------------------------------------
RPM_TOOLS = {"yum", "dnf", "dnf5", "microdnf"}
# Subcommands that download metadata and packages (and ask for confirmation without -y).
RPM_INSTALLS = {"install", "groupinstall", "localinstall", "reinstall"}
RPM_YES_LONG = {"--assumeyes"}
RPM_YES_SHORT = "y"
RPM_YES_FLAG = "-y"
RPM_OPTS_WITH_VALUE = {
    "-c",
    "--config",
    "-d",
    "--debuglevel",
    "-e",
    "--errorlevel",
    "-x",
    "--exclude",
    "--releasever",
    "--installroot",
    "--enablerepo",
    "--disablerepo",
    "--repo",
    "--repoid",
    "--setopt",
    "--forcearch",
    "-R",
    "--randomwait",
    "--color",
    "--downloaddir",
    "--destdir",
}
RPM_SHORT_WITH_VALUE = set("cdexR")
RPM_CLEAN = "{tool} clean all"
RPM_CLEAN_WORDS = ("clean", "all")
# `dnf group install`, `dnf module install`
RPM_GROUPING = {"group", "groups", "module"}
RPM_CACHE_DIRS = ("/var/cache/yum", "/var/cache/dnf", "/var/cache/libdnf5")

# Wrappers that a command inserted next to the wrapped one must repeat (``sudo apt-get update && sudo apt-get install``).
PRIVILEGE_WRAPPERS = {"sudo", "doas"}
