//! The alarms' states in the in-memory account, as CloudWatch keeps them:
//! a new alarm starts in `INSUFFICIENT_DATA`, an update keeps the state, and
//! data points (modelled by the published series) move it.

use reconciler_core::{AlarmConfig, AlarmName, AlarmState, StateValue};

use super::State;

impl State {
    /// Creates or overwrites the alarm; a new one starts in `INSUFFICIENT_DATA`,
    /// an existing one keeps its state (AWS's `PutMetricAlarm`).
    pub(super) fn put_alarm(&mut self, name: AlarmName, config: AlarmConfig) {
        if let Some(old) = self.alarms.get(&name) {
            let instance = alarm_instance(old).to_owned();
            self.alarms_by_instance.entry(instance).or_default().remove(&name);
        }
        let (now, receives_data) = (self.now, self.receives_data(&config));
        let state = self
            .alarm_states
            .entry(name.clone())
            .or_insert(AlarmState::new(StateValue::InsufficientData, now));
        if receives_data && state.value == StateValue::InsufficientData {
            *state = AlarmState::new(StateValue::Ok, now);
        }
        self.alarms_by_instance.entry(alarm_instance(&config).to_owned()).or_default().insert(name.clone());
        self.alarms.insert(name, config);
    }

    /// Deletes the alarm with its tags and state; whether it existed.
    pub(super) fn remove_alarm(&mut self, name: &AlarmName) -> bool {
        self.tags.remove(name);
        self.alarm_states.remove(name);
        let Some(config) = self.alarms.remove(name) else { return false };
        if let Some(names) = self.alarms_by_instance.get_mut(alarm_instance(&config)) {
            names.remove(name);
        }
        true
    }

    /// Whether the series the alarm watches, exactly, is published.
    fn receives_data(&self, config: &AlarmConfig) -> bool {
        let mut dimensions = config.dimensions.clone();
        dimensions.sort();
        self.series
            .get(&(config.namespace.clone(), config.metric_name.clone()))
            .and_then(|by_instance| by_instance.get(alarm_instance(config)))
            .is_some_and(|list| list.iter().any(|s| s.dimensions() == dimensions.as_slice()))
    }

    /// Data points start or stop reaching the alarms of `instance` (`""`: of
    /// no instance) that watch a series: those waiting for data become `OK`,
    /// and those with data lose it.
    pub(super) fn series_changed(&mut self, instance: &str) {
        let now = self.now;
        let names = self.alarms_by_instance.get(instance).cloned().unwrap_or_default();
        for name in names {
            let (Some(config), Some(state)) = (self.alarms.get(&name), self.alarm_states.get(&name)) else {
                continue;
            };
            let value = match (self.receives_data(config), state.value) {
                (true, StateValue::InsufficientData) => StateValue::Ok,
                (false, StateValue::Ok | StateValue::Alarm) => StateValue::InsufficientData,
                _ => continue,
            };
            self.alarm_states.insert(name, AlarmState::new(value, now));
        }
    }
}

/// The `InstanceId` of an alarm's dimensions, `""` without one.
fn alarm_instance(config: &AlarmConfig) -> &str {
    config.dimensions.iter().find(|d| d.name == "InstanceId").map_or("", |d| d.value.as_str())
}
