//! Every service as two processes side by side, as a Deployment with two replicas runs them:
//! each replica an `anju serve` on ports of its own, the same databases and subjects, and in
//! front of each service a TCP balancer handing each new connection to a replica that takes
//! it — what a Kubernetes Service (kube-proxy) is to the pods behind it. Peers and clients
//! reach a service only through its balancer.

use std::{
    process::{Child, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::processes::{serve, terminate, wait_serving};

/// A service's address: a new connection goes to the next replica that accepts it.
struct Balancer {
    stop: CancellationToken,
}

impl Balancer {
    async fn start(port: u16, replicas: Vec<u16>) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("the balancer's port");
        let stop = CancellationToken::new();
        let next = Arc::new(AtomicUsize::new(0));
        let token = stop.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = token.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((mut client, _)) = accepted else {
                    continue;
                };
                let first = next.fetch_add(1, Ordering::Relaxed);
                let replicas = replicas.clone();
                let token = token.clone();
                tokio::spawn(async move {
                    for i in 0..replicas.len() {
                        let port = replicas[(first + i) % replicas.len()];
                        if let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", port)).await {
                            let _ = client.set_nodelay(true);
                            let _ = upstream.set_nodelay(true);
                            tokio::select! {
                                _ = token.cancelled() => {}
                                _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                            }
                            return;
                        }
                    }
                    // No replica takes it: the connection is refused, as by a Service with
                    // no ready endpoint.
                });
            }
        });
        Balancer { stop }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// One replica of one group of services.
struct Replica {
    group: &'static str,
    index: usize,
    child: Child,
}

pub struct Replicas {
    /// The environment every replica shares (databases, subjects, the balancers as peers).
    env: Vec<(String, String)>,
    /// Each replica's first port (`ANJU_GRPC_BASE_PORT`).
    ports: Vec<u16>,
    running: Vec<Replica>,
    /// The balancers' first port: where clients reach the services.
    pub base: u16,
    _balancers: Vec<Balancer>,
}

impl Replicas {
    /// `replicas` processes of each of `groups` (an `anju serve --target` each), once every
    /// service serves through its balancer. Each process gets `max_connections` per service.
    pub async fn start(
        settings: &anju_kit::Settings,
        groups: &[&'static str],
        replicas: usize,
        max_connections: u32,
    ) -> Self {
        let services = anju_kit::config::SERVICES;
        let base = anju_testkit::free_port_range(services.len() as u16);
        let ports: Vec<u16> = (0..replicas)
            .map(|_| anju_testkit::free_port_range(services.len() as u16))
            .collect();
        let mut balancers = Vec::new();
        for (i, _) in services.iter().enumerate() {
            let backends = ports.iter().map(|p| p + i as u16).collect();
            balancers.push(Balancer::start(base + i as u16, backends).await);
        }
        let mut env: Vec<(String, String)> = vec![
            (
                "ANJU_DATABASE_NAME_PREFIX".into(),
                settings.database.name_prefix.clone(),
            ),
            ("ANJU_NATS_PREFIX".into(), settings.nats.prefix.clone()),
            (
                "ANJU_DATABASE_MAX_CONNECTIONS".into(),
                max_connections.to_string(),
            ),
            ("RUST_LOG".into(), "error".into()),
        ];
        for (i, service) in services.iter().enumerate() {
            env.push((
                format!("ANJU_ENDPOINT_{}", service.to_ascii_uppercase()),
                format!("http://127.0.0.1:{}", base + i as u16),
            ));
        }
        let mut this = Replicas {
            env,
            ports,
            running: Vec::new(),
            base,
            _balancers: balancers,
        };
        for group in groups {
            for index in 0..replicas {
                let child = this.spawn(group, index);
                this.running.push(Replica {
                    group,
                    index,
                    child,
                });
            }
        }
        for group in groups {
            for index in 0..replicas {
                this.wait_serving(group, index).await;
            }
        }
        this
    }

    /// Replica `index`'s own ports.
    fn ports_of(&self, index: usize) -> (String, String) {
        ("ANJU_GRPC_BASE_PORT".into(), self.ports[index].to_string())
    }

    fn spawn(&self, group: &str, index: usize) -> Child {
        let mut env = self.env.clone();
        env.push(self.ports_of(index));
        serve(group, &env, Stdio::null())
    }

    /// Waits until replica `index` of `group` serves each of its services on its own ports
    /// (asked there, not through the balancers).
    pub async fn wait_serving(&self, group: &str, index: usize) {
        let env = [self.ports_of(index), ("RUST_LOG".into(), "error".into())];
        wait_serving(group, &env);
    }

    fn replica(&mut self, group: &str, index: usize) -> &mut Replica {
        self.running
            .iter_mut()
            .find(|r| r.group == group && r.index == index)
            .expect("a replica")
    }

    /// SIGKILL: no shutdown hook runs, in-flight work is lost mid-way.
    pub fn kill(&mut self, group: &str, index: usize) {
        let replica = self.replica(group, index);
        let _ = replica.child.kill();
        let _ = replica.child.wait();
    }

    /// SIGTERM, as Kubernetes stops a pod: the process drains and exits.
    pub fn terminate(&mut self, group: &str, index: usize) {
        terminate(&mut self.replica(group, index).child);
    }

    /// Starts a stopped replica again and waits until it serves.
    pub async fn restart(&mut self, group: &str, index: usize) {
        let child = self.spawn(group, index);
        self.replica(group, index).child = child;
        self.wait_serving(group, index).await;
    }
}

impl Drop for Replicas {
    fn drop(&mut self) {
        for replica in &mut self.running {
            let _ = replica.child.kill();
            let _ = replica.child.wait();
        }
    }
}
