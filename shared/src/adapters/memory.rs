//! In-memory twins of the ports, for unit and handler tests.
