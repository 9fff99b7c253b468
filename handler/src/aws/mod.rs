//! AWS SDK implementations of the ports.
