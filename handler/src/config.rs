//! Configuration, read once from environment variables into typed values.
//!
//! Every variable is documented in docs/configuration.md; the SAM
//! template sets them from its parameters. AWS settings (Region, endpoint,
//! credentials, retries) follow the SDK's standard chain and are not read here.

use std::collections::BTreeSet;

use reconciler_core::alarm::Dimension;
use reconciler_core::forecast::parse_forecast_hours;
use reconciler_core::maintenance::MAX_MUTE_SECONDS;
use reconciler_core::{
    parse_alarm_tags, ForecastPolicy, MaintenanceSettings, MetricProfile, MissingData, Naming, Policy,
    SeverityPolicy, Statistic, TopicArn,
};

use crate::pacing::{default_rate_limits, RateLimits};

#[derive(Debug, Clone)]
pub struct Config {
    pub policy: Policy,
    /// How long after an event the EC2 API may still lag behind it.
    pub consistency_window_seconds: i64,
    /// Client-side pacing of API calls, per second.
    pub rate_limits: RateLimits,
    /// How long before the Lambda's deadline a sweep stops writing.
    pub deadline_margin_seconds: u64,
    /// The follow-up pass looks again at instances started this recently.
    pub recent_start_seconds: i64,
    /// How AWS Health maintenance windows become alarm mutes.
    pub maintenance: MaintenanceSettings,
    /// An owned alarm in `INSUFFICIENT_DATA` this long is reported as silent.
    pub silent_after_seconds: i64,
    /// What one alarm metric costs a month, in US dollars, for the cost estimates.
    pub alarm_monthly_price_usd: f64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} is required but not set")]
    Missing(&'static str),
    #[error("{0} is set but empty: give it a value, or unset it to use the default")]
    Empty(&'static str),
    #[error("{var}={value:?} is invalid: {reason}")]
    Invalid { var: &'static str, value: String, reason: String },
}

pub const DEFAULT_ALARM_NAME_PREFIX: &str = "ec2-disk-";

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the
    /// process environment. A variable set to an empty value is an error, not
    /// the default: a blank `ALARM_NAME_PREFIX` from a templating mistake
    /// would otherwise let one deployment sweep another's alarms.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &'static str| -> Result<Option<String>, ConfigError> {
            match lookup(var) {
                Some(value) if value.trim().is_empty() => Err(ConfigError::Empty(var)),
                value => Ok(value),
            }
        };
        let invalid = |var: &'static str, value: &str, reason: &dyn ToString| ConfigError::Invalid {
            var,
            value: value.to_owned(),
            reason: reason.to_string(),
        };
        let number = |var: &'static str, default: f64| -> Result<f64, ConfigError> {
            match get(var)? {
                None => Ok(default),
                Some(raw) => {
                    reconciler_core::policy::parse_threshold(&raw).map_err(|e| invalid(var, &raw, &e))
                }
            }
        };
        let integer = |var: &'static str, default: i64, min: i64, max: i64| -> Result<i64, ConfigError> {
            match get(var)? {
                None => Ok(default),
                Some(raw) => match raw.trim().parse::<i64>() {
                    Ok(v) if (min..=max).contains(&v) => Ok(v),
                    _ => Err(invalid(var, &raw, &format!("expected a whole number from {min} to {max}"))),
                },
            }
        };
        let topic = |var: &'static str| -> Result<TopicArn, ConfigError> {
            let raw = get(var)?.ok_or(ConfigError::Missing(var))?;
            TopicArn::parse(raw.trim()).map_err(|e| invalid(var, &raw, &e))
        };

        let scope_tag_key = get("SCOPE_TAG_KEY")?.unwrap_or_else(|| "Environment".into());
        let scope_values_raw = get("SCOPE_TAG_VALUES")?.unwrap_or_else(|| "production".into());
        let scope_tag_values: BTreeSet<String> =
            scope_values_raw.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect();
        if scope_tag_values.is_empty() {
            return Err(invalid("SCOPE_TAG_VALUES", &scope_values_raw, &"lists no value"));
        }

        let warning = number("WARNING_THRESHOLD", 60.0)?;
        let critical = number("CRITICAL_THRESHOLD", 80.0)?;
        if warning >= critical {
            return Err(invalid(
                "WARNING_THRESHOLD",
                &warning.to_string(),
                &format!("must be below CRITICAL_THRESHOLD ({critical})"),
            ));
        }

        let dimensions = match get("DISK_DIMENSIONS")? {
            None => None,
            Some(raw) => Some(parse_dimensions(&raw).map_err(|e| invalid("DISK_DIMENSIONS", &raw, &e))?),
        };
        let mut metric = match get("METRIC_PROFILE")?.as_deref().map(str::trim) {
            None | Some("cwagent") => MetricProfile::cwagent(dimensions),
            Some("legacy") => MetricProfile::legacy(dimensions),
            Some(other) => return Err(invalid("METRIC_PROFILE", other, &"expected cwagent or legacy")),
        };
        metric.group_dimension = match get("APPEND_GROUP_DIMENSION")?.as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(invalid("APPEND_GROUP_DIMENSION", other, &"expected true or false")),
        };
        if let Some(raw) = get("SKIP_FSTYPES")? {
            metric.filter.skip_fstypes =
                parse_patterns(&raw).map_err(|e| invalid("SKIP_FSTYPES", &raw, &e))?;
        }
        if let Some(raw) = get("SKIP_PATHS")? {
            metric.filter.skip_paths = parse_patterns(&raw).map_err(|e| invalid("SKIP_PATHS", &raw, &e))?;
        }
        if let Some(raw) = get("SKIP_WINDOWS_VOLUMES")? {
            metric.filter.skip_volumes =
                parse_patterns(&raw).map_err(|e| invalid("SKIP_WINDOWS_VOLUMES", &raw, &e))?;
        }
        let windows_dimensions = match get("WINDOWS_DISK_DIMENSIONS")? {
            None => None,
            Some(raw) => {
                Some(parse_dimensions(&raw).map_err(|e| invalid("WINDOWS_DISK_DIMENSIONS", &raw, &e))?)
            }
        };
        let windows = MetricProfile {
            group_dimension: metric.group_dimension,
            filter: metric.filter.clone(),
            ..MetricProfile::windows(windows_dimensions)
        };
        let alarm_tags = match get("ALARM_TAGS")? {
            None => Vec::new(),
            Some(raw) => parse_alarm_tags(&raw).map_err(|e| invalid("ALARM_TAGS", &raw, &e))?,
        };

        let treat_missing_data = match get("TREAT_MISSING_DATA")? {
            None => MissingData::Missing,
            Some(raw) => match MissingData::parse(raw.trim()) {
                MissingData::Other(_) => {
                    return Err(invalid(
                        "TREAT_MISSING_DATA",
                        &raw,
                        &"expected missing, ignore, breaching or notBreaching",
                    ))
                }
                known => known,
            },
        };

        let period_seconds = integer("ALARM_PERIOD_SECONDS", 300, 10, 86_400)?;
        if !matches!(period_seconds, 10 | 20 | 30) && period_seconds % 60 != 0 {
            return Err(invalid(
                "ALARM_PERIOD_SECONDS",
                &period_seconds.to_string(),
                &"CloudWatch accepts 10, 20, 30 or a multiple of 60",
            ));
        }
        let evaluation_periods = integer("ALARM_EVALUATION_PERIODS", 2, 1, 100)?;

        let prefix = get("ALARM_NAME_PREFIX")?.unwrap_or_else(|| DEFAULT_ALARM_NAME_PREFIX.into());
        let naming = Naming::new(&prefix).map_err(|e| invalid("ALARM_NAME_PREFIX", &prefix, &e))?;

        let mut rate_limits = default_rate_limits();
        let rate_limits: Result<RateLimits, ConfigError> = [
            ("PUT_METRIC_ALARM_TPS", "PutMetricAlarm"),
            ("DELETE_ALARMS_TPS", "DeleteAlarms"),
            ("DESCRIBE_ALARMS_TPS", "DescribeAlarms"),
            ("LIST_METRICS_TPS", "ListMetrics"),
            ("LIST_TAGS_FOR_RESOURCE_TPS", "ListTagsForResource"),
            ("TAG_RESOURCE_TPS", "TagResource"),
        ]
        .into_iter()
        .try_for_each(|(var, operation)| {
            if let Some(raw) = get(var)? {
                match raw.trim().parse::<f64>() {
                    Ok(rate) if rate.is_finite() && rate > 0.0 && rate <= 1000.0 => {
                        rate_limits.insert(operation, rate);
                    }
                    _ => {
                        return Err(invalid(
                            var,
                            &raw,
                            &"expected calls per second, above 0 and at most 1000",
                        ))
                    }
                }
            }
            Ok(())
        })
        .map(|()| rate_limits);

        let forecast = ForecastPolicy {
            hours: match get("FILL_FORECAST_HOURS")? {
                None => None,
                Some(raw) => {
                    parse_forecast_hours(&raw).map_err(|e| invalid("FILL_FORECAST_HOURS", &raw, &e))?
                }
            },
            floor_percent: match get("FORECAST_FLOOR_PERCENT")? {
                None => ForecastPolicy::OFF.floor_percent,
                Some(raw) => match raw.trim().parse::<f64>() {
                    Ok(floor) if (0.0..100.0).contains(&floor) => floor,
                    _ => {
                        return Err(invalid(
                            "FORECAST_FLOOR_PERCENT",
                            &raw,
                            &"expected a percentage from 0 to below 100",
                        ))
                    }
                },
            },
        };

        Ok(Self {
            policy: Policy {
                scope_tag_key,
                scope_tag_values,
                warning: SeverityPolicy { threshold: warning, topic: topic("WARNING_TOPIC_ARN")? },
                critical: SeverityPolicy { threshold: critical, topic: topic("CRITICAL_TOPIC_ARN")? },
                forecast,
                linux: metric,
                windows,
                statistic: Statistic::Average,
                period_seconds: period_seconds as i32,
                evaluation_periods: evaluation_periods as i32,
                treat_missing_data,
                naming,
                alarm_tags,
            },
            consistency_window_seconds: integer("CONSISTENCY_WINDOW_SECONDS", 120, 0, 3600)?,
            rate_limits: rate_limits?,
            deadline_margin_seconds: integer("SWEEP_DEADLINE_MARGIN_SECONDS", 60, 5, 600)? as u64,
            recent_start_seconds: integer("RECENT_START_MINUTES", 60, 0, 1440)? * 60,
            maintenance: MaintenanceSettings {
                lead_seconds: integer("MAINTENANCE_LEAD_MINUTES", 10, 0, 1440)? * 60,
                margin_seconds: integer("MAINTENANCE_MARGIN_MINUTES", 30, 0, 1440)? * 60,
                default_duration_seconds: integer("MAINTENANCE_DEFAULT_HOURS", 2, 1, 48)? * 3600,
                max_mute_seconds: integer("MAINTENANCE_MAX_HOURS", 48, 1, MAX_MUTE_SECONDS / 3600)? * 3600,
            },
            silent_after_seconds: integer("SILENT_AFTER_MINUTES", 60, 0, 10_080)? * 60,
            alarm_monthly_price_usd: match get("ALARM_MONTHLY_PRICE_USD")? {
                None => 0.10,
                Some(raw) => match raw.trim().parse::<f64>() {
                    Ok(price) if price.is_finite() && (0.0..=100.0).contains(&price) => price,
                    _ => {
                        return Err(invalid(
                            "ALARM_MONTHLY_PRICE_USD",
                            &raw,
                            &"expected US dollars from 0 to 100",
                        ))
                    }
                },
            },
        })
    }
}

/// Comma-separated glob patterns; `none` for an empty list (skip nothing).
fn parse_patterns(raw: &str) -> Result<Vec<String>, String> {
    if raw.trim() == "none" {
        return Ok(Vec::new());
    }
    let patterns: Vec<String> =
        raw.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect();
    if patterns.len() > 100 {
        return Err("at most 100 patterns".into());
    }
    if let Some(bad) = patterns.iter().find(|p| p.len() > 256 || p.chars().any(char::is_control)) {
        return Err(format!("pattern {:?} is longer than 256 characters or has control characters", bad));
    }
    Ok(patterns)
}

/// `name=value,name=value`; `InstanceId` is always added and may not be listed.
fn parse_dimensions(raw: &str) -> Result<Vec<Dimension>, String> {
    let mut dimensions: Vec<Dimension> = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').ok_or(format!("{pair:?} is not name=value"))?;
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() || value.is_empty() || name.len() > 255 || value.len() > 1024 {
            return Err(format!("{pair:?} needs a name (1-255) and a value (1-1024 characters)"));
        }
        if name == "InstanceId" {
            return Err("InstanceId is always added per instance; do not list it".into());
        }
        if dimensions.iter().any(|d| d.name == name) {
            return Err(format!("{name} is listed twice"));
        }
        dimensions.push(Dimension::new(name, value));
    }
    if dimensions.len() > 29 {
        return Err("CloudWatch allows 30 dimensions including InstanceId".into());
    }
    Ok(dimensions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const WARNING: &str = "arn:aws:sns:us-east-1:123456789012:disk-warning";
    const CRITICAL: &str = "arn:aws:sns:us-east-1:123456789012:disk-critical";

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut env: HashMap<String, String> =
            [("WARNING_TOPIC_ARN", WARNING), ("CRITICAL_TOPIC_ARN", CRITICAL)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        for (k, v) in vars {
            env.insert(k.to_string(), v.to_string());
        }
        Config::from_lookup(|k| env.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let config = load(&[]).unwrap();
        let p = &config.policy;
        assert_eq!(p.scope_tag_key, "Environment");
        assert_eq!(p.scope_tag_values, ["production".to_string()].into());
        assert_eq!((p.warning.threshold, p.critical.threshold), (60.0, 80.0));
        assert_eq!(p.forecast, ForecastPolicy { hours: None, floor_percent: 50.0 }, "the forecast is off");
        assert_eq!(p.linux.namespace, "CWAgent");
        assert_eq!(p.linux.dimensions, vec![Dimension::new("path", "/"), Dimension::new("fstype", "xfs")]);
        assert_eq!((p.period_seconds, p.evaluation_periods), (300, 2));
        assert_eq!(p.treat_missing_data, MissingData::Missing);
        assert_eq!(p.naming.prefix(), "ec2-disk-");
        assert_eq!(config.consistency_window_seconds, 120);
        assert_eq!(config.rate_limits["PutMetricAlarm"], 3.0);
        assert_eq!(config.rate_limits["DescribeAlarms"], 9.0);
        assert_eq!(config.deadline_margin_seconds, 60);
        assert_eq!(config.maintenance, MaintenanceSettings::default());
        assert_eq!(config.silent_after_seconds, 3600);
        assert_eq!(config.alarm_monthly_price_usd, 0.10);
        assert!(!p.linux.group_dimension);
        assert_eq!(p.linux.filter, reconciler_core::SeriesFilter::default());
        assert_eq!(config.rate_limits["ListMetrics"], 25.0);
    }

    #[test]
    fn a_required_variable_that_is_unset_is_named() {
        let error = Config::from_lookup(|_| None).map(|_| ()).unwrap_err();
        assert_eq!(error, ConfigError::Missing("WARNING_TOPIC_ARN"));
    }

    #[test]
    fn series_filters_are_read() {
        let config = load(&[("SKIP_FSTYPES", "tmpfs, nfs*,"), ("SKIP_PATHS", "none")]).unwrap();
        let filter = &config.policy.linux.filter;
        assert_eq!(filter.skip_fstypes, ["tmpfs", "nfs*"]);
        assert!(filter.skip_paths.is_empty());
        assert!(filter.skip_reason("/mnt/efs", Some("nfs4")).is_some());
        assert!(filter.skip_reason("/boot", Some("xfs")).is_none());
        let error = load(&[("SKIP_PATHS", "/a\u{7}")]).map(|_| ()).unwrap_err().to_string();
        assert!(error.contains("SKIP_PATHS"), "{error}");
    }

    #[test]
    fn windows_settings_and_alarm_tags_are_read() {
        let defaults = load(&[]).unwrap().policy;
        assert_eq!(defaults.windows.metric_name, "LogicalDisk % Free Space");
        assert_eq!(
            defaults.windows.dimensions,
            vec![Dimension::new("instance", "C:"), Dimension::new("objectname", "LogicalDisk")]
        );
        assert_eq!(defaults.windows.filter.skip_volumes, ["_Total", "HarddiskVolume*"]);
        assert!(defaults.alarm_tags.is_empty());

        let config = load(&[
            ("SKIP_WINDOWS_VOLUMES", "_Total, HarddiskVolume*, D:"),
            ("WINDOWS_DISK_DIMENSIONS", "instance=C:,objectname=LogicalDisk,InstanceType=m5.large"),
            ("APPEND_GROUP_DIMENSION", "true"),
            ("ALARM_TAGS", "team=platform, cost-center=cc-42"),
        ])
        .unwrap();
        let p = &config.policy;
        assert_eq!(p.windows.filter.skip_volumes, ["_Total", "HarddiskVolume*", "D:"]);
        assert!(p.windows.filter.skip_volume_reason("D:").is_some());
        assert_eq!(p.windows.dimensions[2], Dimension::new("InstanceType", "m5.large"));
        assert!(p.windows.group_dimension, "the agent appends the group on both platforms");
        let tags: Vec<(&str, &str)> =
            p.alarm_tags.iter().map(|t| (t.key.as_str(), t.value.as_str())).collect();
        assert_eq!(tags, [("team", "platform"), ("cost-center", "cc-42")]);
        assert!(load(&[("SKIP_WINDOWS_VOLUMES", "none")])
            .unwrap()
            .policy
            .windows
            .filter
            .skip_volumes
            .is_empty());
    }

    #[test]
    fn settings_are_read() {
        let config = load(&[
            ("SCOPE_TAG_KEY", "Stage"),
            ("SCOPE_TAG_VALUES", "prod, production ,"),
            ("WARNING_THRESHOLD", "70"),
            ("CRITICAL_THRESHOLD", "90"),
            ("METRIC_PROFILE", "legacy"),
            ("DISK_DIMENSIONS", "Filesystem=/dev/nvme0n1p1,MountPath=/"),
            ("ALARM_NAME_PREFIX", "disk/"),
            ("TREAT_MISSING_DATA", "breaching"),
            ("PUT_METRIC_ALARM_TPS", "1.5"),
            ("LIST_METRICS_TPS", "10"),
            ("LIST_TAGS_FOR_RESOURCE_TPS", "20"),
            ("MAINTENANCE_LEAD_MINUTES", "0"),
            ("MAINTENANCE_MARGIN_MINUTES", "15"),
            ("MAINTENANCE_DEFAULT_HOURS", "4"),
            ("MAINTENANCE_MAX_HOURS", "360"),
            ("APPEND_GROUP_DIMENSION", "true"),
            ("SILENT_AFTER_MINUTES", "0"),
            ("FILL_FORECAST_HOURS", "24"),
            ("FORECAST_FLOOR_PERCENT", "65"),
        ])
        .unwrap();
        assert_eq!(config.silent_after_seconds, 0);
        assert_eq!(config.policy.forecast, ForecastPolicy { hours: Some(24.0), floor_percent: 65.0 });
        let off = load(&[("FILL_FORECAST_HOURS", "0")]).unwrap();
        assert_eq!(off.policy.forecast.hours, None, "0 is off");
        let m = config.maintenance;
        assert_eq!(
            (m.lead_seconds, m.margin_seconds, m.default_duration_seconds, m.max_mute_seconds),
            (0, 900, 4 * 3600, 15 * 86_400)
        );
        assert!(config.policy.linux.group_dimension);
        let p = &config.policy;
        assert_eq!(p.scope_tag_values, ["prod".to_string(), "production".to_string()].into());
        assert_eq!((p.warning.threshold, p.critical.threshold), (70.0, 90.0));
        assert_eq!(p.linux.namespace, "System/Linux");
        assert_eq!(p.linux.dimensions[0], Dimension::new("Filesystem", "/dev/nvme0n1p1"));
        assert_eq!(p.naming.prefix(), "disk/");
        assert_eq!(config.rate_limits["PutMetricAlarm"], 1.5);
        assert_eq!(config.rate_limits["ListMetrics"], 10.0);
        assert_eq!(config.rate_limits["ListTagsForResource"], 20.0);
        assert_eq!(config.rate_limits["TagResource"], 5.0);
    }

    #[test]
    fn errors_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("WARNING_TOPIC_ARN", "")], "WARNING_TOPIC_ARN is set but empty"),
            (&[("ALARM_NAME_PREFIX", "")], "ALARM_NAME_PREFIX is set but empty"),
            (&[("WARNING_THRESHOLD", " ")], "WARNING_THRESHOLD is set but empty"),
            (&[("SCOPE_TAG_KEY", "")], "SCOPE_TAG_KEY is set but empty"),
            (&[("METRIC_PROFILE", "")], "METRIC_PROFILE is set but empty"),
            (&[("DISK_DIMENSIONS", "")], "DISK_DIMENSIONS is set but empty"),
            (&[("CRITICAL_TOPIC_ARN", "pager")], "CRITICAL_TOPIC_ARN=\"pager\" is invalid"),
            (&[("WARNING_THRESHOLD", "abc")], "WARNING_THRESHOLD=\"abc\" is invalid: not a number"),
            (&[("CRITICAL_THRESHOLD", "150")], "CRITICAL_THRESHOLD=\"150\" is invalid"),
            (&[("WARNING_THRESHOLD", "85")], "must be below CRITICAL_THRESHOLD"),
            (&[("METRIC_PROFILE", "prometheus")], "expected cwagent or legacy"),
            (&[("DISK_DIMENSIONS", "path")], "is not name=value"),
            (&[("DISK_DIMENSIONS", "InstanceId=i-1")], "InstanceId is always added"),
            (&[("DISK_DIMENSIONS", "path=/,path=/data")], "path is listed twice"),
            (&[("SCOPE_TAG_VALUES", " , ")], "lists no value"),
            (&[("TREAT_MISSING_DATA", "yes")], "expected missing"),
            (&[("ALARM_PERIOD_SECONDS", "45")], "multiple of 60"),
            (&[("ALARM_EVALUATION_PERIODS", "0")], "from 1 to 100"),
            (&[("ALARM_NAME_PREFIX", "a*")], "ALARM_NAME_PREFIX"),
            (&[("CONSISTENCY_WINDOW_SECONDS", "-1")], "CONSISTENCY_WINDOW_SECONDS"),
            (&[("SILENT_AFTER_MINUTES", "10081")], "SILENT_AFTER_MINUTES"),
            (&[("PUT_METRIC_ALARM_TPS", "0")], "expected calls per second"),
            (&[("DESCRIBE_ALARMS_TPS", "NaN")], "expected calls per second"),
            (&[("MAINTENANCE_MAX_HOURS", "361")], "from 1 to 360"),
            (&[("MAINTENANCE_LEAD_MINUTES", "-5")], "MAINTENANCE_LEAD_MINUTES"),
            (&[("APPEND_GROUP_DIMENSION", "yes")], "expected true or false"),
            (&[("SKIP_WINDOWS_VOLUMES", "")], "SKIP_WINDOWS_VOLUMES is set but empty"),
            (&[("WINDOWS_DISK_DIMENSIONS", "instance")], "WINDOWS_DISK_DIMENSIONS=\"instance\" is invalid"),
            (&[("ALARM_TAGS", "")], "ALARM_TAGS is set but empty"),
            (&[("ALARM_TAGS", "aws:team=x")], "ALARM_TAGS=\"aws:team=x\" is invalid: key \"aws:team\""),
            (&[("ALARM_TAGS", "Severity=low")], "ALARM_TAGS=\"Severity=low\" is invalid"),
            (&[("ALARM_TAGS", "team")], "ALARM_TAGS=\"team\" is invalid: \"team\" is not key=value"),
            (&[("FILL_FORECAST_HOURS", "")], "FILL_FORECAST_HOURS is set but empty"),
            (&[("FILL_FORECAST_HOURS", "1d")], "FILL_FORECAST_HOURS=\"1d\" is invalid: not a number"),
            (&[("FILL_FORECAST_HOURS", "721")], "outside 0 (off) to 720 hours"),
            (&[("FORECAST_FLOOR_PERCENT", "100")], "FORECAST_FLOOR_PERCENT=\"100\" is invalid"),
            (&[("FORECAST_FLOOR_PERCENT", "-1")], "expected a percentage from 0 to below 100"),
        ];
        for (vars, expected) in cases {
            let error = load(vars).unwrap_err().to_string();
            assert!(error.contains(expected), "{vars:?}: {error}");
        }
    }
}
