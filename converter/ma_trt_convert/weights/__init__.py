"""The released weight files: their key layouts, strict loading, synthetic files of the same layout."""
