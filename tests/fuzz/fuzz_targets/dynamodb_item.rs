#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::dynamodb_item(data));
