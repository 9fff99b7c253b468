//! The command line of `alarmctl fleet`.

use std::sync::Arc;

use super::{read_fleet, render_table, FleetRequest};
use crate::aws::{self, organization_accounts, AwsAccounts};
use crate::ports::ApiCalls;

/// Coverage of every account and Region of a fleet, read-only.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["accounts", "org"]))]
pub struct FleetArgs {
    /// Comma-separated 12-digit account ids.
    #[arg(long, value_delimiter = ',', value_parser = account_id)]
    pub accounts: Vec<String>,
    /// Every ACTIVE account of the Organization (`ListAccounts`).
    #[arg(long)]
    pub org: bool,
    /// Comma-separated Regions; default: the configured Region.
    #[arg(long, value_delimiter = ',')]
    pub regions: Vec<String>,
    /// Role assumed in every account but the caller's own.
    #[arg(long, default_value = "disk-alarm-audit")]
    pub role_name: String,
    /// The reconciler's function name in every account and Region.
    #[arg(long, default_value = "disk-alarm-reconciler")]
    pub function_name: String,
    /// Rows read at the same time.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Print `{"rows": [...], "totals": {...}}` instead of the table.
    #[arg(long)]
    pub json: bool,
}

fn account_id(text: &str) -> Result<String, String> {
    if text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text.to_owned())
    } else {
        Err(format!("{text:?} is not a 12-digit account id"))
    }
}

/// Exit status: 0 healthy, 1 not (or a row could not be read), 2 bad usage.
pub async fn run(args: FleetArgs) -> u8 {
    let (_, config) = aws::load(ApiCalls::default()).await;
    let regions = if args.regions.is_empty() {
        match config.region() {
            Some(region) => vec![region.to_string()],
            None => {
                eprintln!("alarmctl: no Region configured: pass --regions or set AWS_REGION");
                return 2;
            }
        }
    } else {
        args.regions
    };
    let accounts = match args.org {
        false => args.accounts,
        true => match organization_accounts(&config).await {
            Ok(accounts) => accounts,
            Err(error) => {
                eprintln!("alarmctl: the Organization's accounts cannot be listed: {error}");
                return 1;
            }
        },
    };
    let opener = match AwsAccounts::new(config, args.role_name).await {
        Ok(opener) => opener,
        Err(error) => {
            eprintln!("alarmctl: the caller's identity cannot be read: {error}");
            return 1;
        }
    };
    let targets = accounts.iter().flat_map(|a| regions.iter().map(move |r| (a.clone(), r.clone()))).collect();
    let request = FleetRequest {
        targets,
        function_name: args.function_name,
        concurrency: usize::from(args.concurrency),
        now: crate::app::now(),
    };
    let report = read_fleet(Arc::new(opener), &request).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json()).unwrap_or_default());
    } else {
        print!("{}", render_table(&report));
    }
    u8::from(!report.healthy())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        fleet: FleetArgs,
    }

    #[test]
    fn usage_is_checked_before_anything_is_read() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["alarmctl"], args].concat()).map(|c| c.fleet);
        let ok =
            parse(&["--accounts", "111111111111,222222222222", "--regions", "us-east-1,eu-west-1"]).unwrap();
        assert_eq!(ok.accounts, ["111111111111", "222222222222"]);
        assert_eq!(ok.regions, ["us-east-1", "eu-west-1"]);
        assert_eq!(
            (ok.role_name.as_str(), ok.function_name.as_str()),
            ("disk-alarm-audit", "disk-alarm-reconciler")
        );
        assert_eq!((ok.concurrency, ok.json, ok.org), (16, false, false));
        assert!(parse(&["--org"]).is_ok());
        for bad in [
            &["--accounts", "12345"][..],
            &["--accounts", "11111111111a"],
            &["--org", "--accounts", "111111111111"],
            &[],
            &["--org", "--concurrency", "0"],
        ] {
            let error = parse(bad).err().unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert_eq!(error.exit_code(), 2, "{bad:?}");
        }
    }
}
