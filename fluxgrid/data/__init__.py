"""Real data bundled with fluxgrid (see ``README.md`` in this folder for attribution)."""
