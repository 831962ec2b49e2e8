"""One file per bug fixed, named after what it guards."""
