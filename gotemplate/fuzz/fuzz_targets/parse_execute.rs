//! Any text parsed and, when it parses, executed over a fixed data tree with the sprig
//! functions that are quick and deterministic, within a step budget (a template may loop as
//! long as it likes, as in Go): no panic, no hang, no stack overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Functions left out: random, clock, and deliberately slow ones (key generation, scrypt),
/// which would only make runs nondeterministic or slow.
const LEFT_OUT: &[&str] = &[
    "genPrivateKey", "genCA", "genCAWithKey", "genSelfSignedCert", "genSelfSignedCertWithKey",
    "genSignedCert", "genSignedCertWithKey", "buildCustomCert", "derivePassword", "htpasswd",
    "bcrypt", "randAlphaNum", "randAlpha", "randAscii", "randNumeric", "randBytes", "randInt",
    "shuffle", "uuidv4", "now", "ago", "date", "dateInZone", "dateModify", "unixEpoch",
    "toDate", "mustToDate", "htmlDate", "htmlDateInZone", "date_in_zone", "date_modify",
    "must_date_modify", "repeat", "until", "untilStep", "seq",
];

fuzz_target!(|text: &str| {
    let mut funcs = sprig::functions();
    funcs.retain(|name, _| !LEFT_OUT.contains(&name.as_str()));
    let mut set = gotemplate::Set::new();
    set.add_funcs(funcs);
    if set.parse("fuzz", text).is_err() {
        return;
    }
    let data = gotemplate::Value::from(serde_json::json!({
        "Values": {"name": "x", "n": 3, "f": 1.5, "list": [1, "a", null], "map": {"k": "v"}},
        "Release": {"Name": "r"},
    }));
    let _ = set.execute_bounded("fuzz", &data, 100_000);
});
