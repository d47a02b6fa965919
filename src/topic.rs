//! Topic names and filters: paho's matching rules and the MQTT validity rules.
//!
//! Matching follows paho-mqtt's `topic_matches_sub` to the letter, which differs from
//! `rumqttc::mqttbytes::matches` in ways scripts can observe: paho lets `$SYS/#` match
//! `$SYS/broker` (only a wildcard in the *first* level skips `$` topics), and lets `a/#` match `a`.
//! Validation reuses rumqttc's filter rules once the client lands; for now it is written here.

/// Whether `topic` matches the subscription filter `sub`, exactly as paho-mqtt decides it.
///
/// No validation is done: an invalid filter such as `a/#/b` matches only the identical topic,
/// as in paho.
pub fn matches_sub(sub: &str, topic: &str) -> bool {
    let filter: Vec<&str> = sub.split('/').collect();
    let levels: Vec<&str> = topic.split('/').collect();
    // Wildcards in the first level do not match topics starting with '$' (MQTT 4.7.2).
    let normal = !topic.starts_with('$');
    let mut i = 0;
    loop {
        // A '#' at this position matches the rest of the topic, including nothing more,
        // provided it is the filter's last level.
        let wildcard_ok = normal || i > 0;
        if filter.get(i) == Some(&"#") && wildcard_ok && i + 1 == filter.len() {
            return true;
        }
        if i == levels.len() {
            return i == filter.len();
        }
        match filter.get(i) {
            Some(&f) if f == levels[i] || (f == "+" && wildcard_ok) => i += 1,
            _ => return false,
        }
    }
}

/// Whether `topic` may be published to: not empty, no wildcard, at most 65535 bytes, no NUL.
pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && topic.len() <= 65535 && !topic.contains(['+', '#', '\0'])
}

/// Whether `filter` is a valid subscription filter: not empty, at most 65535 bytes, no NUL,
/// `+` alone in its level, `#` alone in the last level.
pub fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.len() > 65535 || filter.contains('\0') {
        return false;
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let last = levels.peek().is_none();
        if level.len() > 1 && level.contains(['+', '#']) {
            return false;
        }
        if level == "#" && !last {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paho_matching_cases() {
        let yes = [
            ("foo/bar", "foo/bar"),
            ("foo/+", "foo/bar"),
            ("foo/+/baz", "foo/bar/baz"),
            ("foo/+/#", "foo/bar/baz"),
            ("A/B/+/#", "A/B/B/C"),
            ("#", "foo/bar/baz"),
            ("#", "/foo/bar"),
            ("/#", "/foo/bar"),
            ("$SYS/bar", "$SYS/bar"),
            ("foo/#", "foo"),
            ("foo/#", "foo/"),
            ("foo/+", "foo/"),
            ("+/+", "/"),
            ("+", ""),
            ("#", ""),
            ("$SYS/#", "$SYS/broker/uptime"),
            ("$SYS/+", "$SYS/x"),
            ("a/#/b", "a/#/b"),
        ];
        for (sub, topic) in yes {
            assert!(matches_sub(sub, topic), "{sub} should match {topic}");
        }
        let no = [
            ("test/6/#", "test/3"),
            ("foo/bar", "foo"),
            ("foo/+", "foo/bar/baz"),
            ("foo/+/baz", "foo/bar/bar"),
            ("foo/+/#", "fo2/bar/baz"),
            ("/#", "foo/bar"),
            ("#", "$SYS/bar"),
            ("+/bar", "$SYS/bar"),
            ("$BOB/bar", "$SYS/bar"),
            ("+", "/"),
            ("a/#/b", "a/x/b"),
            ("foo/bar/#", "foo"),
        ];
        for (sub, topic) in no {
            assert!(!matches_sub(sub, topic), "{sub} should not match {topic}");
        }
    }

    #[test]
    fn validity() {
        assert!(valid_topic("a/b"));
        assert!(valid_topic("/"));
        assert!(!valid_topic(""));
        assert!(!valid_topic("a/+"));
        assert!(!valid_topic("a/#"));
        assert!(!valid_topic("a\0b"));
        for ok in ["#", "+", "a/+/b", "a/#", "+/+", "/", "$SYS/#"] {
            assert!(valid_filter(ok), "{ok}");
        }
        for bad in ["", "a/#/b", "a#", "a/b+", "++", "#/", "a\0"] {
            assert!(!valid_filter(bad), "{bad}");
        }
    }
}
