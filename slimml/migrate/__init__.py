"""`slimml migrate`, `slimml report`, `slimml check`: bulk migration across many repos and CI output."""
