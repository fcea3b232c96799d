//! The processes of a fault test — every service group an `anju serve` of its own, on the
//! test's databases, subjects and ports — and the shared journey fixture on their ports.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

pub use anju::journey::day;
use anju::{
    client::{self, Authed},
    journey::{Journey, Staff},
};
use anju_kit::Role;
use anju_proto::handover as hv;

use super::WAIT;

/// The processes: each can be killed on its own.
pub const COORDINATOR: &str = "saga";
pub const HANDOVER: &str = "handover";
pub const FINANCE: &str = "finance";
pub const OTHERS: &str = "sales,maintenance,complaints,title";
pub const GROUPS: [&str; 4] = [COORDINATOR, HANDOVER, FINANCE, OTHERS];

pub struct Processes {
    env: Vec<(String, String)>,
    running: Vec<(&'static str, Child)>,
    /// Where each process's standard output goes (`<group>.log`), if anywhere.
    logs: Option<std::path::PathBuf>,
}

/// `anju serve --target <target>` with `env`, its output to `stdout`.
pub fn serve(target: &str, env: &[(String, String)], stdout: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_anju"))
        .args(["serve", "--target", target])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .expect("starting anju serve")
}

/// Waits (up to a minute) until `anju status --target <target>` with `env` sees every service
/// of `target` serving.
pub fn wait_serving(target: &str, env: &[(String, String)]) {
    let status = Command::new(env!("CARGO_BIN_EXE_anju"))
        .args(["status", "--wait", "60", "--target", target])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("anju status");
    assert!(
        status.status.success(),
        "{target}: {}",
        String::from_utf8_lossy(&status.stdout)
    );
}

/// SIGTERM: the process drains and stops as a pod does (its spans flushed).
pub fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// A client of `service` (on the ports from `base`) as `subject` of `tenant`.
pub fn authed(
    base: u16,
    service: &str,
    tenant: uuid::Uuid,
    subject: &str,
    roles: &[Role],
) -> Authed {
    let index = anju_kit::config::SERVICES
        .iter()
        .position(|s| *s == service)
        .expect("a service");
    client::authed(
        "127.0.0.1",
        base + index as u16,
        &anju_testkit::token_for(tenant, subject, roles),
    )
    .expect("client")
}

impl Processes {
    /// Every process on the test's own databases, subjects and ports, once all serve.
    pub async fn start(settings: &anju_kit::Settings, base: u16) -> Self {
        Processes::start_groups(settings, base, &GROUPS, &[], None).await
    }

    /// As [`Self::start`], one process per entry of `groups` (an `anju serve --target`), with
    /// `extra` added to their environment and their output written to `logs`.
    pub async fn start_groups(
        settings: &anju_kit::Settings,
        base: u16,
        groups: &[&'static str],
        extra: &[(&str, String)],
        logs: Option<&std::path::Path>,
    ) -> Self {
        let mut env: Vec<(String, String)> = [
            (
                "ANJU_DATABASE_NAME_PREFIX",
                settings.database.name_prefix.clone(),
            ),
            ("ANJU_NATS_PREFIX", settings.nats.prefix.clone()),
            (
                "ANJU_DATABASE_MAX_CONNECTIONS",
                settings.database.max_connections.to_string(),
            ),
            ("ANJU_GRPC_BASE_PORT", base.to_string()),
            ("RUST_LOG", "error".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let mut procs = Processes {
            env,
            running: Vec::new(),
            logs: logs.map(std::path::Path::to_path_buf),
        };
        procs.running = groups
            .iter()
            .map(|group| (*group, procs.spawn(group)))
            .collect();
        procs.wait_serving().await;
        procs
    }

    fn spawn(&self, target: &str) -> Child {
        let stdout = match &self.logs {
            Some(dir) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(format!("{target}.log")))
                .expect("a log file")
                .into(),
            None => Stdio::null(),
        };
        serve(target, &self.env, stdout)
    }

    /// SIGKILL: no shutdown hook runs, in-flight work is lost mid-way.
    pub fn kill(&mut self, group: &str) {
        for (name, child) in &mut self.running {
            if *name == group {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Starts a killed process again (without waiting for it to serve).
    pub fn respawn(&mut self, group: &str) {
        for index in 0..self.running.len() {
            if self.running[index].0 == group {
                self.running[index].1 = self.spawn(group);
            }
        }
    }

    /// Stops every process with SIGTERM.
    pub fn stop_all(&mut self) {
        for (_, child) in &mut self.running {
            terminate(child);
        }
    }

    /// Kills `group`, leaves the others working without it for a moment, restarts it.
    pub async fn crash(&mut self, group: &str) {
        self.kill(group);
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.respawn(group);
        self.wait_serving().await;
    }

    pub async fn wait_serving(&self) {
        wait_serving("all", &self.env);
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, child) in &mut self.running {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn defect(room: &str, category: &str) -> hv::Defect {
    hv::Defect {
        room: room.into(),
        category: category.into(),
        description: "water stain on the ceiling".into(),
        severity: "major".into(),
        photo_refs: vec![format!("photo://{room}.jpg")],
    }
}

/// The shared journey fixture on the processes' ports, as `tenant`, patient enough for a
/// command abandoned by a killed coordinator to be sent again.
pub async fn journey(base: u16, tenant: uuid::Uuid, code: &str) -> Journey {
    let staff =
        Staff::new(|service, subject, roles| Ok(authed(base, service, tenant, subject, roles)))
            .expect("clients");
    let mut journey = Journey::open(staff, code, "").await.expect("the project");
    journey.patience = WAIT;
    journey.price = 200_000_000;
    journey
}
