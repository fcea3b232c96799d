//! `anju`: one binary, many roles. `anju serve --target sales` runs one service,
//! `--target all` runs all seven in one process (each with its own database, port and
//! consumers); `migrate`, `status`, `demo`, `token`, `outbox`, `dlq`, `saga` and `title` are
//! operator commands.

mod demo;
mod ops;
mod output;
mod saga;
mod serve;
mod title;

use anju_kit::Settings;
use clap::{Parser, Subcommand};

/// mimalloc: gRPC, HTTP/2 and the database drivers allocate per call, and glibc's allocator
/// was a tenth of the services' CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "anju",
    version,
    about = "anju (安居): the after-sales platform of a developer group"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How the operator commands print: text, or one JSON document for scripts.
    #[arg(long, global = true, value_enum, default_value = "text")]
    output: output::Output,
}

#[derive(Subcommand)]
enum Command {
    /// Run one service, or all of them in one process.
    Serve {
        /// all, one of sales, finance, handover, maintenance, complaints, title, saga, or several (sales,finance).
        #[arg(long, default_value = "all")]
        target: String,
    },
    /// Create and migrate the databases of one service, several or all, and exit (before a
    /// rollout; the services then start with ANJU_DATABASE_MIGRATE=verify).
    Migrate {
        /// all, one of sales, finance, handover, maintenance, complaints, title, saga, or several (sales,finance).
        #[arg(long, default_value = "all")]
        target: String,
    },
    /// Show each service's health.
    Status {
        /// Keep checking for up to this many seconds until every service is SERVING.
        #[arg(long, default_value_t = 0)]
        wait: u64,
        /// all, or the services to check (sales,finance).
        #[arg(long, default_value = "all")]
        target: String,
    },
    /// Walk a buyer's journey through the running services and narrate it.
    Demo,
    /// Print a development token (HS256, signed with the configured key).
    Token {
        #[arg(long)]
        tenant: uuid::Uuid,
        /// Comma-separated roles, e.g. sales_manager,cashier.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        #[arg(long)]
        contractor: Option<uuid::Uuid>,
    },
    /// Outbox operations of one service.
    Outbox {
        #[command(subcommand)]
        action: ops::OutboxAction,
    },
    /// Dead-lettered events: list them or put them back.
    Dlq {
        #[command(subcommand)]
        action: ops::DlqAction,
    },
    /// The coordinator's sagas: list, inspect, retry, cancel (as an operator of `--tenant`).
    Saga {
        #[arg(long)]
        tenant: uuid::Uuid,
        #[command(subcommand)]
        action: saga::SagaAction,
    },
    /// Title work in bulk (as a title officer of `--tenant`): survey imports, units at risk.
    Title {
        #[arg(long)]
        tenant: uuid::Uuid,
        #[command(subcommand)]
        action: title::TitleAction,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("anju: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load()?;
    match cli.command {
        Command::Serve { target } => serve::run(settings, &target).await,
        Command::Migrate { target } => serve::migrate(&settings, &target, cli.output).await,
        Command::Status { wait, target } => ops::status(&settings, &target, wait, cli.output).await,
        Command::Demo => demo::run(&settings).await,
        Command::Token {
            tenant,
            roles,
            contractor,
        } => ops::token(&settings, tenant, &roles, contractor, cli.output),
        Command::Outbox { action } => ops::outbox(&settings, action, cli.output).await,
        Command::Dlq { action } => ops::dlq(&settings, action, cli.output).await,
        Command::Saga { tenant, action } => saga::run(&settings, tenant, action, cli.output).await,
        Command::Title { tenant, action } => {
            title::run(&settings, tenant, action, cli.output).await
        }
    }
}
