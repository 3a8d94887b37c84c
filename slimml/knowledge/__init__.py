"""Knowledge slimml encodes: data, not logic. Rules import from here instead of embedding literals."""
