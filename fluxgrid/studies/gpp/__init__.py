"""The gpp study."""
