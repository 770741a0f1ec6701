//! Test namespaces: a fresh one per test, and a guard that removes it even when the test panics.

use buendel_contract::Namespace;
use buendel_runtime::{db, EventStore};
use uuid::Uuid;

/// A fresh namespace, `t` and 12 hex digits: its own streams, subjects, consumers and database.
///
/// # Panics
/// Never in practice (the name is always valid).
pub fn fresh_namespace() -> Namespace {
    let suffix = Uuid::new_v4().simple().to_string();
    Namespace::new(format!("t{}", &suffix[..12])).expect("a valid namespace")
}

/// Removes a test's namespace when dropped, unless [`NamespaceGuard::disarm`]ed by the test's own
/// cleanup: its streams, and its database where it has one. A test that fails before its cleanup
/// still leaves nothing behind; the removal runs on a thread of its own, because the test's
/// runtime may be unwinding.
pub struct NamespaceGuard {
    nats_url: String,
    namespace: Namespace,
    database_url: Option<String>,
    armed: bool,
}

impl NamespaceGuard {
    /// Guards the streams of `namespace` on the NATS at `nats_url`.
    pub fn new(nats_url: impl Into<String>, namespace: Namespace) -> Self {
        Self {
            nats_url: nats_url.into(),
            namespace,
            database_url: None,
            armed: true,
        }
    }

    /// Guards the namespace's database on `database_url` too.
    pub fn with_database(mut self, database_url: impl Into<String>) -> Self {
        self.database_url = Some(database_url.into());
        self
    }

    /// The test cleaned up itself: nothing to do on drop.
    pub fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for NamespaceGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (nats_url, namespace, database_url) = (
            self.nats_url.clone(),
            self.namespace.clone(),
            self.database_url.clone(),
        );
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(client) =
                    buendel_runtime::connect::nats(&nats_url, "buendel-test-cleanup").await
                {
                    let _ = EventStore::new(client, namespace.clone())
                        .delete_streams()
                        .await;
                }
                if let Some(url) = database_url {
                    if let Ok(options) = db::options(&url, &namespace) {
                        let _ = db::drop_database(&options).await;
                    }
                }
            });
        });
        let _ = cleanup.join();
    }
}
