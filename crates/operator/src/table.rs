//! The extra columns of `-o wide` tables.

use crate::status::ModuleStatus;

/// Header of the columns `module list -o wide` adds before `ERROR`.
pub const MODULE_WIDE_HEADER: &str =
    "APPLIED  LAST RUN  CHECKSUM      ENABLED BY                  ";

/// The `-o wide` columns of one module row: objects written by the last run, its duration,
/// the start of its checksum, and where its enabled state came from.
pub fn module_wide_columns(row: &ModuleStatus) -> String {
    let checksum: String = row.checksum.chars().take(12).collect();
    format!(
        "{:>7}  {:>8}  {:<12}  {:<28}",
        row.objects_applied,
        format!("{}ms", row.last_run_ms),
        if checksum.is_empty() { "-" } else { &checksum },
        row.enabled_source
    )
}
