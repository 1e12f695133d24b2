"""Study workflows built on the core: the scale-knowledge-guided NEE study and the forest GPP study."""
