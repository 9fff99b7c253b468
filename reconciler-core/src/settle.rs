//! How an event's claim about an instance combines with what the EC2 API says.
//!
//! Events are hints, not truth: they can be duplicated, arrive out of order,
//! or arrive before `DescribeInstances` reflects them (the API is eventually
//! consistent). The rules, in order:
//!
//! 1. `shutting-down` and `terminated` are final, whoever reports them.
//! 2. An instance the API does not know has no alarms, unless the event says
//!    it is running and is still younger than the consistency window: a new
//!    instance can be invisible to the API for a few seconds.
//! 3. When the event and the API agree, or the event makes no claim
//!    (`pending`), the API's answer is used; a `running` event while the API
//!    still says `pending` settles as `running` (pending only becomes running).
//! 4. A `stopping`/`stopped` event older than the instance's current launch
//!    time is history: the instance was started again since. The API is used.
//! 5. When EC2 dates the API's state (a user-initiated stop or termination
//!    carries its time in `StateTransitionReason`) and that time is not
//!    older than the event, the API's state is the newer one and is used at
//!    once: a late `running` event after a user stop settles as stopped.
//! 6. Otherwise they disagree. If the event is younger than the consistency
//!    window, the API may not have caught up yet: the instance is *not
//!    settled*, and the caller retries later. Once the window has passed the
//!    API has had time to converge, so its answer is used. This is what makes
//!    a late, out-of-order `running` event for an instance that has since
//!    stopped converge to "no alarms" when nothing dates the stop.

use crate::ids::InstanceId;
use crate::instance::{InstanceFacts, InstanceState, Subject, UnixTime};

/// A state-change event: the state it reports and when it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateClaim {
    pub state: InstanceState,
    pub time: UnixTime,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Settlement {
    Settled(Subject),
    /// The API disagrees with an event it may not have caught up with yet.
    NotSettled {
        reason: String,
    },
}

pub fn settle(
    id: &InstanceId,
    claim: Option<StateClaim>,
    api: Option<InstanceFacts>,
    now: UnixTime,
    consistency_window_seconds: i64,
) -> Settlement {
    let recent = |claim: &StateClaim| now.0 - claim.time.0 < consistency_window_seconds;
    let Some(mut facts) = api else {
        return match claim {
            Some(c) if c.state == InstanceState::Running && recent(&c) => Settlement::NotSettled {
                reason: format!("a running event names {id}, which DescribeInstances does not show yet"),
            },
            _ => Settlement::Settled(Subject::Gone { id: id.clone() }),
        };
    };
    let Some(claim) = claim else {
        return Settlement::Settled(Subject::Present(facts));
    };
    if claim.state.is_final() {
        if !facts.state.is_final() {
            facts.state = claim.state;
        }
        return Settlement::Settled(Subject::Present(facts));
    }
    if facts.state.is_final() || claim.state == InstanceState::Pending {
        return Settlement::Settled(Subject::Present(facts));
    }
    let claims_running = claim.state == InstanceState::Running;
    let api_running = matches!(facts.state, InstanceState::Running | InstanceState::Pending);
    if claims_running == api_running {
        // `pending` only ever becomes `running`: an API still saying `pending`
        // after a `running` event is lagging, and the instance needs its alarms now.
        if claims_running {
            facts.state = InstanceState::Running;
        }
        return Settlement::Settled(Subject::Present(facts));
    }
    let started_since = facts.launch_time.is_some_and(|launch| launch > claim.time);
    if !claims_running && started_since {
        return Settlement::Settled(Subject::Present(facts));
    }
    if facts.state_since.is_some_and(|since| since >= claim.time) {
        return Settlement::Settled(Subject::Present(facts));
    }
    if recent(&claim) {
        return Settlement::NotSettled {
            reason: format!(
                "the event says {} at {}, DescribeInstances still says {}",
                claim.state, claim.time, facts.state
            ),
        };
    }
    Settlement::Settled(Subject::Present(facts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use InstanceState::*;

    const WINDOW: i64 = 120;
    const NOW: i64 = 1_000_000;

    fn id() -> InstanceId {
        InstanceId::parse("i-1234abcd").unwrap()
    }

    fn api(state: InstanceState, launched: i64) -> Option<InstanceFacts> {
        Some(InstanceFacts {
            id: id(),
            state,
            tags: Default::default(),
            platform: Default::default(),
            launch_time: Some(UnixTime(launched)),
            state_since: None,
            group: None,
            series: None,
        })
    }

    /// An API answer whose state EC2 dates (a user-initiated stop), `ago` seconds before now.
    fn api_dated(state: InstanceState, launched: i64, ago: i64) -> Option<InstanceFacts> {
        api(state, launched).map(|facts| InstanceFacts { state_since: Some(UnixTime(NOW - ago)), ..facts })
    }

    fn claim(state: InstanceState, age: i64) -> Option<StateClaim> {
        Some(StateClaim { state, time: UnixTime(NOW - age) })
    }

    /// The state the reconciler acts on, "gone", or "retry".
    fn outcome(claim: Option<StateClaim>, api: Option<InstanceFacts>) -> String {
        match settle(&id(), claim, api, UnixTime(NOW), WINDOW) {
            Settlement::Settled(Subject::Present(facts)) => facts.state.to_string(),
            Settlement::Settled(Subject::Gone { .. }) => "gone".into(),
            Settlement::NotSettled { .. } => "retry".into(),
        }
    }

    #[test]
    fn settlement_table() {
        let cases = [
            ("no event: the API decides", None, api(Stopped, 0), "stopped"),
            ("agreement", claim(Running, 5), api(Running, NOW - 30), "running"),
            ("terminated event beats a lagging API", claim(Terminated, 5), api(Running, 0), "terminated"),
            (
                "shutting-down event beats a lagging API",
                claim(ShuttingDown, 500),
                api(Running, 0),
                "shutting-down",
            ),
            (
                "terminated API beats a late running event",
                claim(Running, 5),
                api(Terminated, 0),
                "terminated",
            ),
            ("pending is only a hint", claim(Pending, 5), api(Stopped, 0), "stopped"),
            ("unknown instance, old event", claim(Running, 500), None, "gone"),
            ("unknown instance, stopped event", claim(Stopped, 5), None, "gone"),
            ("unknown instance, no event", None, None, "gone"),
            ("brand-new instance not visible yet", claim(Running, 5), None, "retry"),
            ("late running event after a stop", claim(Running, 500), api(Stopped, NOW - 600), "stopped"),
            ("fresh running event, API lags on start", claim(Running, 5), api(Stopped, NOW - 9000), "retry"),
            ("fresh stopped event, API lags on stop", claim(Stopped, 5), api(Running, NOW - 9000), "retry"),
            (
                "old stopped event, started again since",
                claim(Stopped, 500),
                api(Running, NOW - 100),
                "running",
            ),
            (
                "fresh stopped event, started again since",
                claim(Stopped, 60),
                api(Running, NOW - 10),
                "running",
            ),
            ("stopping counts as not running", claim(Stopping, 500), api(Running, NOW - 9000), "running"),
            (
                "a running event while the API lags at pending",
                claim(Running, 5),
                api(Pending, NOW - 10),
                "running",
            ),
            ("the same, after the window", claim(Running, 500), api(Pending, NOW - 600), "running"),
            (
                "late running event after a dated user stop",
                claim(Running, 30),
                api_dated(Stopped, NOW - 9000, 10),
                "stopped",
            ),
            (
                "a user stop in the same second as the running event",
                claim(Running, 30),
                api_dated(Stopped, NOW - 9000, 30),
                "stopped",
            ),
            (
                "running event newer than the dated stop: the API lags",
                claim(Running, 5),
                api_dated(Stopped, NOW - 9000, 60),
                "retry",
            ),
            (
                "dated terminate beats a running event",
                claim(Running, 5),
                api_dated(Terminated, 0, 2),
                "terminated",
            ),
        ];
        for (name, claim, api, expected) in cases {
            assert_eq!(outcome(claim, api), expected, "{name}");
        }
    }

    #[test]
    fn not_settled_reasons_give_rfc3339_times() {
        let Settlement::NotSettled { reason } = settle(
            &id(),
            Some(StateClaim { state: Running, time: UnixTime(1_795_168_795) }),
            api(Stopped, 0),
            UnixTime(1_795_168_800),
            WINDOW,
        ) else {
            panic!("expected a retry")
        };
        assert!(reason.contains("2026-11-20T09:59:55Z"), "{reason}");
    }

    #[test]
    fn duplicates_and_reordering_converge() {
        // Whatever order a running and a later stopped event arrive in, once
        // both are older than the window the API's final answer wins.
        let final_api = api(Stopped, NOW - 1000);
        for events in [[claim(Running, 900), claim(Stopped, 800)], [claim(Stopped, 800), claim(Running, 900)]]
        {
            let outcomes: Vec<String> = events.iter().map(|e| outcome(*e, final_api.clone())).collect();
            assert_eq!(outcomes, ["stopped", "stopped"]);
        }
    }
}
