//! deployer: parse the command line, run the command, map the result to an exit code.

use deployer::cli::{Cli, Command};
use deployer::commands::{self, Failure};
use deployer::{interrupt, render};

fn main() {
    let cli = match Cli::try_parse_args() {
        Ok(cli) => cli,
        // --help and --version are answers; anything else is a usage error, exit 1 like every
        // error (2 is plan --detailed-exitcode's "changes").
        Err(error) => {
            let code = match error.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 1,
            };
            let _ = error.print();
            std::process::exit(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            render::errors::error(&format!("cannot start the runtime: {error}"), None);
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(async {
        // The commands that change the stack (and hold its lock) stop in order on Ctrl-C or
        // SIGTERM; the others are simply ended by them.
        if matches!(
            cli.command,
            Command::Apply(_) | Command::Destroy(_) | Command::Bake(_) | Command::Scale(_)
        ) {
            interrupt::install();
        }
        match &cli.command {
            Command::Plan(args) => commands::plan::run(&cli.global, args).await,
            Command::Apply(args) => commands::apply::run(&cli.global, args).await,
            Command::Destroy(args) => commands::destroy::run(&cli.global, args).await,
            Command::Bake(args) => commands::bake::run(&cli.global, args).await,
            Command::Scale(args) => commands::scale::run(&cli.global, args).await,
            Command::Status(args) => commands::status::run(&cli.global, args).await,
            Command::Unlock(args) => commands::unlock::run(&cli.global, args).await,
            Command::Validate(args) => commands::validate::run(&cli.global, args),
            Command::Schema(args) => commands::docs::schema(args),
            Command::Completions(args) => commands::docs::completions(args),
            Command::Man(args) => commands::docs::man(args),
        }
    });
    let code = match result {
        Ok(code) => code,
        Err(failure) => {
            match &failure {
                Failure::Profile(errors) => render::errors::profile_errors(errors),
                Failure::Usage(message) => render::errors::error(message, None),
                Failure::Aws(error) => render::errors::aws(error),
                Failure::Stop(message, hint) => render::errors::error(message, hint.as_deref()),
            }
            if cli.command.output() == render::Format::Json {
                render::report::emit_error(&failure.report());
            }
            failure.exit_code()
        }
    };
    // A run told to stop says why in its exit code (130 Ctrl-C, 143 SIGTERM), whatever it
    // managed before it stopped.
    let code = interrupt::current().map_or(code, interrupt::Signal::exit_code);
    std::process::exit(code);
}
