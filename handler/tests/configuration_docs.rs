//! `docs/configuration.md` documents exactly the environment variables the code reads.
//!
//! The page has two tables, and this test keeps each true:
//!
//! - **"Environment variables"**: the configuration, everything
//!   `Config::from_lookup` asks for. The variables are not listed here: a
//!   recording lookup runs the parser and notes every name it is asked for,
//!   with valid values for the required variables (the rest left unset, so
//!   every optional variable is read for its default, and parsing reaches the
//!   end). The names recorded and the names in the table's first column must
//!   be the same set: a variable added to `config.rs` without a row fails
//!   here, and so does a row for a variable the code no longer reads.
//! - **"Set by Lambda and the AWS SDK"**: variables the operator does not set
//!   for this function in particular, read outside `Config` because Lambda
//!   or the SDK defines their meaning: the log format and level that Lambda
//!   sets for every function, the function's own name, `RUST_LOG`, and the
//!   SDK's standard chain (Region, endpoint, credentials, retries). They are
//!   kept out of the configuration table on purpose: `Config` rejects an
//!   empty value and names the variable, while these follow Lambda's and the
//!   SDK's own rules. [`READ_OUTSIDE_CONFIG`] lists the ones this crate's code
//!   reads itself; each must have a row in that table. The SDK's own
//!   variables may have rows too (they are documented for the reader), but
//!   the SDK reads them, not this code, so they are not checked.
//!
//! Every string literal that `handler/src` passes to `std::env::var`,
//! `var_os` or a `lookup` function is also collected from the source, so a
//! new direct read (`std::env::var("X")` in `app.rs`, say) must be in one of
//! the two tables as well.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use handler::config::{Config, ConfigError};

/// The heading of the configuration table (a `## ` heading).
const CONFIG_SECTION: &str = "Environment variables";
/// The heading of the table of variables read outside `Config`.
const OUTSIDE_SECTION: &str = "Set by Lambda and the AWS SDK";

/// Valid values for the variables that have no default, so that parsing goes
/// through every optional one.
const REQUIRED: &[(&str, &str)] = &[
    ("WARNING_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:disk-warning"),
    ("CRITICAL_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:disk-critical"),
];

/// Settings that could make the parser read other variables (the metric
/// profile chooses the provisional pair's default dimensions): the recording
/// runs once with none of them and once with each.
const VARIANTS: &[&[(&str, &str)]] =
    &[&[], &[("METRIC_PROFILE", "legacy")], &[("APPEND_GROUP_DIMENSION", "true")]];

/// Variables this crate's code reads outside `Config`, and where:
///
/// - `RUST_LOG`: the log filter, `app::init_lambda_logging` (the Lambda) and
///   `tracing_subscriber::EnvFilter::try_from_default_env` in `bin/alarmctl.rs`
///   (a read the source scan below cannot see, hence this list).
/// - `AWS_LAMBDA_LOG_LEVEL`, `AWS_LAMBDA_LOG_FORMAT`: set by Lambda from the
///   function's logging configuration; `app::init_lambda_logging`.
/// - `AWS_LAMBDA_FUNCTION_NAME`: set by Lambda; the metrics' `FunctionName`
///   dimension (`report::metrics_function_name`, called from `app.rs`) and the
///   function that a sweep invokes to continue (`bin/lambda.rs`).
const READ_OUTSIDE_CONFIG: &[&str] =
    &["RUST_LOG", "AWS_LAMBDA_LOG_LEVEL", "AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_FUNCTION_NAME"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `NAME_LIKE_THIS`: capitals, digits and underscores.
fn is_variable_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Every variable `Config::from_lookup` asks for, over all [`VARIANTS`].
fn variables_config_reads() -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for variant in VARIANTS {
        let asked = RefCell::new(BTreeSet::new());
        let result = Config::from_lookup(|var| {
            asked.borrow_mut().insert(var.to_owned());
            REQUIRED.iter().chain(variant.iter()).find(|(name, _)| *name == var).map(|(_, v)| (*v).to_owned())
        });
        match result {
            Ok(_) => {}
            Err(ConfigError::Missing(var)) => {
                panic!("{var} is required: add a valid sample value for it to REQUIRED in this test")
            }
            Err(error) => panic!("the configuration did not parse with {variant:?}: {error}"),
        }
        all.extend(asked.into_inner());
    }
    all
}

/// The first column of the first table under the `## {heading}` heading,
/// each cell a single variable name in backticks.
fn table_variables(markdown: &str, heading: &str) -> BTreeSet<String> {
    let wanted = format!("## {heading}");
    let mut lines = markdown.lines().skip_while(|line| line.trim_end() != wanted);
    assert!(lines.next().is_some(), "docs/configuration.md has no heading {wanted:?}");
    let rows: Vec<&str> = lines
        .take_while(|line| !line.starts_with("## "))
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2) // header and separator
        .collect();
    assert!(!rows.is_empty(), "no table under {wanted:?} in docs/configuration.md");
    let mut names = BTreeSet::new();
    for row in rows {
        let cell = row.trim_start_matches('|').split('|').next().unwrap_or("").trim();
        let name = cell
            .strip_prefix('`')
            .and_then(|c| c.strip_suffix('`'))
            .filter(|n| is_variable_name(n))
            .unwrap_or_else(|| {
                panic!("under {wanted:?}, the first cell must be one variable name in backticks: {row}")
            });
        assert!(names.insert(name.to_owned()), "{name} has two rows under {wanted:?}");
    }
    names
}

/// String literals passed to `var("…")`, `var_os("…")` or `lookup("…")`
/// anywhere under `dir`.
fn variables_named_in_source(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            variables_named_in_source(&path, found);
            continue;
        }
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for call in ["var(\"", "var_os(\"", "lookup(\""] {
            for (at, _) in source.match_indices(call) {
                let preceded_by_word =
                    source[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_');
                let rest = &source[at + call.len()..];
                let Some(end) = rest.find('"') else { continue };
                let name = &rest[..end];
                if !preceded_by_word && is_variable_name(name) {
                    found.insert(name.to_owned());
                }
            }
        }
    }
}

fn listed(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "(none)".into()
    } else {
        set.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

fn configuration_page() -> String {
    let path = repo_root().join("docs/configuration.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_configuration_table_lists_exactly_what_config_reads() {
    let read = variables_config_reads();
    let documented = table_variables(&configuration_page(), CONFIG_SECTION);
    let undocumented: BTreeSet<String> = read.difference(&documented).cloned().collect();
    let not_read: BTreeSet<String> = documented.difference(&read).cloned().collect();
    assert!(
        undocumented.is_empty() && not_read.is_empty(),
        "docs/configuration.md, \"{CONFIG_SECTION}\", and Config::from_lookup disagree.\n  \
         read by Config but not documented: {}\n  \
         documented but not read by Config: {}",
        listed(&undocumented),
        listed(&not_read),
    );
}

#[test]
fn variables_read_outside_config_are_documented_apart() {
    let page = configuration_page();
    let config_table = table_variables(&page, CONFIG_SECTION);
    let outside_table = table_variables(&page, OUTSIDE_SECTION);

    let both: BTreeSet<String> = config_table.intersection(&outside_table).cloned().collect();
    assert!(both.is_empty(), "documented in both tables of docs/configuration.md: {}", listed(&both));

    let outside: BTreeSet<String> = READ_OUTSIDE_CONFIG.iter().map(|v| (*v).to_owned()).collect();
    let missing: BTreeSet<String> = outside.difference(&outside_table).cloned().collect();
    assert!(
        missing.is_empty(),
        "read outside Config but missing from \"{OUTSIDE_SECTION}\" in docs/configuration.md: {}",
        listed(&missing)
    );
    let in_config: BTreeSet<String> = outside.intersection(&variables_config_reads()).cloned().collect();
    assert!(
        in_config.is_empty(),
        "Config now reads {}: move it from READ_OUTSIDE_CONFIG (and its table) to the configuration table",
        listed(&in_config)
    );
}

#[test]
fn every_variable_named_in_the_source_is_documented() {
    let mut named = BTreeSet::new();
    variables_named_in_source(&repo_root().join("handler/src"), &mut named);
    assert!(named.contains("AWS_LAMBDA_FUNCTION_NAME"), "the source scan found nothing: {}", listed(&named));
    let page = configuration_page();
    let mut documented = table_variables(&page, CONFIG_SECTION);
    documented.extend(table_variables(&page, OUTSIDE_SECTION));
    let undocumented: BTreeSet<String> = named.difference(&documented).cloned().collect();
    assert!(
        undocumented.is_empty(),
        "handler/src reads these variables, which docs/configuration.md does not document \
         (a direct read belongs in \"{OUTSIDE_SECTION}\" and in READ_OUTSIDE_CONFIG): {}",
        listed(&undocumented)
    );
}
