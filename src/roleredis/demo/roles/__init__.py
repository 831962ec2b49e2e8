"""The demo's roles, laid out as the guide describes: one directory per role."""
