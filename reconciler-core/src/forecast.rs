//! The "fills within N hours" alarm: its metric-math expression and a pure
//! evaluator of the same expression, so that what the alarm does on a usage
//! series can be worked out (and benchmarked) without CloudWatch.
//!
//! CloudWatch's metric math has no regression function. `RATE(m1)` is the
//! change per second between the last two points, so at a one-hour period the
//! expression extrapolates the last hour's growth:
//!
//! ```text
//! hours until full = room left / (RATE(m1) × 3600)
//! ```
//!
//! It only counts while the filesystem is at least the floor full and growing;
//! otherwise the expression gives [`NOT_FILLING_HOURS`], a value no threshold
//! reaches, so the alarm stays `OK` (not `INSUFFICIENT_DATA`, which would read
//! as a series that stopped).

use std::fmt;

use crate::platform::Platform;

/// The alarm's period: one point per hour.
pub const FORECAST_PERIOD_SECONDS: i32 = 3600;
/// It fires on [`FORECAST_DATAPOINTS_TO_ALARM`] of the last
/// [`FORECAST_EVALUATION_PERIODS`] hourly points.
pub const FORECAST_EVALUATION_PERIODS: i32 = 3;
pub const FORECAST_DATAPOINTS_TO_ALARM: i32 = 2;
/// The id of the alarm's one metric in its expression.
pub const FORECAST_METRIC_ID: &str = "m1";
/// What the expression gives while the filesystem is below the floor or not
/// filling: more hours than any threshold (about eleven years).
pub const NOT_FILLING_HOURS: f64 = 100_000.0;
/// The largest `FILL_FORECAST_HOURS` or tag value: a month. Beyond it one
/// hour's growth says nothing useful.
pub const MAX_FORECAST_HOURS: f64 = 720.0;

/// A metric-math expression over one metric, built as a tree so that the text
/// the alarm carries and the evaluator below are one definition.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// The alarm's metric, `m1`.
    Metric,
    Number(f64),
    /// `RATE(m1)`: change per second between this point and the one before.
    Rate,
    Binary(Box<Expr>, Op, Box<Expr>),
    /// `IF(condition, then, else)`.
    If(Box<Expr>, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Ge,
    Le,
    Gt,
    Lt,
    And,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Self::Add => "+",
            Self::Sub => "-",
            Self::Mul => "*",
            Self::Div => "/",
            Self::Ge => ">=",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Lt => "<",
            Self::And => "AND",
        }
    }
}

fn binary(left: Expr, op: Op, right: Expr) -> Expr {
    Expr::Binary(Box::new(left), op, Box::new(right))
}

fn truth(value: bool) -> f64 {
    if value {
        1.0
    } else {
        0.0
    }
}

impl Expr {
    /// The value at `points[at]`, where `points` are the metric's averages at
    /// `period_seconds` apart. `None` where CloudWatch has no value either:
    /// `RATE` of the first point, and anything computed from it.
    pub fn eval(&self, points: &[f64], at: usize, period_seconds: f64) -> Option<f64> {
        match self {
            Self::Metric => points.get(at).copied(),
            Self::Number(value) => Some(*value),
            Self::Rate => {
                let before = points.get(at.checked_sub(1)?)?;
                Some((points.get(at)? - before) / period_seconds)
            }
            Self::Binary(left, op, right) => {
                let (l, r) =
                    (left.eval(points, at, period_seconds)?, right.eval(points, at, period_seconds)?);
                Some(match op {
                    Op::Add => l + r,
                    Op::Sub => l - r,
                    Op::Mul => l * r,
                    Op::Div => l / r,
                    Op::Ge => truth(l >= r),
                    Op::Le => truth(l <= r),
                    Op::Gt => truth(l > r),
                    Op::Lt => truth(l < r),
                    Op::And => truth(l != 0.0 && r != 0.0),
                })
            }
            Self::If(condition, then, otherwise) => {
                if condition.eval(points, at, period_seconds)? != 0.0 {
                    then.eval(points, at, period_seconds)
                } else {
                    otherwise.eval(points, at, period_seconds)
                }
            }
        }
    }

    fn write_operand(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Binary(..) => write!(f, "({self})"),
            _ => write!(f, "{self}"),
        }
    }
}

/// CloudWatch's metric-math syntax; every operand that is itself an
/// operation is parenthesised, so no precedence rule is relied on.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Metric => f.write_str(FORECAST_METRIC_ID),
            Self::Number(value) => write!(f, "{value}"),
            Self::Rate => write!(f, "RATE({FORECAST_METRIC_ID})"),
            Self::Binary(left, op, right) => {
                left.write_operand(f)?;
                write!(f, " {} ", op.text())?;
                right.write_operand(f)
            }
            Self::If(condition, then, otherwise) => write!(f, "IF({condition}, {then}, {otherwise})"),
        }
    }
}

/// One instance's forecast alarm: it fires when the filesystem, at least
/// `floor_percent` full, would fill within `hours` at the last hour's growth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForecastRule {
    /// Linux metrics are percent used; the Windows metric is percent free,
    /// so there the room left is the metric itself and filling means falling.
    pub platform: Platform,
    pub floor_percent: f64,
    pub hours: f64,
}

impl ForecastRule {
    /// Hours until full, or [`NOT_FILLING_HOURS`]:
    ///
    /// * Linux: `IF((m1 >= floor) AND (RATE(m1) > 0), (100 - m1) / (RATE(m1) * 3600), 100000)`
    /// * Windows: `IF((m1 <= 100 - floor) AND (RATE(m1) < 0), m1 / (0 - (RATE(m1) * 3600)), 100000)`
    pub fn expression(&self) -> Expr {
        let per_hour = || binary(Expr::Rate, Op::Mul, Expr::Number(3600.0));
        let (condition, hours_left) = match self.platform {
            Platform::Linux => (
                binary(
                    binary(Expr::Metric, Op::Ge, Expr::Number(self.floor_percent)),
                    Op::And,
                    binary(Expr::Rate, Op::Gt, Expr::Number(0.0)),
                ),
                binary(binary(Expr::Number(100.0), Op::Sub, Expr::Metric), Op::Div, per_hour()),
            ),
            Platform::Windows => (
                binary(
                    binary(Expr::Metric, Op::Le, Expr::Number(free_percent(self.floor_percent))),
                    Op::And,
                    binary(Expr::Rate, Op::Lt, Expr::Number(0.0)),
                ),
                binary(Expr::Metric, Op::Div, binary(Expr::Number(0.0), Op::Sub, per_hour())),
            ),
        };
        Expr::If(Box::new(condition), Box::new(hours_left), Box::new(Expr::Number(NOT_FILLING_HOURS)))
    }

    /// The expression's value at each hourly point of the alarm's metric
    /// (percent used on Linux, percent free on Windows).
    pub fn hours_until_full(&self, hourly: &[f64]) -> Vec<Option<f64>> {
        let expression = self.expression();
        let period = f64::from(FORECAST_PERIOD_SECONDS);
        (0..hourly.len()).map(|at| expression.eval(hourly, at, period)).collect()
    }

    /// The index of the first hourly point at which the alarm goes into
    /// `ALARM`: the value is below `hours` on 2 of the last 3 points. A
    /// missing value never counts as breaching, as with `TreatMissingData:
    /// missing` once the alarm has data.
    pub fn first_alarm(&self, hourly: &[f64]) -> Option<usize> {
        let breaching: Vec<bool> =
            self.hours_until_full(hourly).iter().map(|v| v.is_some_and(|v| v < self.hours)).collect();
        let (needed, window) = (FORECAST_DATAPOINTS_TO_ALARM as usize, FORECAST_EVALUATION_PERIODS as usize);
        (0..breaching.len()).find(|&at| {
            let from = (at + 1).saturating_sub(window);
            breaching[from..=at].iter().filter(|b| **b).count() >= needed
        })
    }
}

/// `100 − percent`, rounded to 6 decimals so that 100 − 66.6 reads 33.4.
pub(crate) fn free_percent(used: f64) -> f64 {
    ((100.0 - used) * 1e6).round() / 1e6
}

/// A forecast horizon from a setting or tag: `0` is off, otherwise a number of
/// hours in (0, [`MAX_FORECAST_HOURS`]].
pub fn parse_forecast_hours(raw: &str) -> Result<Option<f64>, &'static str> {
    let value: f64 = raw.trim().parse().map_err(|_| "not a number")?;
    if !value.is_finite() {
        return Err("not a finite number");
    }
    if value == 0.0 {
        return Ok(None);
    }
    if !(0.0..=MAX_FORECAST_HOURS).contains(&value) {
        return Err("outside 0 (off) to 720 hours");
    }
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINUX: ForecastRule = ForecastRule { platform: Platform::Linux, floor_percent: 50.0, hours: 24.0 };
    const WINDOWS: ForecastRule =
        ForecastRule { platform: Platform::Windows, floor_percent: 50.0, hours: 24.0 };

    #[test]
    fn the_expression_text_is_the_tree_the_evaluator_runs() {
        assert_eq!(
            LINUX.expression().to_string(),
            "IF((m1 >= 50) AND (RATE(m1) > 0), (100 - m1) / (RATE(m1) * 3600), 100000)"
        );
        assert_eq!(
            WINDOWS.expression().to_string(),
            "IF((m1 <= 50) AND (RATE(m1) < 0), m1 / (0 - (RATE(m1) * 3600)), 100000)"
        );
        let odd = ForecastRule { floor_percent: 66.6, hours: 4.5, ..WINDOWS };
        assert!(odd.expression().to_string().starts_with("IF((m1 <= 33.4) AND"), "{}", odd.expression());
    }

    #[test]
    fn hours_until_full_follow_the_last_hours_growth() {
        /// (case, rule, hourly points, expected value per point)
        type Case<'a> = (&'a str, ForecastRule, &'a [f64], &'a [Option<f64>]);
        let cases: &[Case] = &[
            ("no rate for the first point", LINUX, &[70.0], &[None]),
            ("10 %/h from 60 %: 3 h left", LINUX, &[60.0, 70.0], &[None, Some(3.0)]),
            ("5 %/h at 80 %: 4 h left", LINUX, &[75.0, 80.0], &[None, Some(4.0)]),
            ("below the floor", LINUX, &[40.0, 49.0], &[None, Some(NOT_FILLING_HOURS)]),
            ("at the floor counts", LINUX, &[45.0, 50.0], &[None, Some(10.0)]),
            ("steady", LINUX, &[70.0, 70.0], &[None, Some(NOT_FILLING_HOURS)]),
            ("shrinking", LINUX, &[70.0, 65.0], &[None, Some(NOT_FILLING_HOURS)]),
            ("windows: free 40 → 30 %: 3 h left", WINDOWS, &[40.0, 30.0], &[None, Some(3.0)]),
            (
                "windows: above the floor's free space",
                WINDOWS,
                &[60.0, 51.0],
                &[None, Some(NOT_FILLING_HOURS)],
            ),
            ("windows: free space growing", WINDOWS, &[30.0, 35.0], &[None, Some(NOT_FILLING_HOURS)]),
        ];
        for (case, rule, points, expected) in cases {
            let values = rule.hours_until_full(points);
            assert_eq!(values.len(), expected.len(), "{case}");
            for (value, expected) in values.iter().zip(expected.iter()) {
                match (value, expected) {
                    (Some(v), Some(e)) => assert!((v - e).abs() < 1e-9, "{case}: {v} != {e}"),
                    _ => assert_eq!(value, expected, "{case}"),
                }
            }
        }
    }

    #[test]
    fn it_fires_on_two_of_three_hourly_points_below_the_horizon() {
        let floor = |floor_percent| ForecastRule { floor_percent, ..LINUX };
        // (case, rule, hourly % used, first alarm)
        let cases: &[(&str, ForecastRule, &[f64], Option<usize>)] = &[
            (
                "5 %/h from 50 %: 10 h left at once, fires on the second value",
                LINUX,
                &[50.0, 55.0, 60.0, 65.0],
                Some(2),
            ),
            ("1 %/h from 60 %: 40 h left, above 24", LINUX, &[60.0, 61.0, 62.0, 63.0], None),
            ("one breaching point between two quiet ones", LINUX, &[60.0, 80.0, 80.0, 80.0, 80.0], None),
            ("two of three, not consecutive", LINUX, &[60.0, 70.0, 70.0, 80.0], Some(3)),
            ("growth below the floor", floor(90.0), &[50.0, 55.0, 60.0, 65.0], None),
            (
                "a shorter horizon",
                ForecastRule { hours: 4.0, ..LINUX },
                &[60.0, 65.0, 70.0, 75.0, 80.0, 85.0, 90.0],
                Some(6),
            ),
        ];
        for (case, rule, points, expected) in cases {
            assert_eq!(rule.first_alarm(points), *expected, "{case}: {:?}", rule.hours_until_full(points));
        }
    }

    #[test]
    fn forecast_hours_are_validated() {
        assert_eq!(parse_forecast_hours("24"), Ok(Some(24.0)));
        assert_eq!(parse_forecast_hours(" 4.5 "), Ok(Some(4.5)));
        assert_eq!(parse_forecast_hours("0"), Ok(None));
        assert_eq!(parse_forecast_hours("720"), Ok(Some(720.0)));
        for bad in ["721", "-1", "NaN", "inf", "", "24h"] {
            assert!(parse_forecast_hours(bad).is_err(), "{bad}");
        }
    }
}
