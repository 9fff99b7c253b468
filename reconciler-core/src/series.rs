//! The disk series an instance publishes, which of them get alarms, and the
//! filesystem label in each alarm's name: a mount path on Linux, a drive on
//! Windows.
//!
//! An alarm only fires if its dimensions are exactly those of a published
//! series. So instead of guessing the dimensions, the reconciler lists the
//! series (`ListMetrics`) and gives each real filesystem a pair of alarms on
//! exactly its dimensions.

use std::fmt;

use crate::alarm::{Dimension, MAX_LABEL_LEN};
use crate::hash::fnv1a;
use crate::platform::Platform;

/// One published series of the profile's metric: its dimensions, sorted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct MetricSeries {
    dimensions: Vec<Dimension>,
}

impl MetricSeries {
    pub fn new(mut dimensions: Vec<Dimension>) -> Self {
        dimensions.sort();
        Self { dimensions }
    }

    pub fn dimensions(&self) -> &[Dimension] {
        &self.dimensions
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.dimensions.iter().find(|d| d.name == name).map(|d| d.value.as_str())
    }

    /// The `InstanceId` dimension; series without one (a group-wide
    /// aggregate, or an agent without `append_dimensions`) belong to no instance.
    pub fn instance(&self) -> Option<&str> {
        self.get("InstanceId")
    }
}

impl fmt::Display for MetricSeries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.dimensions.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={}", d.name, d.value)?;
        }
        Ok(())
    }
}

/// Which published series get no alarms. A filesystem type pattern is a glob
/// (`*` matches any characters); a path pattern is a glob that also matches
/// everything mounted below what it matches, so `/run` covers `/run/user/1000`.
/// A Windows volume pattern is a glob matched against the agent's `instance`
/// dimension (`C:`, `_Total`, `HarddiskVolume1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesFilter {
    pub skip_fstypes: Vec<String>,
    pub skip_paths: Vec<String>,
    pub skip_volumes: Vec<String>,
}

/// Pseudo and read-only filesystems: they are never "full" in a way an
/// operator can act on, or they fill by design.
pub const DEFAULT_SKIP_FSTYPES: &[&str] = &["tmpfs", "devtmpfs", "overlay", "squashfs", "iso9660"];
/// Kernel, runtime and package-managed mounts.
pub const DEFAULT_SKIP_PATHS: &[&str] = &["/run", "/dev", "/snap", "/boot", "/sys", "/proc"];
/// The agent's sum over all drives, and volumes without a drive letter
/// (recovery and system-reserved partitions).
pub const DEFAULT_SKIP_VOLUMES: &[&str] = &["_Total", "HarddiskVolume*"];

impl Default for SeriesFilter {
    fn default() -> Self {
        Self {
            skip_fstypes: DEFAULT_SKIP_FSTYPES.iter().map(|s| s.to_string()).collect(),
            skip_paths: DEFAULT_SKIP_PATHS.iter().map(|s| s.to_string()).collect(),
            skip_volumes: DEFAULT_SKIP_VOLUMES.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl SeriesFilter {
    /// Why the filesystem gets no alarms, or `None` when it gets them.
    pub fn skip_reason(&self, path: &str, fstype: Option<&str>) -> Option<String> {
        if let Some(fstype) = fstype {
            if let Some(pattern) = self.skip_fstypes.iter().find(|p| glob(p, fstype)) {
                return Some(format!("filesystem type {fstype} matches skip pattern {pattern:?}"));
            }
        }
        self.skip_paths
            .iter()
            .find(|p| path_matches(p, path))
            .map(|pattern| format!("path {} matches skip pattern {pattern:?}", shorten(path)))
    }

    /// Why the Windows volume gets no alarms, or `None` when it gets them.
    pub fn skip_volume_reason(&self, volume: &str) -> Option<String> {
        self.skip_volumes
            .iter()
            .find(|p| glob(p, volume))
            .map(|pattern| format!("volume {} matches skip pattern {pattern:?}", shorten(volume)))
    }
}

fn path_matches(pattern: &str, path: &str) -> bool {
    if glob(pattern, path) {
        return true;
    }
    // Everything below a matching directory: try each ancestor of the path.
    path.match_indices('/').filter(|(i, _)| *i > 0).any(|(i, _)| glob(pattern, &path[..i]))
}

/// `*` matches any run of characters (slashes included); everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else { return pattern == text };
    let Some(mut remaining) = text.strip_prefix(first) else { return false };
    let mut parts: Vec<&str> = rest.split('*').collect();
    let last = parts.pop().unwrap_or_default();
    for part in parts {
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

/// A stable, readable, name-safe form of a mount path: `/` is `root`,
/// `/var/lib/docker` is `var-lib-docker`. A path that does not map one to one
/// (characters other than ASCII letters, digits, `.` and `_` in its segments,
/// or a label that would be too long or read as `root`) gets a readable part
/// and `--` with a hash of the exact path, so two paths never share a label.
pub fn filesystem_label(path: &str) -> String {
    if path == "/" {
        return "root".into();
    }
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or("").split('/').collect();
    let plain = segments
        .iter()
        .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_'));
    let joined = segments.join("-");
    if plain && joined.len() <= MAX_LABEL_LEN && joined != "root" {
        return joined;
    }
    hashed_label(path)
}

/// A Windows drive's label: its letter in lower case (`C:` is `c`). Any
/// other volume name (a folder mount point) is hashed, so it can never read
/// as a drive letter.
pub fn drive_label(volume: &str) -> String {
    match volume.as_bytes() {
        [letter, b':'] if letter.is_ascii_alphabetic() => (letter.to_ascii_lowercase() as char).to_string(),
        _ => hashed_label(volume),
    }
}

/// `<readable part>--<hash of the exact text>`: name-safe, at most
/// [`MAX_LABEL_LEN`] characters, and never equal to a plain label.
fn hashed_label(path: &str) -> String {
    let mut readable = String::new();
    for c in path.chars() {
        let keep = c.is_ascii_alphanumeric() || c == '.' || c == '_';
        if keep {
            readable.push(c);
        } else if !readable.is_empty() && !readable.ends_with('-') {
            readable.push('-');
        }
    }
    let hash = format!("{:08x}", fnv1a(path.as_bytes()) as u32);
    let room = MAX_LABEL_LEN - 2 - hash.len();
    readable.truncate(room);
    let readable = readable.trim_end_matches('-');
    let readable = if readable.is_empty() { "fs" } else { readable };
    format!("{readable}--{hash}")
}

/// A path as shown in a description or a note: at most 200 characters,
/// control characters removed.
pub fn shorten(path: &str) -> String {
    let mut shown: String = path.chars().filter(|c| !c.is_control()).take(200).collect();
    if path.chars().count() > 200 {
        shown.push('…');
    }
    shown
}

/// What happens to one published series.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum SeriesVerdict {
    /// It gets a warning/critical pair, named with this label.
    Watched {
        label: String,
        path: String,
    },
    Skipped {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClassifiedSeries {
    pub series: MetricSeries,
    #[serde(flatten)]
    pub verdict: SeriesVerdict,
}

/// Decides, for each published series of one instance, whether it gets
/// alarms. Series are taken in sorted order, so when two series name the
/// same path (a device renamed by a reboot, with the agent's `drop_device`
/// off) the same one is watched every time. On Windows the "path" is the
/// drive (`instance`), and there is no filesystem type.
pub fn classify_series(
    platform: Platform,
    path_dimension: &str,
    fstype_dimension: &str,
    filter: &SeriesFilter,
    series: &[MetricSeries],
) -> Vec<ClassifiedSeries> {
    let mut sorted: Vec<&MetricSeries> = series.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut result: Vec<ClassifiedSeries> = Vec::with_capacity(sorted.len());
    for series in sorted {
        let verdict = match series.get(path_dimension) {
            None => SeriesVerdict::Skipped { reason: format!("no {path_dimension} dimension") },
            Some(path) => match skip_reason(platform, filter, path, series.get(fstype_dimension)) {
                Some(reason) => SeriesVerdict::Skipped { reason },
                None => {
                    let label = match platform {
                        Platform::Linux => filesystem_label(path),
                        Platform::Windows => drive_label(path),
                    };
                    let taken = result.iter().find_map(|c| match &c.verdict {
                        SeriesVerdict::Watched { label: other, .. } if *other == label => Some(&c.series),
                        _ => None,
                    });
                    match taken {
                        Some(watched) => SeriesVerdict::Skipped {
                            reason: format!(
                                "another series for {} is watched ({watched}); \
                                 set drop_device in the agent's configuration",
                                shorten(path)
                            ),
                        },
                        None => SeriesVerdict::Watched { label, path: path.to_owned() },
                    }
                }
            },
        };
        result.push(ClassifiedSeries { series: series.clone(), verdict });
    }
    result
}

fn skip_reason(
    platform: Platform,
    filter: &SeriesFilter,
    path: &str,
    fstype: Option<&str>,
) -> Option<String> {
    match platform {
        Platform::Linux => filter.skip_reason(path, fstype),
        Platform::Windows => filter.skip_volume_reason(path),
    }
}

/// Published series grouped by their `InstanceId` dimension; series without one are left out.
pub fn series_by_instance(series: Vec<MetricSeries>) -> std::collections::HashMap<String, Vec<MetricSeries>> {
    let mut by_instance: std::collections::HashMap<String, Vec<MetricSeries>> =
        std::collections::HashMap::new();
    for s in series {
        if let Some(instance) = s.instance() {
            by_instance.entry(instance.to_owned()).or_default().push(s);
        }
    }
    by_instance
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(dims: &[(&str, &str)]) -> MetricSeries {
        MetricSeries::new(dims.iter().map(|(n, v)| Dimension::new(*n, *v)).collect())
    }

    fn verdicts(filter: &SeriesFilter, published: &[MetricSeries]) -> Vec<String> {
        classify_series(Platform::Linux, "path", "fstype", filter, published)
            .into_iter()
            .map(|c| match c.verdict {
                SeriesVerdict::Watched { label, .. } => format!("watch {label}"),
                SeriesVerdict::Skipped { reason } => format!("skip: {reason}"),
            })
            .collect()
    }

    fn agent(path: &str, device: &str, fstype: &str) -> MetricSeries {
        series(&[("InstanceId", "i-1234abcd"), ("path", path), ("device", device), ("fstype", fstype)])
    }

    #[test]
    fn default_filter_keeps_real_filesystems_only() {
        let filter = SeriesFilter::default();
        let cases: &[(&str, &str, bool)] = &[
            ("/", "xfs", true),
            ("/data", "ext4", true),
            ("/var/lib/docker", "xfs", true),
            ("/mnt/efs", "nfs4", true),
            ("/run", "tmpfs", false),
            ("/dev/shm", "tmpfs", false),
            ("/dev", "devtmpfs", false),
            ("/var/lib/docker/overlay2/abc/merged", "overlay", false),
            ("/snap/core/123", "squashfs", false),
            ("/media/cdrom", "iso9660", false),
            // Path patterns, whatever the filesystem type says.
            ("/boot", "xfs", false),
            ("/boot/efi", "vfat", false),
            ("/run/user/1000", "ext4", false),
            ("/proc", "ext4", false),
            // Below a skipped directory only, not every path sharing its first letters.
            ("/runner", "ext4", true),
            ("/devdata", "xfs", true),
            ("/bootstrap", "xfs", true),
        ];
        for (path, fstype, watched) in cases {
            let verdict = filter.skip_reason(path, Some(fstype));
            assert_eq!(verdict.is_none(), *watched, "{path} {fstype}: {verdict:?}");
        }
    }

    #[test]
    fn filter_patterns_are_globs() {
        let filter = SeriesFilter {
            skip_fstypes: vec!["nfs*".into(), "fuse.*".into()],
            skip_paths: vec!["/mnt/scratch*".into(), "/var/*/cache".into()],
            skip_volumes: vec![],
        };
        assert!(filter.skip_reason("/x", Some("nfs4")).is_some());
        assert!(filter.skip_reason("/x", Some("nfs")).is_some());
        assert!(filter.skip_reason("/x", Some("fuse.sshfs")).is_some());
        assert!(filter.skip_reason("/x", Some("fuse")).is_none());
        assert!(filter.skip_reason("/mnt/scratch2", None).is_some());
        assert!(filter.skip_reason("/mnt/scratch/a", None).is_some());
        assert!(filter.skip_reason("/var/lib/cache", None).is_some());
        assert!(filter.skip_reason("/var/lib/cache/x", None).is_some());
        assert!(filter.skip_reason("/var/lib/caches", None).is_none());
        // An empty filter skips nothing, not even tmpfs.
        let none = SeriesFilter { skip_fstypes: vec![], skip_paths: vec![], skip_volumes: vec![] };
        assert!(none.skip_reason("/run", Some("tmpfs")).is_none());
        assert_eq!(
            SeriesFilter::default().skip_reason("/dev/shm", Some("tmpfs")).unwrap(),
            "filesystem type tmpfs matches skip pattern \"tmpfs\""
        );
    }

    #[test]
    fn glob_matching() {
        for (pattern, text, expected) in [
            ("*", "", true),
            ("*", "anything/at/all", true),
            ("a*c", "abc", true),
            ("a*c", "ac", true),
            ("a*c", "abcd", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "acb", false),
            ("*.*", "fuse.s3", true),
            ("ab*ba", "aba", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ] {
            assert_eq!(glob(pattern, text), expected, "{pattern} vs {text}");
        }
    }

    #[test]
    fn labels_are_readable_where_they_can_be() {
        for (path, label) in [
            ("/", "root"),
            ("/data", "data"),
            ("/var/lib/docker", "var-lib-docker"),
            ("/mnt/vol_1.old", "mnt-vol_1.old"),
            ("/Data", "Data"),
        ] {
            assert_eq!(filesystem_label(path), label, "{path}");
        }
    }

    #[test]
    fn labels_of_odd_paths_are_hashed_and_name_safe() {
        let odd = [
            "/root",
            "/var/lib-docker",
            "/var-lib/docker",
            "/mnt/my disk",
            "/mnt/données",
            "/mnt/数据",
            "/mnt/a*b",
            "/mnt/tab\there",
            "/mnt/new\nline",
            "/mnt//double",
            "/mnt/trailing/",
            "relative",
            "",
            "/💾",
            &format!("/{}", "x".repeat(300)),
            &format!("/{}", "x".repeat(MAX_LABEL_LEN + 1)),
        ];
        let mut labels = std::collections::BTreeSet::new();
        for path in odd {
            let label = filesystem_label(path);
            assert!((1..=MAX_LABEL_LEN).contains(&label.len()), "{path:?}: {label}");
            assert!(
                label.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
                "{path:?}: {label}"
            );
            assert!(label.contains("--"), "{path:?} should be hashed: {label}");
            assert!(!label.starts_with('-'), "{label}");
            assert_eq!(filesystem_label(path), label, "stable");
            assert!(labels.insert(label.clone()), "{path:?} shares label {label}");
        }
        // Hashed labels can never equal a plain one: plain labels have no `--`.
        assert_ne!(filesystem_label("/root"), filesystem_label("/"));
        assert_ne!(filesystem_label("/var/lib-docker"), filesystem_label("/var/lib/docker"));
        assert_eq!(filesystem_label("/mnt/données").split("--").next(), Some("mnt-donn-es"));
        assert_eq!(filesystem_label("/💾").split("--").next(), Some("fs"));
    }

    #[test]
    fn classification_of_an_agent_host() {
        let published = [
            agent("/data", "nvme1n1", "ext4"),
            agent("/", "nvme0n1p1", "xfs"),
            agent("/run", "tmpfs", "tmpfs"),
            agent("/", "nvme0n1p1", "xfs"),
        ];
        assert_eq!(
            verdicts(&SeriesFilter::default(), &published),
            vec!["watch root", "watch data", "skip: filesystem type tmpfs matches skip pattern \"tmpfs\"",]
        );
    }

    #[test]
    fn two_series_for_one_path_get_one_pair() {
        let published = [agent("/data", "xvdf", "ext4"), agent("/data", "nvme1n1", "ext4")];
        let result = verdicts(&SeriesFilter::default(), &published);
        assert_eq!(result[0], "watch data");
        assert!(
            result[1].starts_with(
                "skip: another series for /data is watched (InstanceId=i-1234abcd, device=nvme1n1"
            ),
            "{}",
            result[1]
        );
        // Whichever order ListMetrics returns them in.
        let reversed = [published[1].clone(), published[0].clone()];
        assert_eq!(verdicts(&SeriesFilter::default(), &reversed), result);
    }

    #[test]
    fn series_without_a_path_are_skipped() {
        let published = [series(&[("InstanceId", "i-1234abcd"), ("device", "xvda1")])];
        assert_eq!(verdicts(&SeriesFilter::default(), &published), vec!["skip: no path dimension"]);
    }

    fn drive(volume: &str) -> MetricSeries {
        series(&[("InstanceId", "i-1234abcd"), ("instance", volume), ("objectname", "LogicalDisk")])
    }

    fn windows_verdicts(filter: &SeriesFilter, published: &[MetricSeries]) -> Vec<String> {
        classify_series(Platform::Windows, "instance", "objectname", filter, published)
            .into_iter()
            .map(|c| match c.verdict {
                SeriesVerdict::Watched { label, path } => format!("watch {label} ({path})"),
                SeriesVerdict::Skipped { reason } => format!("skip: {reason}"),
            })
            .collect()
    }

    #[test]
    fn windows_drives_are_watched_and_pseudo_volumes_skipped() {
        let published = [drive("D:"), drive("_Total"), drive("C:"), drive("HarddiskVolume1"), drive("e:")];
        assert_eq!(
            windows_verdicts(&SeriesFilter::default(), &published),
            vec![
                "watch c (C:)",
                "watch d (D:)",
                "skip: volume HarddiskVolume1 matches skip pattern \"HarddiskVolume*\"",
                "skip: volume _Total matches skip pattern \"_Total\"",
                "watch e (e:)",
            ]
        );
        // Linux patterns never apply to drives, and Windows patterns never to paths.
        let linux_only = SeriesFilter { skip_volumes: vec![], ..SeriesFilter::default() };
        let total = format!("watch {} (_Total)", drive_label("_Total"));
        assert_eq!(windows_verdicts(&linux_only, &[drive("_Total")]), vec![total]);
        assert!(SeriesFilter::default().skip_reason("_Total", None).is_none());
        // Configured patterns replace the defaults.
        let custom = SeriesFilter { skip_volumes: vec!["D:".into()], ..SeriesFilter::default() };
        assert_eq!(
            windows_verdicts(&custom, &[drive("C:"), drive("D:")]),
            vec!["watch c (C:)", "skip: volume D: matches skip pattern \"D:\""]
        );
    }

    #[test]
    fn drive_labels() {
        for (volume, label) in [("C:", "c"), ("d:", "d"), ("Z:", "z")] {
            assert_eq!(drive_label(volume), label, "{volume}");
        }
        // Anything but a drive letter is hashed, so it never reads as a drive.
        for volume in ["C", "C:\\mnt\\data", "_Total", "HarddiskVolume1", "CD:", "1:", "", "Ç:"] {
            let label = drive_label(volume);
            assert!(label.contains("--"), "{volume:?}: {label}");
            assert!((1..=MAX_LABEL_LEN).contains(&label.len()), "{volume:?}: {label}");
            assert!(label.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)), "{label}");
        }
        assert_eq!(drive_label("C:\\mnt\\data").split("--").next(), Some("C-mnt-data"));
    }
}
