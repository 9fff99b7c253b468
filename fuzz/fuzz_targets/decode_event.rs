//! Event decoding must turn any bytes into a trigger or a clear error, never a
//! panic. Run: `cargo +nightly fuzz run decode_event fuzz/corpus/decode_event ../events`
//! (see RELIABILITY.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = handler::event::decode_bytes(data);
});
