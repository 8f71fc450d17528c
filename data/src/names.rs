//! Suggesting the class a user probably meant when a name is unknown.

/// The available name nearest to `name` (case-insensitive edit distance), when it is close enough
/// to be a plausible typo.
pub(crate) fn closest(name: &str, available: &[String]) -> Option<String> {
    let lower = name.to_lowercase();
    available
        .iter()
        .map(|a| (edit_distance(&lower, &a.to_lowercase()), a))
        .filter(|&(d, a)| d <= (a.chars().count().max(name.chars().count()) / 3).max(2))
        .min_by_key(|&(d, _)| d)
        .map(|(_, a)| a.clone())
}

/// Levenshtein distance over chars.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
