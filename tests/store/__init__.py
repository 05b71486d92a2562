"""The storage contract suite and the SQLite backend's own tests."""
