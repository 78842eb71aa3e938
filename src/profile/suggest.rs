//! "Did you mean": the nearest of the names that would do, for a name that does not.

/// The candidate closest to `word`, if one is close enough to be what was meant (as clap and
/// cargo suggest: Jaro-Winkler similarity above 0.8, or one edit away).
pub fn nearest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let word = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .filter(|candidate| *candidate != word)
        .map(|candidate| {
            let lower = candidate.to_ascii_lowercase();
            let close = strsim::jaro_winkler(&word, &lower) > 0.8
                || strsim::damerau_levenshtein(&word, &lower) <= 1;
            (candidate, close, strsim::jaro_winkler(&word, &lower))
        })
        .filter(|(_, close, _)| *close)
        .max_by(|a, b| a.2.total_cmp(&b.2))
        .map(|(candidate, _, _)| candidate)
}

#[cfg(test)]
mod tests {
    use super::nearest;

    #[test]
    fn a_typo_finds_what_was_meant_and_a_stranger_finds_nothing() {
        let profiles = ["local", "prod", "krakend", "krakend-cluster"];
        assert_eq!(nearest("lcoal", profiles), Some("local"));
        assert_eq!(nearest("krakend-clustr", profiles), Some("krakend-cluster"));
        assert_eq!(nearest("staging", profiles), None);
        let regions = ["us-east-1", "us-east-2", "eu-west-1"];
        assert_eq!(nearest("us-east1", regions), Some("us-east-1"));
        assert_eq!(nearest("mars-north-1", regions), None);
    }
}
