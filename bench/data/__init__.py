"""Dataset recipes: declared sources, checksummed fetch, parsers to the canonical tables."""
