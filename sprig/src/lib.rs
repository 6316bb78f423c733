//! The Masterminds/sprig v3.3.0 template functions as Helm hands them to Go's `text/template`,
//! over [`gotemplate::Value`]s and with Go's semantics: sprig's type conversions (spf13/cast),
//! Go's printing, and the messages Go's functions return or panic with.
//!
//! Go's text/template type-checks arguments before the call; the functions here do the same
//! through [`args`], so a float64 passed where sprig wants a `string` or an `int` fails as in Go.
//!
//! Maps are shared references as in Go, so `set`, `unset` and the `merge` family change the
//! map they are given.

mod args;
mod caseconv;
mod conv;
mod crypto;
mod dates;
mod decimal;
mod defaults;
mod dicts;
mod encoding;
mod golayout;
mod lists;
mod math;
mod paths;
mod regex;
mod strings;
mod types;
mod url;

pub mod json;
pub mod semver;

use gotemplate::Funcs;

/// Every sprig function by its sprig name (without `env` and `expandenv`, which Helm removes).
pub fn functions() -> Funcs {
    let mut funcs = Funcs::new();
    strings::register(&mut funcs);
    defaults::register(&mut funcs);
    lists::register(&mut funcs);
    dicts::register(&mut funcs);
    math::register(&mut funcs);
    types::register(&mut funcs);
    encoding::register(&mut funcs);
    regex::register(&mut funcs);
    crypto::register(&mut funcs);
    dates::register(&mut funcs);
    semver::register(&mut funcs);
    url::register(&mut funcs);
    paths::register(&mut funcs);
    funcs
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod tests {
    /// Every function of sprig v3.3.0's map that Helm keeps.
    const SPRIG_NAMES: &str = "hello ago date date_in_zone date_modify dateInZone dateModify duration durationRound \
        htmlDate htmlDateInZone must_date_modify mustDateModify mustToDate now toDate unixEpoch abbrev abbrevboth \
        trunc trim upper lower title untitle substr repeat trimall trimAll trimSuffix trimPrefix nospace initials \
        randAlphaNum randAlpha randAscii randNumeric swapcase shuffle snakecase camelcase kebabcase wrap wrapWith \
        contains hasPrefix hasSuffix quote squote cat indent nindent replace plural sha1sum sha256sum sha512sum \
        adler32sum toString atoi int64 int float64 seq toDecimal split splitList splitn toStrings until untilStep \
        add1 add sub div mod mul randInt add1f addf subf divf mulf biggest max min maxf minf ceil floor round join \
        sortAlpha default empty coalesce all any compact mustCompact fromJson toJson toPrettyJson toRawJson \
        mustFromJson mustToJson mustToPrettyJson mustToRawJson ternary deepCopy mustDeepCopy typeOf typeIs \
        typeIsLike kindOf kindIs deepEqual getHostByName base dir clean ext isAbs osBase osClean osDir osExt \
        osIsAbs b64enc b64dec b32enc b32dec tuple list dict get set unset hasKey pluck keys pick omit merge \
        mergeOverwrite mustMerge mustMergeOverwrite values append push mustAppend mustPush prepend mustPrepend \
        first mustFirst rest mustRest last mustLast initial mustInitial reverse mustReverse uniq mustUniq without \
        mustWithout has mustHas slice mustSlice concat dig chunk mustChunk bcrypt htpasswd genPrivateKey \
        derivePassword buildCustomCert genCA genCAWithKey genSelfSignedCert genSelfSignedCertWithKey genSignedCert \
        genSignedCertWithKey encryptAES decryptAES randBytes uuidv4 semver semverCompare regexMatch mustRegexMatch \
        regexFindAll mustRegexFindAll regexFind mustRegexFind regexReplaceAll mustRegexReplaceAll \
        regexReplaceAllLiteral mustRegexReplaceAllLiteral regexSplit mustRegexSplit regexQuoteMeta urlParse urlJoin";

    #[test]
    fn every_sprig_function_is_registered() {
        let funcs = super::functions();
        let missing: Vec<&str> = SPRIG_NAMES
            .split_whitespace()
            .filter(|name| !funcs.contains_key(*name))
            .collect();
        assert!(missing.is_empty(), "missing: {missing:?}");
        for removed in ["env", "expandenv", "required", "include", "tpl"] {
            assert!(
                !funcs.contains_key(removed),
                "{removed} is not sprig's to provide here"
            );
        }
    }
}
