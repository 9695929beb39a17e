//! `addon-operator convert-chart`: converts a Helm chart directory into a module directory
//! (the `convert` crate does the conversion; this writes it, all or nothing).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::cli::ConvertChartArgs;

/// Runs the command: converts, then writes the module into a temporary directory beside the
/// target and renames it into place, so a failed run leaves nothing half-written.
pub fn run(args: &ConvertChartArgs) -> anyhow::Result<()> {
    if args.chart_dir.is_dir() && !args.chart_dir.join("Chart.yaml").is_file() {
        bail!(
            "{} is not a Helm chart: it has no Chart.yaml (give the directory that holds the chart's Chart.yaml)",
            args.chart_dir.display()
        );
    }
    let chart = convert::ChartFiles::read(&args.chart_dir)
        .with_context(|| format!("reading chart {}", args.chart_dir.display()))?;
    let name = match &args.name {
        Some(n) => n.clone(),
        None => chart_name(&chart).with_context(|| {
            format!(
                "{}: Chart.yaml has no name; pass --name",
                args.chart_dir.display()
            )
        })?,
    };
    charts::validate_name(&name)
        .with_context(|| format!("invalid module name {name:?} (use --name)"))?;
    let options = convert::Options {
        key: charts::values_key(&name),
        name: name.clone(),
        helpers: charts::HELPERS.iter().map(|h| h.name.to_owned()).collect(),
        allow_partial: args.allow_partial,
    };
    let conversion = convert::convert(&chart, &options);
    let chart_dir = args.chart_dir.display();
    if !conversion.problems.is_empty() && !args.allow_partial {
        let list: Vec<String> = conversion
            .problems
            .iter()
            .map(|p| format!("  - {chart_dir}/{p}"))
            .collect();
        bail!(
            "chart {chart_dir} does not convert ({} problem(s); nothing written, --allow-partial writes the rest with each place marked):\n{}",
            conversion.problems.len(),
            list.join("\n")
        );
    }
    let dir_name = match args.order {
        Some(order) => format!("{order:03}-{name}"),
        None => name.clone(),
    };
    let target = args.out.join(&dir_name);
    if target.exists() {
        bail!(
            "{} already exists; remove it or choose another --out/--name",
            target.display()
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let tmp = args
        .out
        .join(format!(".{dir_name}.convert-{}", std::process::id()));
    let written = write_files(&tmp, &conversion).and_then(|()| {
        std::fs::rename(&tmp, &target)
            .with_context(|| format!("renaming {} to {}", tmp.display(), target.display()))
    });
    if let Err(e) = written {
        // Best effort: the error that matters is the write error.
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    for (path, why) in &conversion.skipped {
        eprintln!("skipped {chart_dir}/{path}: {why}");
    }
    for p in &conversion.problems {
        eprintln!("not converted (marked in the output): {chart_dir}/{p}");
    }
    println!(
        "wrote module {} ({} files) from chart {chart_dir}",
        target.display(),
        conversion.files.len()
    );
    Ok(())
}

fn chart_name(chart: &convert::ChartFiles) -> Option<String> {
    let text = std::str::from_utf8(chart.files.get("Chart.yaml")?).ok()?;
    let doc = yaml_json::parse_one(text).ok()?;
    doc.get("name")?.as_str().map(str::to_owned)
}

fn write_files(dir: &Path, conversion: &convert::Conversion) -> anyhow::Result<()> {
    for (rel, content) in &conversion.files {
        let path: PathBuf = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
