//! Operational metrics as CloudWatch Embedded Metric Format lines: one JSON object per figure on
//! standard output, which Lambda's log stream turns into a metric of namespace [`NAMESPACE`] (no agent,
//! no API call). The template's alarms watch them; the README's operations section says what each means.

use serde_json::json;

/// The metrics' namespace (the template's alarms name it).
pub const NAMESPACE: &str = "AcpPaymentApp";

/// Counts `value` occurrences of `name` (an EMF line; locally it shows in the function's output).
pub fn count(name: &str, value: u64) {
    println!("{}", line(name, value, "Count", now_millis()));
}

/// Records a duration of `seconds` as `name` (an age, a lag).
pub fn seconds(name: &str, seconds: u64) {
    println!("{}", line(name, seconds, "Seconds", now_millis()));
}

fn now_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// The EMF line of one figure in `unit`.
fn line(name: &str, value: u64, unit: &str, timestamp_ms: u128) -> String {
    let mut line = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[]],
                "Metrics": [{"Name": name, "Unit": unit}],
            }],
        },
    });
    line[name] = json!(value);
    line.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_is_one_emf_object_naming_its_metric_and_value() {
        let parsed: serde_json::Value =
            serde_json::from_str(&line("InboxGivenUp", 2, "Count", 1_700_000_000_000)).unwrap();
        assert_eq!(parsed["InboxGivenUp"], 2);
        assert_eq!(parsed["_aws"]["Timestamp"], 1_700_000_000_000_u64);
        let directive = &parsed["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(
            directive["Metrics"][0],
            json!({"Name": "InboxGivenUp", "Unit": "Count"})
        );
        assert_eq!(directive["Dimensions"], json!([[]]));
        let age: serde_json::Value = serde_json::from_str(&line("OutboxUnpublishedAge", 40, "Seconds", 1)).unwrap();
        assert_eq!(age["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"], "Seconds");
    }
}
