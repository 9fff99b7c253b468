//! An in-memory AWS account implementing the ports: a real, stateful fake
//! (not a script of expected calls), with fault injection. Used by the
//! reconcile-loop tests and the scale benchmark.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use reconciler_core::{
    AlarmConfig, AlarmName, DesiredAlarm, InstanceFacts, InstanceId, InstanceState, ObservedAlarm,
};

use crate::ports::{AlarmStore, ApiCalls, ErrorKind, Inventory, PortError, MAX_DELETE_BATCH};

#[derive(Clone, Default)]
pub struct FakeCloud {
    state: Arc<Mutex<State>>,
    pub calls: ApiCalls,
}

#[derive(Default)]
struct State {
    instances: BTreeMap<InstanceId, InstanceFacts>,
    alarms: BTreeMap<AlarmName, AlarmConfig>,
    faults: Vec<Fault>,
    writes: u64,
}

struct Fault {
    operation: &'static str,
    remaining: u32,
    kind: ErrorKind,
}

impl FakeCloud {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("fake cloud lock")
    }

    pub fn put_instance(&self, facts: InstanceFacts) {
        self.state().instances.insert(facts.id.clone(), facts);
    }

    pub fn set_state(&self, id: &InstanceId, state: InstanceState) {
        if let Some(facts) = self.state().instances.get_mut(id) {
            facts.state = state;
        }
    }

    /// The instance disappears from the API, as terminated ones do after about an hour.
    pub fn forget_instance(&self, id: &InstanceId) {
        self.state().instances.remove(id);
    }

    /// Puts an alarm directly, as a person or another tool would.
    pub fn put_alarm_by_hand(&self, name: &str, config: AlarmConfig) {
        self.state()
            .alarms
            .insert(AlarmName::parse(name).expect("valid alarm name"), config);
    }

    pub fn alarm(&self, name: &str) -> Option<AlarmConfig> {
        self.state()
            .alarms
            .get(&AlarmName::parse(name).ok()?)
            .cloned()
    }

    pub fn alarm_names(&self) -> Vec<String> {
        self.state()
            .alarms
            .keys()
            .map(ToString::to_string)
            .collect()
    }

    /// Alarm writes (PutMetricAlarm calls and deleted names) that succeeded.
    pub fn writes(&self) -> u64 {
        self.state().writes
    }

    /// The next `times` calls of `operation` fail with `kind`.
    pub fn fail_next(&self, operation: &'static str, kind: ErrorKind, times: u32) {
        self.state().faults.push(Fault {
            operation,
            remaining: times,
            kind,
        });
    }

    fn call(&self, operation: &'static str) -> Result<std::sync::MutexGuard<'_, State>, PortError> {
        self.calls.record(operation);
        let mut state = self.state();
        if let Some(fault) = state
            .faults
            .iter_mut()
            .find(|f| f.operation == operation && f.remaining > 0)
        {
            fault.remaining -= 1;
            let kind = fault.kind;
            return Err(PortError::new(operation, kind, "injected fault"));
        }
        Ok(state)
    }
}

impl Inventory for FakeCloud {
    async fn describe_instances(
        &self,
        ids: &[InstanceId],
    ) -> Result<Vec<InstanceFacts>, PortError> {
        let state = self.call("DescribeInstances")?;
        Ok(ids
            .iter()
            .filter_map(|id| state.instances.get(id).cloned())
            .collect())
    }

    async fn all_instances(&self) -> Result<Vec<InstanceFacts>, PortError> {
        let state = self.call("DescribeInstances")?;
        Ok(state.instances.values().cloned().collect())
    }
}

impl AlarmStore for FakeCloud {
    async fn alarms_with_prefix(&self, prefix: &str) -> Result<Vec<ObservedAlarm>, PortError> {
        let state = self.call("DescribeAlarms")?;
        Ok(state
            .alarms
            .range(AlarmName::parse(prefix).expect("prefix is a valid name")..)
            .take_while(|(name, _)| name.as_str().starts_with(prefix))
            .map(|(name, config)| ObservedAlarm {
                name: name.clone(),
                config: config.clone(),
            })
            .collect())
    }

    async fn put_alarm(&self, alarm: &DesiredAlarm) -> Result<(), PortError> {
        let mut state = self.call("PutMetricAlarm")?;
        state
            .alarms
            .insert(alarm.name.clone(), alarm.config.clone());
        state.writes += 1;
        Ok(())
    }

    async fn delete_alarms(&self, names: &[AlarmName]) -> Result<(), PortError> {
        let mut state = self.call("DeleteAlarms")?;
        if names.len() > MAX_DELETE_BATCH {
            return Err(PortError::new(
                "DeleteAlarms",
                ErrorKind::Refused,
                "more than 100 names",
            ));
        }
        for name in names {
            if state.alarms.remove(name).is_some() {
                state.writes += 1;
            }
        }
        Ok(())
    }
}
