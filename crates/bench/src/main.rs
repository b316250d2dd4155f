//! `veil-bench` (run through `cargo xtask bench`): generates a synthetic estate, starts the real
//! `veil` server on loopback, drives `GetViewDefinition` and the health check side by side over
//! real gRPC, times the in-process decision path, and drives Open Policy Agent serving the same
//! decisions the way Trino's OPA plugin asks for them. Prints numbers; asserts nothing.

/// The allocator the `veil` server uses, so in-process timings match the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod edits;
mod estate;
mod grpc;
mod load;
mod micro;
mod opa;
mod raw;
mod replicas;
mod retention;
mod server;
mod side_by_side;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use veil_compiler::Compiler;
use veil_policy::{Estate, Identity};
use veil_proto::v1::{self, GetViewDefinitionRequest};

use crate::estate::{Random, Size};
use crate::load::{Stats, drive};
use grpc::*;
use micro::*;
use server::*;
use side_by_side::*;

#[derive(Parser)]
struct Arguments {
    /// Short phases (about a minute in all) instead of the full run.
    #[arg(long)]
    quick: bool,
    /// The `veil` binary to benchmark (a release build).
    #[arg(long)]
    veil: PathBuf,
    /// Where the generated estate is written.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Concurrent clients at saturation.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds per measured phase (default 10, or 3 with --quick).
    #[arg(long)]
    seconds: Option<u64>,
    /// Leave out the Open Policy Agent comparison.
    #[arg(long)]
    no_opa: bool,
    /// A PostgreSQL server (URL of a database to connect to) for the two-replica phase;
    /// `cargo xtask bench` starts one unless given `--no-replicas`.
    #[arg(long)]
    postgres: Option<String>,
    /// Only the two-replica phase (with `--postgres`).
    #[arg(long)]
    replicas_only: bool,
    /// Leave out the audit retention phase (for a `veil` binary older than
    /// `--audit-retention`, say, to compare builds side by side).
    #[arg(long)]
    no_retention: bool,
    /// Users in OPA's data document (default all; 10,000 with --quick).
    #[arg(long)]
    opa_users: Option<usize>,
    /// Only time single policy and data-source edits in process (`Compiler::edit`) at the
    /// bench scale, then stop.
    #[arg(long)]
    edits_only: bool,
}

const SIZE: Size = Size {
    data_sources: 10_000,
    users: 100_000,
    policies: 1_000,
};
/// The catalog of the Veil connector, named in keyed mask function calls.
const FUNCTIONS_CATALOG: &str = "veil";

fn main() -> anyhow::Result<()> {
    let arguments = Arguments::parse();
    let phase =
        Duration::from_secs(
            arguments
                .seconds
                .unwrap_or(if arguments.quick { 3 } else { 10 }),
        );
    std::fs::create_dir_all(&arguments.out)?;
    let generated = Instant::now();
    let file = estate::generate(SIZE, 42);
    let yaml = file.to_yaml();
    let path = arguments.out.join("estate.yaml");
    std::fs::write(&path, &yaml)?;
    println!(
        "estate: {} data sources, {} users, {} policies, {:.1} MiB of YAML (generated in {:.1} s)",
        file.data_sources.len(),
        file.users.len(),
        file.policies.len(),
        yaml.len() as f64 / (1 << 20) as f64,
        generated.elapsed().as_secs_f64()
    );

    let loaded = Instant::now();
    let compiler = Compiler::from_yaml(&yaml, FUNCTIONS_CATALOG)
        .map_err(|errors| anyhow::anyhow!("{errors}"))?;
    println!(
        "in-process load (parse + validate + index): {:.2} s",
        loaded.elapsed().as_secs_f64()
    );
    if arguments.edits_only {
        edits_in_process(&compiler, 50);
        return Ok(());
    }
    let requests = pick_requests(compiler.estate(), 20_000);
    let opa = if arguments.no_opa {
        None
    } else {
        prepare_opa(&arguments, &file, compiler.estate(), &requests)
    };
    drop(file);
    micro(compiler, &requests);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let first_request = raw::encode(&requests[0]);
        if let Some(postgres) = &arguments.postgres
            && arguments.replicas_only
        {
            return replicas::replicas(&arguments, postgres, &path, &first_request).await;
        }
        let veil = over_grpc(&arguments, &path, phase, requests).await?;
        if let Some(postgres) = &arguments.postgres {
            replicas::replicas(&arguments, postgres, &path, &first_request).await?;
        }
        if let Some((binary, plan)) = opa {
            // A shorter phase in quick mode keeps the whole run within a minute.
            let opa_phase = if arguments.quick { phase / 3 } else { phase };
            if let Err(error) =
                opa_side_by_side(arguments.concurrency, &binary, plan, &veil, opa_phase).await
            {
                println!("\nOPA comparison skipped: {error:#}");
            }
        }
        Ok(())
    })
}
