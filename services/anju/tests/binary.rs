//! The `anju` binary as an operator runs it: `serve --target all` in its own process, `status`
//! seeing all seven services SERVING (as text and as JSON for scripts), `saga list` as JSON,
//! a survey report imported from a CSV file (all or nothing, bad rows named by line), and
//! SIGTERM stopping it cleanly.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

fn anju() -> Command {
    Command::new(env!("CARGO_BIN_EXE_anju"))
}

#[tokio::test]
async fn serve_all_reports_every_service_serving_and_stops_on_sigterm() {
    // The test's own databases and subjects, on the servers DATABASE_URL and NATS_URL name.
    let settings = anju_testkit::settings();
    let base = anju_testkit::free_port_range(7).to_string();
    let env = [
        (
            "ANJU_DATABASE_NAME_PREFIX",
            settings.database.name_prefix.as_str(),
        ),
        ("ANJU_NATS_PREFIX", settings.nats.prefix.as_str()),
        ("ANJU_GRPC_BASE_PORT", base.as_str()),
        // A host name, as in a pod: resolved when the services bind.
        ("ANJU_GRPC_HOST", "localhost"),
        ("RUST_LOG", "warn"),
    ];
    let mut server = anju()
        .args(["serve", "--target", "all"])
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting anju serve");

    let status = anju()
        .args(["status", "--wait", "60"])
        .envs(env)
        .output()
        .expect("anju status");
    let printed = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "status failed:\n{printed}");
    for service in [
        "sales",
        "finance",
        "handover",
        "maintenance",
        "complaints",
        "title",
        "saga",
    ] {
        let line = printed
            .lines()
            .find(|l| l.starts_with(service))
            .unwrap_or_default();
        assert!(line.ends_with("SERVING"), "{service}: {line:?}");
    }

    // The same, as one JSON document a script can read — with the coordinator reached by a
    // host name from configuration, as an operator's endpoints name services.
    let saga_port = (base.parse::<u16>().unwrap() + 6).to_string();
    let saga_endpoint = format!("http://localhost:{saga_port}");
    let json = anju()
        .args(["status", "--output", "json"])
        .envs(env)
        .env("ANJU_ENDPOINT_SAGA", &saga_endpoint)
        .output()
        .expect("anju status --output json");
    assert!(json.status.success());
    let status: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(status["all_serving"], true);
    let services = status["services"].as_array().expect("services");
    assert_eq!(services.len(), 7);
    assert!(services.iter().all(|s| s["status"] == "SERVING"));
    assert!(
        services
            .iter()
            .any(|s| s["service"] == "saga" && s["endpoint"] == saga_endpoint.as_str()),
        "{status}"
    );

    // An operator's saga list, every page of it, as JSON: a new tenant has none.
    let tenant = uuid::Uuid::now_v7().to_string();
    let sagas = anju()
        .args(["saga", "--tenant", &tenant, "list", "--output", "json"])
        .envs(env)
        .output()
        .expect("anju saga list");
    assert!(
        sagas.status.success(),
        "{}",
        String::from_utf8_lossy(&sagas.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&sagas.stdout).expect("JSON");
    assert_eq!(listed, serde_json::json!([]));

    survey_import(&env, base.parse().unwrap()).await;

    // SIGTERM: health flips, in-flight calls drain, the process exits 0.
    stops_cleanly_on_sigterm(&mut server);
    let after = anju()
        .args(["status"])
        .envs(env)
        .output()
        .expect("anju status");
    assert!(
        !after.status.success(),
        "status must fail once the services are gone"
    );
    anju_testkit::cleanup(&settings).await.expect("cleanup");
}

/// `anju title import-survey`: a file with a bad row records nothing and names the row's
/// line; the corrected file records every unit, exactly to the square centimetre.
async fn survey_import(env: &[(&str, &str)], base: u16) {
    use anju::journey::{Journey, Staff};
    use anju_kit::config::SERVICES;
    let tenant = uuid::Uuid::now_v7();
    let staff = Staff::new(|service, subject, roles| {
        let port = base + SERVICES.iter().position(|s| *s == service).unwrap() as u16;
        anju::client::authed(
            "127.0.0.1",
            port,
            &anju_testkit::token_for(tenant, subject, roles),
        )
    })
    .unwrap();
    let journey = Journey::open(staff, "CLI-SURVEY", "cli-").await.unwrap();
    let a = journey.register_unit("0101").await.unwrap().unit_id;
    let b = journey.register_unit("0102").await.unwrap().unit_id;
    let dir = std::env::temp_dir().join(format!("anju-survey-{tenant}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("survey.csv");
    let import = |csv: &str| {
        std::fs::write(&file, csv).unwrap();
        let tenant = tenant.to_string();
        let project = journey.project_id.clone();
        anju()
            .args([
                "title",
                "--tenant",
                &tenant,
                "import-survey",
                "--project",
                &project,
            ])
            .args(["--firm", "Shenzhen Surveying", "--report", "SR-1"])
            .arg("--file")
            .arg(&file)
            .envs(env.iter().copied())
            .output()
            .expect("anju title import-survey")
    };
    let stranger = uuid::Uuid::now_v7();
    let bad = import(&format!(
        "unit_id,measured_area_m2\n{a},89.1234\n{stranger},90\n{b},88.5\n"
    ));
    let errors = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(errors.contains("line 3: no such unit"), "{errors}");
    assert!(errors.contains("nothing was imported"), "{errors}");
    let mut officer = journey.staff.title_officer.clone();
    let none = officer
        .get_title_file(anju_proto::title::GetTitleFileRequest { unit_id: a.clone() })
        .await;
    assert_eq!(none.unwrap_err().code(), tonic::Code::NotFound);

    // Title learns the units from sales' events: until it has, they are "no such unit".
    let csv = format!("unit_id,measured_area_m2\n{a},89.1234\n{b},88.5\n");
    let started = Instant::now();
    let good = loop {
        let output = import(&csv);
        if output.status.success() || started.elapsed() > Duration::from_secs(20) {
            break output;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let printed = String::from_utf8_lossy(&good.stdout);
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert!(printed.contains("recorded 2 unit(s)"), "{printed}");
    assert!(String::from_utf8_lossy(&good.stderr).contains("sent 2/2 rows"));
    let recorded = officer
        .get_title_file(anju_proto::title::GetTitleFileRequest { unit_id: a })
        .await
        .unwrap()
        .into_inner()
        .title_file
        .unwrap();
    assert_eq!(recorded.measured_area.unwrap().square_centimetres, 891_234);
    assert_eq!(recorded.survey_report, "SR-1");
    std::fs::remove_dir_all(&dir).ok();
}

/// The binary as the container image runs it (deploy/image/Dockerfile, deploy/k8s): an
/// unprivileged user (65532, when the test runs as root), nothing in its environment but its
/// configuration, `/` as its working directory. A service whose database was not migrated
/// refuses to start and says how to migrate it; `anju migrate`, as the migration Job, creates
/// and migrates the database (a second run applies nothing); a database behind its release is
/// refused naming the missing migration, one ahead of it (after a rollback) is served from; the
/// service then starts checking,
/// not applying, its migrations (ANJU_DATABASE_MIGRATE=verify) and stops cleanly on SIGTERM.
///
/// The binary is the one the image ships when `ANJU_IMAGE_BINARY` names it (`make
/// image-check`, in CI: the Dockerfile's own `cargo build --release --locked -p anju`), else
/// this test build's. It needs no library the image's distroless base lacks.
#[tokio::test]
async fn the_image_migrates_a_database_then_serves_from_it_as_an_unprivileged_user() {
    let settings = anju_testkit::settings();
    let base = anju_testkit::free_port_range(7).to_string();
    let shipped = std::env::var_os("ANJU_IMAGE_BINARY")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_anju").into());
    needs_only_the_base_images_libraries(&shipped);
    // A copy of the binary any user may run (the build's own folders may not be reachable).
    let dir = tempfile_dir();
    let binary = dir.join("anju");
    std::fs::copy(&shipped, &binary).expect("copying the binary");
    set_mode(&dir, 0o755);
    set_mode(&binary, 0o755);
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let env = [
        ("DATABASE_URL", settings.database.url.expose()),
        ("NATS_URL", settings.nats.url.as_str()),
        (
            "ANJU_DATABASE_NAME_PREFIX",
            settings.database.name_prefix.as_str(),
        ),
        ("ANJU_NATS_PREFIX", settings.nats.prefix.as_str()),
        ("ANJU_GRPC_BASE_PORT", base.as_str()),
        ("ANJU_DATABASE_MIGRATE", "verify"),
        ("ANJU_LOG_FORMAT", "json"),
        ("RUST_LOG", "warn"),
    ];
    let image = |args: &[&str]| {
        let mut command = if root {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=65532",
                "--regid=65532",
                "--clear-groups",
                "--",
                binary.to_str().unwrap(),
            ]);
            c
        } else {
            Command::new(&binary)
        };
        command
            .args(args)
            .env_clear()
            .envs(env)
            .current_dir("/")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    };

    // Not migrated: the service refuses to start, naming the command that migrates it.
    let refused = image(&["serve", "--target", "sales"])
        .output()
        .expect("anju serve");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "served without its database");
    assert!(said.contains("anju migrate --target sales"), "{said}");

    // The migration Job: everything applied once, nothing the second time.
    let migrated = |expect_applied_now: bool| {
        let out = image(&["migrate", "--target", "sales", "--output", "json"])
            .output()
            .expect("anju migrate");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let one = &json["migrated"][0];
        assert_eq!(one["service"], "sales");
        let (applied, known) = (
            one["applied"].as_u64().unwrap(),
            one["known"].as_u64().unwrap(),
        );
        assert!(known > 0);
        assert_eq!(
            applied,
            if expect_applied_now { known } else { 0 },
            "{json}"
        );
    };
    migrated(true);
    migrated(false);

    // A database behind its release (its newest migration's record gone) is refused, naming
    // the migration; one ahead of it (a newer release's migration, after a rollback) serves.
    let db = sqlx::PgPool::connect(&settings.database_url("sales"))
        .await
        .expect("the sales database");
    let (version, description, checksum): (i64, String, Vec<u8>) = sqlx::query_as(
        "delete from _sqlx_migrations where version = (select max(version) from _sqlx_migrations)
         returning version, description, checksum",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let behind = image(&["serve", "--target", "sales"])
        .output()
        .expect("anju serve");
    let said = String::from_utf8_lossy(&behind.stderr);
    assert!(
        !behind.status.success(),
        "served a database behind its release"
    );
    assert!(
        said.contains(&format!("{version} {description}"))
            && said.contains("anju migrate --target sales"),
        "{said}"
    );
    sqlx::query(
        "insert into _sqlx_migrations (version, description, success, checksum, execution_time)
         values ($1, $2, true, $3, 0), (99999999999999, 'a newer release', true, '\\x00', 0)",
    )
    .bind(version)
    .bind(&description)
    .bind(&checksum)
    .execute(&db)
    .await
    .unwrap();
    db.close().await;

    let mut server = image(&["serve", "--target", "sales"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("anju serve");
    let status = image(&["status", "--target", "sales", "--wait", "60"])
        .output()
        .expect("anju status");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
    stops_cleanly_on_sigterm(&mut server);
    let _ = std::fs::remove_dir_all(&dir);
    anju_testkit::cleanup(&settings).await.expect("cleanup");
}

/// SIGTERM to `server`: it exits 0 within 20 s.
/// The shared libraries `binary` loads are all in `gcr.io/distroless/cc-debian12` (glibc,
/// libgcc): no OpenSSL, no libpq, nothing else a `FROM` line would have to bring.
fn needs_only_the_base_images_libraries(binary: &std::path::Path) {
    const BASE: [&str; 8] = [
        "linux-vdso.so.1",
        "libc.so.6",
        "libm.so.6",
        "libgcc_s.so.1",
        "libpthread.so.0",
        "libdl.so.2",
        "librt.so.1",
        "/lib64/ld-linux-x86-64.so.2",
    ];
    let ldd = Command::new("ldd").arg(binary).output().expect("ldd");
    let listed = String::from_utf8_lossy(&ldd.stdout);
    let libraries: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(libraries.contains(&"libc.so.6"), "{listed}");
    for library in libraries {
        assert!(
            BASE.contains(&library),
            "{library} is not in the image: {listed}"
        );
    }
}

fn stops_cleanly_on_sigterm(server: &mut std::process::Child) {
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = server.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "anju serve did not stop within 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "anju serve exited with {exit}");
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("anju-image-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    dir
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
