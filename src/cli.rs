//! The `postgate` command line: `serve` (the default), `migrate`,
//! `config check` and `keys generate`.

use std::process::ExitCode;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::app::Application;
use crate::auth::keys::generate_key_files;
use crate::config::ConfigArgs;
use crate::db::Db;
use crate::telemetry::init_logging;

#[derive(Debug, Parser)]
#[command(
    name = "postgate",
    version,
    about = "REST API server for accounts, JWT sessions and posts"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply migrations and serve the API (the default).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Manage JWT signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the settings, keys and email templates without starting,
    /// and print the effective settings with secrets masked. Exits with 2
    /// when something is invalid. The database is not contacted.
    Check,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Write a new Ed25519 key pair as jwt-private.pem (mode 0600) and
    /// jwt-public.pem, for JWT_PRIVATE_KEY and JWT_PUBLIC_KEY.
    Generate {
        /// Folder to write the two files into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

/// Writes a key pair and prints how to configure it; never prints the key.
fn generate_keys(out: &Path) -> ExitCode {
    match generate_key_files(out) {
        Ok((private, public)) => {
            println!("wrote {} and {}", private.display(), public.display());
            println!("configure them with:");
            println!("  JWT_ALGORITHM=EdDSA");
            println!("  JWT_PRIVATE_KEY=$(base64 -w0 {})", private.display());
            println!("  JWT_PUBLIC_KEY=$(base64 -w0 {})", public.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("postgate: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Describes a `.env` error without the text of the line, which may hold a
/// password: only its line number and the name before `=` are shown.
fn describe_dotenv_error(error: &dotenvy::Error) -> String {
    let dotenvy::Error::LineParse(fragment, _) = error else {
        return error.to_string();
    };
    let hint = "quote a value that contains spaces or special characters";
    match find_env_line(fragment) {
        Some((number, Some(name))) => format!("line {number} ({name}) does not parse; {hint}"),
        Some((number, None)) => format!("line {number} does not parse; {hint}"),
        None => format!("a line does not parse; {hint}"),
    }
}

/// Finds the line of the `.env` file that dotenvy reads (in the working
/// folder or its nearest parent) that contains `fragment`, and returns its
/// number and, when it has one, the variable name before `=`.
fn find_env_line(fragment: &str) -> Option<(usize, Option<String>)> {
    if fragment.trim().is_empty() {
        return None;
    }
    let cwd = std::env::current_dir().ok()?;
    let path = cwd
        .ancestors()
        .map(|dir| dir.join(".env"))
        .find(|path| path.is_file())?;
    let text = std::fs::read_to_string(path).ok()?;
    let (index, line) = text
        .lines()
        .enumerate()
        .find(|(_, line)| line.contains(fragment.trim()))?;
    let name = line
        .split_once('=')
        .map(|(name, _)| name.trim().trim_start_matches("export ").trim().to_owned());
    Some((index + 1, name))
}

/// Parses the command line (after loading `.env`) and runs the command.
pub fn main() -> ExitCode {
    // Variables already set in the environment win over `.env`.
    let dotenv = dotenvy::dotenv();
    // A line that does not parse would silently drop every setting after it.
    if let Err(error) = &dotenv
        && !error.not_found()
    {
        eprintln!(
            "postgate: failed to read .env: {}",
            describe_dotenv_error(error)
        );
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    if let Some(Command::Keys(KeysCommand::Generate { out })) = &cli.command {
        return generate_keys(out);
    }
    let settings = match cli.config.into_settings() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("postgate: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Config(ConfigCommand::Check)) = &cli.command {
        return match crate::config_check::check(&settings) {
            Ok(report) => {
                print!("{report}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("postgate: {error:#}");
                ExitCode::from(2)
            }
        };
    }
    init_logging(settings.log_format);
    if let Ok(path) = dotenv {
        tracing::info!(path = %path.display(), "loaded settings from .env");
    }

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("postgate: failed to start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => {
                let app = Application::build(settings).await?;
                app.run_until(shutdown_signal()).await
            }
            Command::Keys(_) | Command::Config(_) => {
                unreachable!("handled before the server starts")
            }
            Command::Migrate => {
                let db = Db::connect(&settings.database).await?;
                db.migrate().await?;
                tracing::info!("migrations applied");
                db.close().await;
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                "postgate stopped with an error"
            );
            eprintln!("postgate: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "failed to listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "failed to listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing running requests");
}
