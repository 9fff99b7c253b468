//! Pure decision logic of the EC2 disk-alarm reconciler.
//!
//! The reconciler works in three steps: observe, decide, act. This crate is the
//! *decide* step and nothing else: it takes observed facts (instances, alarms,
//! the event that triggered the run) and the policy as values, and returns a
//! [`Plan`]. It does no I/O and reads neither the clock nor the environment;
//! time and configuration come in as arguments.
//!
//! * [`policy`]: which instances are in scope and what their alarms look like.
//! * [`desired`]: the alarms one instance should have, or why it should have none.
//! * [`forecast`]: the opt-in "fills within N hours" alarm's expression, and
//!   an evaluator of it for replaying usage series.
//! * [`series`]: which published disk series get alarms, and their names.
//! * [`pass`]: the one plan of a pass ([`plan()`]), and the pure decisions
//!   the observer and the applier need (what to read, preconditions).
//! * [`plan`]: the plan's typed changes, and the full-configuration diff of
//!   desired and observed alarms ([`plan_alarms`]; field by field in [`diff`]).
//! * [`coverage`]: how well the owned alarms protect the instances, for an audit.
//! * [`maintenance`]: AWS Health maintenance windows as self-expiring alarm mutes.
//! * [`settle`]: how an event's claim about an instance combines with what the
//!   EC2 API says, which may lag behind.
//! * [`silence`]: owned alarms that have had no data for too long, and why.

pub mod alarm;
pub mod coverage;
pub mod desired;
pub mod diff;
pub mod forecast;
mod hash;
pub mod ids;
pub mod instance;
pub mod maintenance;
pub mod mute_rules;
pub mod pass;
pub mod plan;
pub mod platform;
pub mod policy;
pub mod series;
pub mod settle;
pub mod silence;
pub mod state;
pub mod tags;
pub mod unix_time;

pub use alarm::{
    AlarmConfig, ComparisonOperator, Dimension, MetricMath, MissingData, NameKind, Naming, ObservedAlarm,
    Severity, Statistic, OWNERSHIP_MARKER,
};
pub use desired::{desired_alarms, desired_alarms_in, Desire, DesiredAlarm, NoAlarmsReason};
pub use diff::{diff, FieldChange};
pub use forecast::ForecastRule;
pub use ids::{AlarmName, IdError, InstanceId, TopicArn};
pub use instance::{
    user_initiated_time, AutoScalingGroup, InstanceFacts, InstanceState, Subject, TagSource, UnixTime,
    AUTOSCALING_GROUP_TAG,
};
pub use maintenance::{
    plan_maintenance, HealthStatus, MaintenanceAction, MaintenanceNotice, MaintenanceSettings, MuteRule,
    MuteRuleStatus, MuteWindow, ObservedMuteRule,
};
pub use pass::{plan, MuteRulesSeen, PassInput};
pub use plan::{
    plan_alarms, Action, Change, Conflict, DeleteReason, MuteChange, Plan, Precondition, Retired, TagRepair,
};
pub use platform::Platform;
pub use policy::{
    ForecastPolicy, MetricProfile, OutOfScope, Policy, ScopeDecision, SeverityPolicy, Thresholds,
};
pub use series::{ClassifiedSeries, MetricSeries, SeriesFilter, SeriesVerdict};
pub use settle::{settle, Settlement, StateClaim};
pub use silence::{silent_alarms, SilenceReason, SilentAlarm};
pub use state::{AlarmState, StateValue};
pub use tags::{parse_alarm_tags, AlarmTag};
