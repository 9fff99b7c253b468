//! The field-by-field difference between an alarm's observed and desired configuration.

use std::fmt;

use crate::alarm::AlarmConfig;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub before: String,
    pub after: String,
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field == "description" {
            return f.write_str("description edited");
        }
        write!(f, "{} {} → {}", self.field, self.before, self.after)
    }
}

/// Every field of the full configuration, compared after normalisation.
pub fn diff(actual: &AlarmConfig, desired: &AlarmConfig) -> Vec<FieldChange> {
    // The common case on every sweep: nothing differs, so nothing is copied or built.
    if actual.is_normalized() && actual == desired {
        return Vec::new();
    }
    let actual = actual.clone().normalized();
    if actual == *desired {
        return Vec::new();
    }
    let mut changes = Vec::new();
    let mut field = |name: &'static str, before: String, after: String| {
        if before != after {
            changes.push(FieldChange { field: name, before, after });
        }
    };
    let list = |items: &[String]| format!("[{}]", items.join(", "));
    let dims = |c: &AlarmConfig| {
        list(&c.dimensions.iter().map(|d| format!("{}={}", d.name, d.value)).collect::<Vec<_>>())
    };
    let opt = |v: Option<i32>| v.map_or("unset".to_owned(), |v| v.to_string());
    field("namespace", actual.namespace.clone(), desired.namespace.clone());
    field("metric", actual.metric_name.clone(), desired.metric_name.clone());
    field("dimensions", dims(&actual), dims(desired));
    field("statistic", actual.statistic.to_string(), desired.statistic.to_string());
    field("period", actual.period_seconds.to_string(), desired.period_seconds.to_string());
    field(
        "evaluation periods",
        actual.evaluation_periods.to_string(),
        desired.evaluation_periods.to_string(),
    );
    field("datapoints to alarm", opt(actual.datapoints_to_alarm), opt(desired.datapoints_to_alarm));
    field("threshold", actual.threshold.to_string(), desired.threshold.to_string());
    field("operator", actual.comparison_operator.to_string(), desired.comparison_operator.to_string());
    field("missing data", actual.treat_missing_data.to_string(), desired.treat_missing_data.to_string());
    field("actions enabled", actual.actions_enabled.to_string(), desired.actions_enabled.to_string());
    field("alarm actions", list(&actual.alarm_actions), list(&desired.alarm_actions));
    field("OK actions", list(&actual.ok_actions), list(&desired.ok_actions));
    field(
        "insufficient-data actions",
        list(&actual.insufficient_data_actions),
        list(&desired.insufficient_data_actions),
    );
    let expression =
        |c: &AlarmConfig| c.math.as_ref().map_or_else(|| "none".to_owned(), |m| m.expression.clone());
    field("expression", expression(&actual), expression(desired));
    let metric_ids = |c: &AlarmConfig| {
        c.math.as_ref().map_or_else(String::new, |m| {
            list(&[vec![m.metric_id.clone()], m.other_metrics.clone()].concat())
        })
    };
    field("metric ids", metric_ids(&actual), metric_ids(desired));
    field("description", actual.description.clone(), desired.description.clone());
    changes
}
