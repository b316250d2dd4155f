//! `veil-fuzz --seconds N [--seed S] [--property NAME]`: runs the properties of `veil_fuzz` in
//! batches until the time is up, prints cases per second, and on a failure writes the shrunk
//! input to the failures directory and exits non-zero.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use veil_fuzz::{Failure, Property};

#[derive(Parser)]
#[command(about = "Fuzzes Veil's YAML loader, predicate templates and compiler")]
struct Arguments {
    /// How long to run.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// The first batch's seed (default: from the clock); printed so a run can be repeated.
    #[arg(long)]
    seed: Option<u64>,
    /// One property only: yaml, bundle, predicate or template.
    #[arg(long)]
    property: Option<String>,
    /// Cases per batch and property.
    #[arg(long, default_value_t = 64)]
    batch: u32,
    /// Where a failure's input is written.
    #[arg(long, default_value = "target/fuzz-failures")]
    out: PathBuf,
}

/// The last panic's message and place: proptest catches the panic, we keep its words.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

fn main() -> anyhow::Result<ExitCode> {
    let arguments = Arguments::parse();
    let properties = match &arguments.property {
        None => Property::ALL.to_vec(),
        Some(name) => vec![
            Property::from_name(name)
                .ok_or_else(|| anyhow::anyhow!("unknown property `{name}`"))?,
        ],
    };
    let seed = arguments.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs())
    });
    // Panics are expected findings, reported once with the shrunk input, not on every try.
    std::panic::set_hook(Box::new(|info| {
        *LAST_PANIC
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = Some(info.to_string());
    }));
    println!(
        "veil-fuzz: {} s, seed {seed}, properties {}",
        arguments.seconds,
        properties
            .iter()
            .map(|property| property.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let deadline = Instant::now() + Duration::from_secs(arguments.seconds);
    let mut totals = vec![(0u64, Duration::ZERO); properties.len()];
    let mut batch = 0u64;
    while Instant::now() < deadline {
        for (index, &property) in properties.iter().enumerate() {
            let started = Instant::now();
            let batch_seed = seed.wrapping_add(batch);
            // A panic proptest does not catch (in a strategy, say) would end the run with the
            // hook's silence: report it with the batch that raised it.
            let outcome =
                std::panic::catch_unwind(|| veil_fuzz::run(property, arguments.batch, batch_seed));
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(failure)) => {
                    report(&failure, &arguments.out)?;
                    return Ok(ExitCode::FAILURE);
                }
                Err(_) => {
                    let panic = LAST_PANIC
                        .lock()
                        .unwrap_or_else(|poison| poison.into_inner())
                        .take()
                        .unwrap_or_default();
                    eprintln!(
                        "veil-fuzz: the property `{}` panicked outside a case, batch seed {batch_seed} \
                         (veil-fuzz --property {} --seed {batch_seed} --batch {}): {panic}",
                        property.name(),
                        property.name(),
                        arguments.batch
                    );
                    return Ok(ExitCode::FAILURE);
                }
            }
            totals[index].0 += u64::from(arguments.batch);
            totals[index].1 += started.elapsed();
        }
        batch += 1;
    }
    let mut all = 0;
    for (property, (cases, time)) in properties.iter().zip(&totals) {
        all += cases;
        println!(
            "{:>10}: {cases:>8} cases in {:>6.1} s, {:>8.0} cases/s",
            property.name(),
            time.as_secs_f64(),
            *cases as f64 / time.as_secs_f64().max(1e-9)
        );
    }
    let loaded = veil_fuzz::check::LOADED.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "{:>10}: {loaded:>8} policy files and bundles loaded and compiled",
        "loaded"
    );
    println!(
        "{:>10}: {all:>8} cases in {:>6.1} s, no failure",
        "total", arguments.seconds
    );
    Ok(ExitCode::SUCCESS)
}

fn report(failure: &Failure, out: &std::path::Path) -> anyhow::Result<()> {
    let panic = LAST_PANIC
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .take();
    std::fs::create_dir_all(out)?;
    let path = out.join(format!("{}-{}.txt", failure.property.name(), failure.seed));
    let mut text = format!(
        "property: {}\nseed: {} (veil-fuzz --property {} --seed {} --batch <same>)\nreason: {}\n",
        failure.property.name(),
        failure.seed,
        failure.property.name(),
        failure.seed,
        failure.reason
    );
    if let Some(panic) = panic {
        text.push_str(&format!("last panic: {panic}\n"));
    }
    text.push_str(&format!(
        "\n--- minimal input as text\n{}\n\n--- minimal input\n{}\n",
        failure.text, failure.input
    ));
    std::fs::write(&path, &text)?;
    eprintln!("{text}");
    eprintln!(
        "veil-fuzz: the property `{}` failed; written to {}",
        failure.property.name(),
        path.display()
    );
    Ok(())
}
