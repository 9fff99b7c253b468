//! The readable table of `alarmctl fleet`: the worst rows first, totals last.

use std::cmp::Reverse;

use super::{rfc3339, FleetReport, FleetRow};

/// The worst rows first: unreadable rows, then unprotected instances, then
/// drift, then no recent sweep; then by account and Region.
fn sort_key(row: &FleetRow) -> impl Ord + '_ {
    let (readable, unprotected, drift, swept) = match &row.read {
        Err(_) => (false, 0, 0, false),
        Ok(read) => (true, read.counts.coverage.unprotected, read.counts.drift(), read.last_sweep.is_some()),
    };
    (readable, Reverse(unprotected), Reverse(drift), swept, row.account.as_str(), row.region.as_str())
}

const HEADER: [&str; 16] = [
    "ACCOUNT",
    "REGION",
    "RUNNING",
    "IN-SCOPE",
    "COVERED",
    "PROVIS.",
    "PARTIAL",
    "UNPROT.",
    "SILENT",
    "CREATE",
    "UPDATE",
    "DELETE",
    "CONFL.",
    "MUTED",
    "LAST SWEEP",
    "BUILD",
];

/// One line per row, worst first, then the totals. A `*` after the build
/// marks rows that run another build than most rows do.
pub fn render_table(report: &FleetReport) -> String {
    let majority = report.majority_build();
    let mut rows: Vec<&FleetRow> = report.rows.iter().collect();
    rows.sort_by_cached_key(|row| sort_key(row));
    let mut lines: Vec<Vec<String>> = vec![HEADER.iter().map(|h| (*h).to_owned()).collect()];
    let mut errors = Vec::new();
    for row in rows {
        let mut line = vec![row.account.clone(), row.region.clone()];
        match &row.read {
            Err(error) => {
                line.push(format!("error: {error}"));
                errors.push(line);
                continue;
            }
            Ok(read) => {
                let c = &read.counts;
                line.extend(
                    [
                        c.coverage.instances_running,
                        c.coverage.in_scope_running,
                        c.coverage.covered,
                        c.coverage.provisional,
                        c.coverage.partial,
                        c.coverage.unprotected,
                        c.alarms_silent,
                        c.to_create,
                        c.to_update,
                        c.to_delete,
                        c.conflicts,
                        c.mutes_active,
                    ]
                    .map(|n| n.to_string()),
                );
                line.push(read.last_sweep.map_or_else(|| "none in 48 h".to_owned(), rfc3339));
                let short: String = read.code_sha256.chars().take(12).collect();
                let other = majority.is_some_and(|m| m != read.code_sha256);
                line.push(if other { format!("{short} *") } else { short });
            }
        }
        lines.push(line);
    }
    let t = report.totals();
    let mut total =
        vec![format!("TOTAL ({} rows, {} failed)", report.rows.len(), report.rows_failed()), String::new()];
    total.extend(
        [
            t.coverage.instances_running,
            t.coverage.in_scope_running,
            t.coverage.covered,
            t.coverage.provisional,
            t.coverage.partial,
            t.coverage.unprotected,
            t.alarms_silent,
            t.to_create,
            t.to_update,
            t.to_delete,
            t.conflicts,
            t.mutes_active,
        ]
        .map(|n| n.to_string()),
    );
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|i| {
            lines
                .iter()
                .chain([&total])
                .filter_map(|l| l.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let format_line = |line: &[String]| {
        let cells: Vec<String> = line.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        cells.join("  ").trim_end().to_owned() + "\n"
    };
    // Unreadable rows first, with their reason in full after the account and Region.
    let mut out = format_line(&lines[0]);
    for error in &errors {
        out += format_line(&error[..2]).trim_end();
        out += &format!("  {}\n", error[2]);
    }
    for line in &lines[1..] {
        out += &format_line(line);
    }
    out += &format_line(&total);
    out += &format!(
        "Alarms once the sweeps have run: {}, about US${:.2} a month (each row at its ALARM_MONTHLY_PRICE_USD).\n",
        t.alarms,
        t.monthly_cost_cents as f64 / 100.0
    );
    if let Some(majority) = majority {
        if report.rows.iter().filter_map(|r| r.read.as_ref().ok()).any(|r| r.code_sha256 != majority) {
            let short: String = majority.chars().take(12).collect();
            out += &format!("* runs another build than most rows ({short})\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use reconciler_core::coverage::CoverageCounts;
    use reconciler_core::UnixTime;

    use super::super::{RowCounts, RowRead};
    use super::*;

    fn row(account: &str, read: Result<RowRead, String>) -> FleetRow {
        FleetRow {
            account: account.into(),
            region: "us-east-1".into(),
            read,
            duration: Duration::ZERO,
            api_calls: BTreeMap::new(),
        }
    }

    fn read(unprotected: usize, to_update: usize, swept: bool, build: &str) -> Result<RowRead, String> {
        let coverage = CoverageCounts { unprotected, ..CoverageCounts::default() };
        let counts = RowCounts { coverage, to_update, ..RowCounts::default() };
        Ok(RowRead {
            counts,
            last_sweep: swept.then_some(UnixTime(1_795_749_420)),
            code_sha256: build.into(),
        })
    }

    #[test]
    fn the_worst_rows_come_first_and_another_build_is_marked() {
        let report = FleetReport {
            rows: vec![
                row("111111111111", read(0, 0, true, "buildA")),
                row("222222222222", read(0, 0, false, "buildA")),
                row("333333333333", read(0, 3, true, "buildA")),
                row("444444444444", read(2, 0, true, "buildB")),
                row("555555555555", Err("not deployed".into())),
            ],
        };
        let table = render_table(&report);
        let order: Vec<&str> = table.lines().skip(1).take(5).map(|l| &l[..12]).collect();
        assert_eq!(order, ["555555555555", "444444444444", "333333333333", "222222222222", "111111111111"]);
        assert!(table.contains("error: not deployed"), "{table}");
        let marked: Vec<&str> = table.lines().filter(|l| l.ends_with(" *")).collect();
        assert_eq!(marked.len(), 1, "{table}");
        assert!(marked[0].starts_with("444444444444"), "{table}");
        assert!(table.lines().any(|l| l.starts_with("TOTAL (5 rows, 1 failed)")), "{table}");
        assert!(table.lines().any(|l| l.starts_with("Alarms once the sweeps have run: ")), "{table}");
        assert!(table.ends_with("* runs another build than most rows (buildA)\n"), "{table}");
    }
}
