//! Nothing to build: this crate holds the tests (`tests/`) that run the SDK
//! (`lockbox-client`) against a real server, so the SDK itself and its examples
//! never build the server.
