//! Human-readable output for `alarmctl`: reports and plans grouped by
//! instance, the way `terraform plan` prints them, and `explain`.

use std::collections::BTreeMap;
use std::fmt::Write;

use reconciler_core::{Desire, InstanceId, Platform, ScopeDecision, SeriesVerdict};

use crate::explain::Explanation;
use crate::report::{ChangeStatus, Report, TriggerKind};

pub fn render_report(report: &Report) -> String {
    let mut out = String::new();
    let mut by_instance: BTreeMap<&InstanceId, Vec<_>> = BTreeMap::new();
    for change in &report.changes {
        by_instance.entry(&change.instance).or_default().push(change);
    }
    for (instance, changes) in by_instance {
        let _ = writeln!(out, "{instance}");
        for change in changes {
            let symbol = change.action.symbol();
            let status = match change.status {
                ChangeStatus::Failed => "  FAILED",
                ChangeStatus::Applied | ChangeStatus::Planned => "",
            };
            let _ = writeln!(
                out,
                "  {symbol} {:<6} {:<45} {}{status}",
                change.action.as_str(),
                change.alarm,
                change.reason
            );
        }
    }
    for conflict in &report.conflicts {
        let _ = writeln!(out, "! conflict: {conflict}");
    }
    for note in &report.notes {
        let _ = writeln!(out, "! note: {note}");
    }
    for failure in &report.failures {
        let _ = writeln!(out, "! failed: {}", failure.error);
    }
    let verb = if report.dry_run { "Plan" } else { "Applied" };
    let _ = writeln!(
        out,
        "{verb}: {} to create, {} to update, {} to delete, {} unchanged; {} instances examined, {} in scope; {} conflicts, {} failures.",
        report.created,
        report.updated,
        report.deleted,
        report.unchanged,
        report.instances_examined,
        report.instances_in_scope,
        report.conflicts.len(),
        report.failures.len()
    );
    if report.instances_provisional + report.alarms_series_gone > 0 {
        let _ = writeln!(
            out,
            "Series: {} instance(s) on the provisional pair (no disk series published yet), {} alarm(s) whose series is gone.",
            report.instances_provisional, report.alarms_series_gone
        );
    }
    if let (Some(alarms), Some(cost)) = (report.alarms_after_apply, report.monthly_cost_usd) {
        let after = if report.dry_run { "once applied" } else { "now" };
        let _ = writeln!(out, "Cost: {alarms} owned alarm(s) {after}, about US${cost:.2} a month.");
    }
    if report.alarms_silent > 0 {
        let _ = writeln!(
            out,
            "Silent: {} alarm(s) without data for too long, protecting nothing:",
            report.alarms_silent
        );
        for s in &report.silent {
            let _ = writeln!(
                out,
                "  {} ({}): since {}; likely cause: {}",
                s.alarm, s.instance, s.since, s.reason
            );
        }
    }
    if report.mutes_set + report.mutes_removed > 0 {
        let _ = writeln!(out, "Mutes: {} set, {} removed.", report.mutes_set, report.mutes_removed);
    }
    if let Some(retag) = &report.retag {
        let verb = if report.dry_run { "to re-tag" } else { "re-tagged" };
        let _ = writeln!(out, "Tags: {} alarm(s) checked, {} {verb}.", retag.checked, retag.retagged);
    }
    if !report.dry_run {
        out = out
            .replace(" to create", " created")
            .replace(" to update", " updated")
            .replace(" to delete", " deleted");
    }
    out
}

pub fn render_explanation(e: &Explanation) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Instance {}", e.instance);
    match &e.facts {
        None => {
            let _ = writeln!(
                out,
                "  state:   unknown to EC2 (terminated more than an hour ago, or never existed)"
            );
        }
        Some(facts) => {
            let tags: Vec<String> = facts.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(out, "  state:   {}", facts.state);
            let metric = match facts.platform {
                Platform::Linux => "disk used percent",
                Platform::Windows => "LogicalDisk % Free Space",
            };
            let _ = writeln!(out, "  platform: {} ({metric})", facts.platform);
            if let Some(group) = &facts.group {
                let tags: Vec<String> = group.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let _ = writeln!(out, "  group:   {} (tags: {})", group.name, tags.join(", "));
            }
            let _ = writeln!(
                out,
                "  tags:    {}",
                if tags.is_empty() { "(none)".into() } else { tags.join(", ") }
            );
        }
    }
    match &e.scope {
        Some(ScopeDecision::In { thresholds, notes }) => {
            let forecast = thresholds
                .forecast_hours
                .map_or_else(String::new, |hours| format!(", forecast when full within {hours} hours"));
            let _ = writeln!(
                out,
                "  scope:   in scope (warning at {}%, critical at {}%{forecast})",
                thresholds.warning, thresholds.critical
            );
            for note in notes {
                let _ = writeln!(out, "           note: {note}");
            }
        }
        Some(ScopeDecision::Out(why)) => {
            let _ = writeln!(out, "  scope:   {why}");
        }
        None => {}
    }
    if e.series.is_empty() {
        let _ = writeln!(out, "  series:  none published in the last 3 hours");
    } else {
        let _ = writeln!(out, "  series:  published in the last 3 hours:");
        for c in &e.series {
            match &c.verdict {
                SeriesVerdict::Watched { label, .. } => {
                    let _ = writeln!(out, "    watched  [{}] as {label}", c.series);
                }
                SeriesVerdict::Skipped { reason } => {
                    let _ = writeln!(out, "    skipped  [{}]: {reason}", c.series);
                }
            }
        }
    }
    match &e.desired {
        Desire::Alarms { alarms, provisional, .. } => {
            if *provisional {
                let _ = writeln!(
                    out,
                    "  desired: (provisional: no published series passes the filter yet; \
                     the configured root-filesystem dimensions are watched until one does)"
                );
            } else {
                let _ = writeln!(out, "  desired:");
            }
            for alarm in alarms {
                let c = &alarm.config;
                let dims: Vec<String> =
                    c.dimensions.iter().map(|d| format!("{}={}", d.name, d.value)).collect();
                // A metric-math alarm compares its expression's value (hours until full), not the metric.
                let compared = if c.math.is_some() { "hours until full " } else { "" };
                let points = c.datapoints_to_alarm.map_or_else(
                    || c.evaluation_periods.to_string(),
                    |needed| format!("{needed} of {}", c.evaluation_periods),
                );
                let _ = writeln!(
                    out,
                    "    {}: {}/{} [{}] {compared}{} {} for {points}x{}s -> {}",
                    alarm.name,
                    c.namespace,
                    c.metric_name,
                    dims.join(", "),
                    c.comparison_operator.symbol(),
                    c.threshold,
                    c.period_seconds,
                    c.alarm_actions.join(", ")
                );
                if let Some(math) = &c.math {
                    let _ = writeln!(out, "      expression: {}", math.expression);
                }
            }
        }
        Desire::None { reason } => {
            let _ = writeln!(out, "  desired: no alarms ({reason})");
        }
    }
    if e.actual.is_empty() {
        let _ = writeln!(out, "  actual:  no alarms under this instance's prefix");
    } else {
        let _ = writeln!(out, "  actual:");
        for actual in &e.actual {
            let owner = if actual.owned { "owned" } else { "not owned: left untouched" };
            let state = actual
                .alarm
                .state
                .map_or_else(|| "state not known".to_owned(), |s| format!("{} since {}", s.value, s.since));
            let _ = writeln!(
                out,
                "    {} ({owner}), threshold {}, {state}",
                actual.alarm.name, actual.alarm.config.threshold
            );
            if let Some(reason) = actual.silent {
                let _ = writeln!(out, "      SILENT: protects nothing; likely cause: {reason}");
            }
        }
    }
    match &e.mutes {
        Ok(rules) if rules.is_empty() => {
            let _ = writeln!(out, "  mutes:   none scheduled or active");
        }
        Ok(rules) => {
            let _ = writeln!(out, "  mutes:");
            for rule in rules {
                let until = rule.expires.map_or("no expiry".to_owned(), |t| {
                    format!("until {} UTC", reconciler_core::maintenance::utc_minute(t))
                });
                let status = rule.status.as_str().to_lowercase();
                let _ = writeln!(out, "    {} {status} ({until})", rule.name);
            }
        }
        Err(error) => {
            let _ = writeln!(out, "  mutes:   could not be listed: {error}");
        }
    }
    if e.plan.changes.is_empty() && e.plan.conflicts.is_empty() {
        let _ = writeln!(out, "  diff:    none; the alarms match the policy");
    } else {
        let _ = writeln!(out, "  diff:");
        let planned = Report::planned(TriggerKind::Explain, &e.plan);
        for line in render_report(&planned).lines().filter(|l| !l.starts_with("Plan:") && !l.starts_with('i'))
        {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}
