"""Dependencies an image installs: requirement files read with packaging, and locks resolved for the image."""
