//! Cold-start wiring, shared by every function binary: read the environment, build each client once.
