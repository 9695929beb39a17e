//! The `addon-operator` binary.
fn main() {}
