use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wagate::auth::Authenticator;
use wagate::config::Settings;
use wagate::db::{self, Database};
use wagate::{Application, telemetry};

#[derive(Parser)]
#[command(name = "wagate", version, about = "Self-hosted WhatsApp HTTP API gateway")]
struct Cli {
    /// A TOML file layered over the built-in defaults and config/default.toml.
    #[arg(long, global = true, env = "WAGATE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCmd),
    /// Manage API keys.
    #[command(subcommand)]
    Apikey(KeyCmd),
    /// Cluster mode: ask a node to hand its sessions over to the others, and wait until it owns
    /// none (for a rolling upgrade: drain, then stop it). The node takes sessions again when it
    /// restarts, or with --resume.
    Drain {
        /// The node (see GET /api/v1/cluster/); default: this configuration's cluster.node_id.
        #[arg(long)]
        node: Option<String>,
        /// Seconds to wait for the node to own no session (0: do not wait).
        #[arg(long, default_value_t = 120)]
        wait: u64,
        /// Undo a drain: the node may take sessions again.
        #[arg(long)]
        resume: bool,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create a user.
    Create {
        name: String,
        /// May log in to the admin page.
        #[arg(long)]
        admin: bool,
        /// Read a password from standard input (needed to log in to the admin page).
        #[arg(long)]
        password: bool,
    },
    /// List users.
    List,
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Create a key; it is printed once.
    Create {
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List a user's keys (never the secrets).
    List {
        #[arg(long)]
        user: String,
    },
    /// Revoke a key by its numeric id (see `apikey list`).
    Revoke { id: i64 },
}

/// glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), after which
/// big buffers (uploads, media on their way to the page) come from the heap and are kept by the
/// process after use. A fixed threshold turns that off: blocks over 256 KiB are mapped and given
/// back to the system when freed (mallopt(3), M_MMAP_THRESHOLD).
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter, under glibc's own lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    return_freed_memory();
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wagate: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(&settings).await,
        Command::User(cmd) => user(&settings, cmd).await,
        Command::Apikey(cmd) => apikey(&settings, cmd).await,
        Command::Drain { node, wait, resume } => drain(&settings, node, wait, resume).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wagate: {e}");
            ExitCode::FAILURE
        }
    }
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

async fn serve(settings: Settings) -> CliResult {
    let _guard = telemetry::init(&settings.log)?;
    let app = Application::build(settings.clone()).await?;
    let base_url = format!("http://{}:{}", settings.server.host, app.port());
    if let Some(creds) = &app.first_start {
        println!("{}", creds.banner(&base_url));
    }
    tracing::info!(
        host = %settings.server.host,
        port = app.port(),
        database = app.state().db.backend(),
        "wagate listening"
    );
    println!("wagate listening on {base_url}");
    app.run_until_stopped().await?;
    Ok(())
}

async fn migrate(settings: &Settings) -> CliResult {
    let n = db::migrate(&settings.database_url()?).await?;
    println!("{n} migration(s) applied");
    Ok(())
}

async fn open(settings: &Settings) -> Result<(Database, Authenticator), Box<dyn std::error::Error>> {
    let db = Database::connect(&settings.database_url()?, 1).await?;
    let auth = Authenticator::new(db.clone(), settings.auth.bcrypt_cost, settings.auth_cache_ttl());
    Ok((db, auth))
}

fn read_password() -> Result<String, Box<dyn std::error::Error>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password: ");
        std::io::stderr().flush()?;
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.chars().count() < 8 {
        return Err("the password must have at least 8 characters".into());
    }
    Ok(password)
}

async fn user(settings: &Settings, cmd: UserCmd) -> CliResult {
    let (db, auth) = open(settings).await?;
    match cmd {
        UserCmd::Create { name, admin, password } => {
            if name.is_empty()
                || name.len() > 64
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err("a user name has 1 to 64 characters: letters, digits, '-', '_' or '.'".into());
            }
            let hash = if password {
                Some(auth.hash_password(read_password()?).await?)
            } else {
                None
            };
            let user = db.create_user(&name, hash, admin).await.map_err(|e| match e {
                db::DbError::Conflict => format!("a user named {name} already exists").into(),
                other => Box::<dyn std::error::Error>::from(other),
            })?;
            println!(
                "created user {} (id {}{})",
                user.username,
                user.id,
                if user.is_admin { ", admin" } else { "" }
            );
        }
        UserCmd::List => {
            for u in db.list_users().await? {
                println!("{}\t{}\t{}", u.id, u.username, if u.is_admin { "admin" } else { "" });
            }
        }
    }
    Ok(())
}

async fn apikey(settings: &Settings, cmd: KeyCmd) -> CliResult {
    let (db, auth) = open(settings).await?;
    match cmd {
        KeyCmd::Create { user, label } => {
            let (row, key) = auth.create_key(&user, &label).await?;
            eprintln!("created key {} for {user}; it is shown once:", row.id);
            println!("{key}");
        }
        KeyCmd::List { user } => {
            let u = db
                .user_by_name(&user)
                .await?
                .ok_or_else(|| format!("no user named {user}"))?;
            println!("id\tkey_id\tlabel\tcreated\tlast_used\trevoked");
            let show = |t: Option<chrono::NaiveDateTime>| {
                t.map(|t| t.format("%F %T").to_string()).unwrap_or_else(|| "-".into())
            };
            for k in db.list_keys(u.id).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    k.id,
                    k.key_id,
                    k.label,
                    k.created_at.format("%F %T"),
                    show(k.last_used_at),
                    show(k.revoked_at)
                );
            }
        }
        KeyCmd::Revoke { id } => {
            if auth.revoke(id).await? {
                println!("revoked key {id}");
            } else {
                return Err(format!("no unrevoked key with id {id}").into());
            }
        }
    }
    Ok(())
}

async fn drain(settings: &Settings, node: Option<String>, wait: u64, resume: bool) -> CliResult {
    let node = node
        .or_else(|| Some(settings.cluster.node_id.trim().to_string()).filter(|n| !n.is_empty()))
        .ok_or("which node? give --node ID (GET /api/v1/cluster/ lists them) or set cluster.node_id")?;
    let (db, _) = open(settings).await?;
    if !db.set_draining(&node, !resume).await? {
        return Err(format!("no cluster node {node} is registered").into());
    }
    if resume {
        println!("node {node} takes sessions again");
        return Ok(());
    }
    println!("node {node} is draining");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait);
    let lease = settings.cluster.lease_secs;
    loop {
        let owned = db
            .cluster_nodes(lease)
            .await?
            .into_iter()
            .find(|n| n.node_id == node)
            .map_or(0, |n| n.owned);
        if owned == 0 {
            println!("node {node} owns no session");
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(format!("node {node} still owns {owned} session(s) after {wait} s").into());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}
