//! The opt-in re-tag pass (`alarmctl sweep --retag`): brings the tags of the
//! alarms that already exist to what they would get at creation.
//!
//! `DescribeAlarms` returns no tags, so checking them costs one
//! `ListTagsForResource` call per alarm (about 20 000 for 10 000 instances:
//! over an hour at the default pace). That is why the Lambda never does it:
//! new alarms are tagged when created, and this pass repairs alarms created
//! before `ALARM_TAGS` changed (or before tags existed), and tags removed by hand.
//! Only tags are added or given their value; tags someone else added stay.

use std::collections::HashMap;

use reconciler_core::{desired_alarms, AlarmName, AlarmTag, Desire, ObservedAlarm};
use serde::Serialize;
use tracing::{info, warn};

use crate::ports::{AlarmStore, Inventory};
use crate::reconcile::{Reconciler, RunOptions};
use crate::report::{Failure, Report};

/// What the re-tag pass read and changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetagSummary {
    /// Alarms whose tags were read.
    pub checked: usize,
    /// Alarms that were missing a tag or had another value (in a dry run: would be re-tagged).
    pub retagged: usize,
}

impl<I: Inventory, A: AlarmStore> Reconciler<I, A> {
    /// Reads the tags of every owned alarm the policy wants and adds the
    /// missing ones. Alarms that do not exist yet are the sweep's to create.
    pub async fn retag(&self, options: RunOptions, report: &mut Report) {
        let seen = self.observe_account().await;
        if !seen.failures.is_empty() {
            report.failures.extend(seen.failures);
            return;
        }
        let policy = &self.config.policy;
        let existing: HashMap<&AlarmName, &ObservedAlarm> =
            seen.alarms.iter().map(|a| (&a.name, a)).collect();
        let mut summary = RetagSummary::default();
        for subject in &seen.subjects {
            let Desire::Alarms { alarms, .. } = desired_alarms(policy, subject) else { continue };
            for alarm in alarms {
                // Never an alarm without the ownership marker, whatever its name.
                let Some(observed) = existing.get(&alarm.name).filter(|a| a.config.has_ownership_marker())
                else {
                    continue;
                };
                let Some(arn) = observed.arn.as_deref() else {
                    report.failures.push(Failure {
                        instance: Some(alarm.instance.clone()),
                        alarm: Some(alarm.name.to_string()),
                        error: "DescribeAlarms gave no AlarmArn".into(),
                        retryable: false,
                    });
                    continue;
                };
                let current = match self.alarms.alarm_tags(arn).await {
                    Ok(current) => current,
                    Err(error) => {
                        report.failures.push(Failure::from_port(Some(&alarm.instance), Some(arn), &error));
                        continue;
                    }
                };
                summary.checked += 1;
                let missing: Vec<AlarmTag> =
                    alarm.tags(&policy.alarm_tags).into_iter().filter(|t| !current.contains(t)).collect();
                if missing.is_empty() {
                    continue;
                }
                let keys: Vec<&str> = missing.iter().map(|t| t.key.as_str()).collect();
                if options.dry_run {
                    info!(alarm = %alarm.name, tags = ?keys, "would re-tag");
                    summary.retagged += 1;
                    continue;
                }
                match self.alarms.tag_alarm(arn, &missing).await {
                    Ok(()) => {
                        info!(alarm = %alarm.name, tags = ?keys, "re-tagged");
                        summary.retagged += 1;
                    }
                    Err(error) => {
                        warn!(alarm = %alarm.name, %error, "re-tag failed");
                        report.failures.push(Failure::from_port(Some(&alarm.instance), Some(arn), &error));
                    }
                }
            }
        }
        report.retag = Some(summary);
    }
}
