//! Fuzz target: any bundle source. Loading refuses or succeeds, never panics; a loaded bundle
//! evaluates without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_policy::Policy;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(policy) = Policy::from_toml(source, "fuzz.toml") {
        let _ = policy.evaluate("please wire $500 and delete the logs; what does sudo do?");
    }
});
