//! How much warning each disk alarm gives before a filesystem fills:
//! `cargo bench -p reconciler-core --bench forecast_lead_time`.
//!
//! Nothing is timed: the benchmark replays simulated usage series through the
//! alarms and prints Markdown tables of when each one fires.
//!
//! The model:
//!
//! * Disk usage is in % used, one sample a minute (the CloudWatch agent's 60 s
//!   interval), clamped to 100, for 14 days. Sample `i` is the usage at minute
//!   `i`. "Full" is the first minute a sample reaches 100 %.
//! * The static alarms, 60 % (warning) and 80 % (critical), take the 5-minute
//!   average (period 300 s, `Average`) and need 2 evaluation periods: each
//!   fires at the end of the second consecutive 5-minute bucket whose average
//!   is at or above its threshold.
//! * The forecast alarm takes the hourly average (period 3600 s, `Average`);
//!   the value of hour `h` is known at the end of hour `h`. It fires at the end
//!   of the hour that [`ForecastRule::first_alarm`] returns; that evaluates the
//!   expression the alarm carries (horizon 24 h, floor 50 %): the room left
//!   divided by the last hour's growth (`RATE` between the last two hourly
//!   points), below 24 h on 2 of the last 3 hourly points.
//! * For each alarm the table shows when it first fires and the hours of
//!   warning it gives before full (full − fire, computed in minutes and then
//!   rounded; 0 or less means at or after full). On a series that never fills,
//!   any firing is a false alarm.
//!
//! The series: linear growth of 1, 5 and 20 % an hour from 40 %; a one-hour
//! spike from a steady 55 % to 85 % and back; a steady 70 %; and growth of 2 %
//! an hour from 40 % with uniform noise of ±2 % (a fixed-seed splitmix64),
//! drawn for every sample or once an hour (the same offset on every sample of
//! the hour). The noisy series are also replayed with [`SEEDS`] seeds, the
//! first of which is the one in the first table, together with a steady 70 %
//! with hourly noise.
//!
//! Before printing, the benchmark asserts what the figures must show
//! qualitatively, so that it fails loudly when the model or the rule changes.

use reconciler_core::{ForecastRule, Platform, Severity};

/// 14 days of one-minute samples.
const MINUTES: usize = 14 * 24 * 60;
/// The static alarms' period in minutes, and how many periods in a row must breach.
const BUCKET_MINUTES: usize = 5;
const EVALUATION_PERIODS: usize = 2;
const WARNING_PERCENT: f64 = 60.0;
const CRITICAL_PERCENT: f64 = 80.0;
const RULE: ForecastRule = ForecastRule { platform: Platform::Linux, floor_percent: 50.0, hours: 24.0 };
const NOISE_PERCENT: f64 = 2.0;
const SEED: u64 = 0x5eed_d15c;
/// How many seeds the noisy series are replayed with.
const SEEDS: u64 = 1000;

/// splitmix64: a small deterministic generator, enough for noise.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [-amplitude, amplitude).
    fn symmetric(&mut self, amplitude: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        (unit * 2.0 - 1.0) * amplitude
    }
}

fn clamp(percent: f64) -> f64 {
    percent.clamp(0.0, 100.0)
}

/// `from` % growing by `per_hour` % an hour.
fn linear(from: f64, per_hour: f64) -> Vec<f64> {
    (0..MINUTES).map(|minute| clamp(from + per_hour * minute as f64 / 60.0)).collect()
}

/// `base` %, except `peak` % for the hour starting at minute `start`.
fn spike(base: f64, peak: f64, start: usize) -> Vec<f64> {
    (0..MINUTES).map(|minute| if (start..start + 60).contains(&minute) { peak } else { base }).collect()
}

fn steady(percent: f64) -> Vec<f64> {
    vec![clamp(percent); MINUTES]
}

/// Like [`linear`], plus uniform noise of ±`amplitude` %, drawn for every
/// sample or once an hour.
fn noisy(from: f64, per_hour: f64, amplitude: f64, per_minute: bool, seed: u64) -> Vec<f64> {
    let mut random = SplitMix64(seed);
    let mut offset = 0.0;
    (0..MINUTES)
        .map(|minute| {
            if per_minute || minute % 60 == 0 {
                offset = random.symmetric(amplitude);
            }
            clamp(from + per_hour * minute as f64 / 60.0 + offset)
        })
        .collect()
}

/// The averages of consecutive `size`-minute buckets.
fn averages(samples: &[f64], size: usize) -> Vec<f64> {
    samples.chunks_exact(size).map(|bucket| bucket.iter().sum::<f64>() / size as f64).collect()
}

/// The minute the series first reaches 100 %.
fn full_at(samples: &[f64]) -> Option<usize> {
    samples.iter().position(|&percent| percent >= 100.0)
}

/// The minute a static alarm first fires: the end of the second of
/// [`EVALUATION_PERIODS`] consecutive 5-minute buckets averaging at or above
/// `threshold`.
fn static_alarm_at(samples: &[f64], threshold: f64) -> Option<usize> {
    let breaching: Vec<bool> =
        averages(samples, BUCKET_MINUTES).iter().map(|&average| average >= threshold).collect();
    breaching
        .windows(EVALUATION_PERIODS)
        .position(|window| window.iter().all(|&breaches| breaches))
        .map(|first| (first + EVALUATION_PERIODS) * BUCKET_MINUTES)
}

/// The minute the forecast alarm first fires: the end of the hour whose
/// point puts it into `ALARM`.
fn forecast_at(samples: &[f64]) -> Option<usize> {
    RULE.first_alarm(&averages(samples, 60)).map(|hour| (hour + 1) * 60)
}

/// When a series fills and when each alarm first fires, in minutes.
struct Outcome {
    name: &'static str,
    full: Option<usize>,
    fired: [Option<usize>; 3],
}

impl Outcome {
    fn of(name: &'static str, samples: &[f64]) -> Self {
        assert_eq!(samples.len(), MINUTES, "{name}");
        Self {
            name,
            full: full_at(samples),
            fired: [
                static_alarm_at(samples, WARNING_PERCENT),
                static_alarm_at(samples, CRITICAL_PERCENT),
                forecast_at(samples),
            ],
        }
    }

    fn fired(&self, alarm: Severity) -> Option<usize> {
        self.fired[alarm as usize]
    }

    /// Hours of warning before full, `None` when the alarm never fires or
    /// the series never fills.
    fn lead(&self, alarm: Severity) -> Option<f64> {
        Some((self.full? as f64 - self.fired(alarm)? as f64) / 60.0)
    }

    /// [`Self::lead`] of an alarm that must fire on a series that fills.
    fn expect_lead(&self, alarm: Severity) -> f64 {
        self.lead(alarm).unwrap_or_else(|| panic!("{}: no lead for the {alarm:?} alarm", self.name))
    }

    fn cell(&self, alarm: Severity) -> String {
        match (self.fired(alarm), self.lead(alarm)) {
            (None, _) => "never fires".to_owned(),
            (Some(at), None) => format!("fires at {} (never fills)", hours(at)),
            (Some(at), Some(lead)) => format!("fires at {}, {lead:.1} h before full", hours(at)),
        }
    }

    fn row(&self) -> String {
        let full = self.full.map_or_else(|| "never (14 days)".to_owned(), hours);
        let cells: Vec<String> = Severity::ALL.iter().map(|&alarm| self.cell(alarm)).collect();
        format!("| {} | {full} | {} |", self.name, cells.join(" | "))
    }
}

fn hours(minute: usize) -> String {
    format!("{:.1} h", minute as f64 / 60.0)
}

fn min_median_max(mut values: Vec<f64>) -> String {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    format!("{:.1} / {:.1} / {:.1}", values[0], values[n / 2], values[n - 1])
}

/// What one alarm did over the seeds of a noisy series.
fn spread(name: &str, runs: &[Outcome], alarm: Severity) -> String {
    let fills = runs.iter().filter(|run| run.full.is_some()).count();
    assert!(fills == 0 || fills == runs.len(), "{name}: fills with {fills} of {} seeds", runs.len());
    let firing: Vec<&Outcome> = runs.iter().filter(|run| run.fired(alarm).is_some()).collect();
    if firing.is_empty() {
        return "never fires".to_owned();
    }
    if fills == 0 {
        let at = firing.iter().map(|run| run.fired(alarm).unwrap() as f64 / 60.0).collect();
        return format!(
            "fires with {} of {} seeds, at {} h (never fills)",
            firing.len(),
            runs.len(),
            min_median_max(at)
        );
    }
    let leads = firing.iter().map(|run| run.expect_lead(alarm)).collect();
    let silent = runs.len() - firing.len();
    let silent = if silent > 0 { format!("; never fires with {silent}") } else { String::new() };
    format!("{} h before full{silent}", min_median_max(leads))
}

fn main() {
    use Severity::{Critical, Forecast, Warning};

    let linear_1 = Outcome::of("linear, 1 %/h from 40 %", &linear(40.0, 1.0));
    let linear_5 = Outcome::of("linear, 5 %/h from 40 %", &linear(40.0, 5.0));
    let linear_20 = Outcome::of("linear, 20 %/h from 40 %", &linear(40.0, 20.0));
    let spike = Outcome::of("one-hour spike, 55 → 85 → 55 % (at 24.5 h)", &spike(55.0, 85.0, 24 * 60 + 30));
    let steady = Outcome::of("steady 70 %", &steady(70.0));
    let noisy_minute =
        Outcome::of("2 %/h from 40 %, ±2 % noise per minute", &noisy(40.0, 2.0, NOISE_PERCENT, true, SEED));
    let noisy_hour =
        Outcome::of("2 %/h from 40 %, ±2 % noise per hour", &noisy(40.0, 2.0, NOISE_PERCENT, false, SEED));

    let seeds = |from: f64, per_hour: f64, per_minute: bool| -> Vec<Outcome> {
        (0..SEEDS)
            .map(|n| Outcome::of("", &noisy(from, per_hour, NOISE_PERCENT, per_minute, SEED + n)))
            .collect()
    };
    let sweeps = [
        ("2 %/h from 40 %, ±2 % noise per minute", seeds(40.0, 2.0, true)),
        ("2 %/h from 40 %, ±2 % noise per hour", seeds(40.0, 2.0, false)),
        ("steady 70 %, ±2 % noise per hour", seeds(70.0, 0.0, false)),
    ];

    // What the figures must show. If one of these fails, the rule or the
    // model changed: read the tables before changing an assertion.
    for slow in [&linear_1, &linear_5, &noisy_minute, &noisy_hour] {
        assert!(
            slow.expect_lead(Forecast) > slow.expect_lead(Critical),
            "{}: the forecast warns later than the 80 % alarm",
            slow.name
        );
    }
    for (name, runs) in &sweeps[..2] {
        for run in runs {
            assert!(
                run.expect_lead(Forecast) > run.expect_lead(Critical),
                "{name}: the forecast warns later than the 80 % alarm with one seed"
            );
        }
    }
    for linear in [&linear_1, &linear_5, &linear_20] {
        assert!(linear.expect_lead(Forecast) <= RULE.hours, "{}: lead beyond the horizon", linear.name);
    }
    assert!(linear_1.expect_lead(Warning) > linear_1.expect_lead(Forecast), "1 %/h: 60 % warns later");
    assert!(linear_5.expect_lead(Forecast) >= linear_5.expect_lead(Warning), "5 %/h: 60 % warns sooner");
    assert!(linear_20.expect_lead(Forecast) <= 0.0, "20 %/h: the forecast fires before full");
    assert!(
        linear_20.expect_lead(Forecast) < linear_20.expect_lead(Critical),
        "20 %/h: the forecast warns sooner than the 80 % alarm"
    );
    assert!(spike.full.is_none() && spike.fired(Critical).is_some(), "spike: the 80 % alarm does not fire");
    assert!(spike.fired(Forecast).is_none(), "spike: the forecast fires on a one-hour spike");
    assert!(steady.fired(Warning).is_some(), "steady 70 %: the 60 % alarm does not fire");
    assert!(
        steady.fired(Critical).is_none() && steady.fired(Forecast).is_none(),
        "steady 70 %: the 80 % or the forecast alarm fires"
    );
    assert!(
        sweeps[2].1.iter().all(|run| run.fired(Forecast).is_some() && run.fired(Critical).is_none()),
        "steady 70 % with hourly noise: the forecast no longer fires with every seed"
    );

    println!(
        "Forecast rule: `{}` below {} h on 2 of the last 3 hourly points",
        RULE.expression(),
        RULE.hours
    );
    println!();
    println!("| series | reaches 100 % at | 60 % alarm | 80 % alarm | forecast (24 h) |");
    println!("|---|---:|---|---|---|");
    for outcome in [&linear_1, &linear_5, &linear_20, &spike, &steady, &noisy_minute, &noisy_hour] {
        println!("{}", outcome.row());
    }
    println!();
    println!("The noisy series with {SEEDS} seeds, min / median / max:");
    println!();
    println!("| series | reaches 100 % at | 60 % alarm | 80 % alarm | forecast (24 h) |");
    println!("|---|---|---|---|---|");
    for (name, runs) in &sweeps {
        let full: Vec<f64> = runs.iter().filter_map(|run| run.full).map(|m| m as f64 / 60.0).collect();
        let full = if full.is_empty() {
            "never (14 days)".to_owned()
        } else {
            format!("{} h", min_median_max(full))
        };
        let cells: Vec<String> = Severity::ALL.iter().map(|&alarm| spread(name, runs, alarm)).collect();
        println!("| {name} | {full} | {} |", cells.join(" | "));
    }
}
