//! `make bench`: runs anju's benchmarks and prints Markdown for the README.

use clap::Parser;

/// The allocator of the `anju` binary, so the services measured here run as they do there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    /// Events in the sustained outbox run.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Concurrent producers in the sustained outbox run. On 2 cores 16 sustain the most
    /// (measured: 8 → 2.7k, 16 → 3.0k, 24 → 2.3k, 32 → 2.1k, 48 → 2.4k events/s).
    #[arg(long, default_value_t = 16)]
    producers: usize,
    /// Fixed rate for the latency run, events per second.
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// Length of the latency run in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent callers at each point of the RPC run (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "8,16,32,64")]
    callers: Vec<usize>,
    /// Calls at each point of the RPC run (half holds, half payments; 0 skips the run).
    #[arg(long, default_value_t = 12_000)]
    calls: usize,
    /// Move-ins drained from the coordinator's backlogs (0 skips the saga benchmark).
    #[arg(long, default_value_t = 400)]
    saga_units: usize,
    /// Move-in journeys end to end with the coordinator running.
    #[arg(long, default_value_t = 200)]
    journeys: usize,
    /// Concurrent owners in the journeys: a moderate load.
    #[arg(long, default_value_t = 8)]
    owners: usize,
    /// Units of the title benchmark's survey (0 skips it).
    #[arg(long, default_value_t = 1_000)]
    survey_units: usize,
    /// Complaints with clocks running at each point of the complaints benchmark
    /// (comma-separated; empty skips it).
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    complaint_loads: Vec<usize>,
    /// Complaints filed, then taken, at each point (2,000: fewer leave the points within the
    /// machine's noise of each other).
    #[arg(long, default_value_t = 2_000)]
    complaints_per_point: usize,
    /// Breaches whose lateness is measured beside the largest load.
    #[arg(long, default_value_t = 300)]
    breaches: usize,
    /// Contractors holding their feed open in the partner benchmark (0 skips it).
    #[arg(long, default_value_t = 500)]
    partner_streams: usize,
    /// Work orders opened and completed through the partner API.
    #[arg(long, default_value_t = 2_000)]
    partner_orders: usize,
    /// On/off pairs of the telemetry run (RPCs with spans and metrics on, then off; 0 skips it).
    #[arg(long, default_value_t = 4)]
    telemetry_pairs: usize,
    /// Concurrent callers in the telemetry run.
    #[arg(long, default_value_t = 16)]
    telemetry_callers: usize,
    /// Skip the outbox benchmark.
    #[arg(long)]
    no_outbox: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // In the telemetry run, the services' spans are exported over OTLP, as in production, to a
    // receiver here that counts them (installed before anything else installs the process's
    // telemetry). Every other figure is measured as it always was: spans made, none exported.
    let sink = anju_testkit::otlp::Receiver::counting();
    let endpoint = format!("http://{}", sink.start().await);
    anju_kit::telemetry::init_for_tests_exporting(&endpoint)?;
    let mut report = String::from("## Benchmarks (this machine, one run)\n\n");
    if !args.no_outbox {
        let outbox =
            anju_e2e::bench::outbox::run(args.events, args.producers, args.rate, args.seconds)
                .await?;
        report += &outbox.markdown();
    }
    if args.calls > 0 {
        report += "\n";
        let telemetry = (args.telemetry_pairs > 0).then(|| anju_e2e::bench::rpc::TelemetryRun {
            callers: args.telemetry_callers,
            pairs: args.telemetry_pairs,
            sink: sink.clone(),
        });
        let rpc = anju_e2e::bench::rpc::run(&args.callers, args.calls, telemetry).await?;
        report += &rpc.markdown();
    }
    if args.saga_units > 0 {
        report += "\n";
        let saga = anju_e2e::bench::saga::run(args.saga_units, args.journeys, args.owners).await?;
        report += &saga.markdown();
    }
    if args.survey_units > 0 {
        report += "\n";
        let title = anju_e2e::bench::title::run(args.survey_units).await?;
        report += &title.markdown();
    }
    if !args.complaint_loads.is_empty() {
        report += "\n";
        let complaints = anju_e2e::bench::complaints::run(
            &args.complaint_loads,
            args.complaints_per_point,
            args.breaches,
        )
        .await?;
        report += &complaints.markdown();
    }
    if args.partner_streams > 0 {
        eprintln!("partner bench");
        let partner =
            anju_e2e::bench::partner::run(args.partner_streams, args.partner_orders).await?;
        report += &partner.markdown();
    }
    println!("{report}");
    let path = anju_e2e::bench::results_dir().join("results.md");
    std::fs::write(&path, &report)?;
    eprintln!("written to {}", path.display());
    Ok(())
}
